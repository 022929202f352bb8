"""Waiting in tests: poll a condition until a deadline, never sleep a fixed time
(a fixed sleep is too short on a busy machine and wasted on an idle one)."""
import time


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str | None = None):
    """Call `predicate` until it returns something truthy, and return that. After
    `timeout` seconds raise AssertionError naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"still waiting after {timeout}s for {what or predicate.__name__}")
        time.sleep(interval)
