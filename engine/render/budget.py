"""What one render may spend, and measuring values without building them (engine.render).

One `Budget` per render (subject + html + text for one recipient, or the save-time trial
render), made current with `budget.active()`; the sandbox's hooks (sandbox.py) spend from
`current()`: steps for calls, lookups, loop iterations and work on big values; bytes for
what the template builds (estimated BEFORE building where an operation could amplify,
e.g. `seq * n`, `a + b`, |join); thread CPU time as a backstop for work between two
hooks (a comparison of two long texts in a loop). Exceeding any raises SecurityError.
"""
import time
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import islice

from jinja2.exceptions import SecurityError

MAX_OUTPUT = 1_000_000  # characters (or bytes) of one text built or rendered
MAX_ITEMS = 10_000  # list/tuple/range length built inside a template
MAX_STEPS = 200_000  # operations per render (calls, lookups, loop iterations, filter work)
MAX_MEMORY = 32 * 2**20  # estimated bytes one render may build, in total
MAX_CPU_SECONDS = 1.0  # thread CPU time per render (a backstop: the counts above come first)
ITEMS_PER_STEP = 64  # work on a sequence costs one step per this many items/characters
MAX_INT_BITS = 256


def too_big(what: str):
    raise SecurityError(f"{what} is too large for an email template")


class Budget:
    """What one render may spend. Not shared between threads or renders: one per render."""

    __slots__ = ("steps", "memory", "_cpu_left", "_deadline", "_next_clock", "exhausted")
    CLOCK_EVERY = 512  # steps between two looks at the CPU clock

    def __init__(self, steps: int = MAX_STEPS, memory: int = MAX_MEMORY,
                 cpu_seconds: float = MAX_CPU_SECONDS):
        self.steps, self.memory, self._cpu_left = steps, memory, cpu_seconds
        self._deadline = time.thread_time() + cpu_seconds
        self._next_clock = steps - self.CLOCK_EVERY
        self.exhausted = False

    def _fail(self, message: str):
        self.exhausted = True
        raise SecurityError(message)

    def spend(self, n: int = 1):
        self.steps -= n
        if self.steps < 0:
            self._fail("the template runs too many loop iterations or calls")
        if self.steps <= self._next_clock:
            self._next_clock = self.steps - self.CLOCK_EVERY
            if time.thread_time() > self._deadline:
                self._fail("the template takes too long to render")

    def allocate(self, nbytes: int):
        self.memory -= nbytes
        if self.memory < 0:
            self._fail("the template builds too much data (memory limit)")

    def charge(self, value):
        """`value` was just built: check its size and count it against the memory budget."""
        self.allocate(nbytes(check_size(value)))
        return value

    @contextmanager
    def active(self):
        """Renders inside this block spend from this budget; CPU time counts only in here
        (so compiling between two parts of one email is not charged)."""
        self._deadline = time.thread_time() + self._cpu_left
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)
            self._cpu_left = self._deadline - time.thread_time()


_CURRENT: ContextVar[Budget | None] = ContextVar("nudge_render_budget", default=None)


def current() -> Budget:
    """The budget of the render running in this thread (a fresh one outside a render)."""
    return _CURRENT.get() or Budget()


def nbytes(value) -> int:
    """Roughly the bytes a freshly built value holds (its items are counted when built)."""
    if isinstance(value, str):
        return len(value) if value.isascii() else 4 * len(value)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return 8 * len(value)
    if isinstance(value, dict):
        return 64 * len(value)
    if isinstance(value, int):
        return value.bit_length() // 8
    return 0


def length(value) -> int:
    """Items/characters in a sized value (0 for others): what work on it costs."""
    if isinstance(value, (str, bytes, bytearray, list, tuple, dict, set, frozenset, range)):
        return len(value)
    return 0


def check_size(value):
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        too_big("a number")
    if isinstance(value, (str, bytes, bytearray)) and len(value) > MAX_OUTPUT:
        too_big("a text")
    if isinstance(value, (list, tuple)) and len(value) > MAX_ITEMS:
        too_big("a list")
    return value


def text_size(value, limit: int = MAX_OUTPUT) -> int:
    """About how many characters str(value) has, counting no further than `limit` + 1:
    nested lists/dicts are walked (a list repeated n times inside another counts n times,
    as str() writes it n times) without building the text."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, (list, tuple, dict, set, frozenset, bytes, bytearray)):
        return 0 if value is None else 24  # numbers, dates, undefined: short
    total, visited, stack = 0, 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        visited += 1
        if isinstance(item, str):
            total += len(item) + 4  # quotes and ", "
        elif isinstance(item, (bytes, bytearray)):
            total += 4 * len(item) + 5
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            stack.extend(islice(item.keys(), limit))
            stack.extend(islice(item.values(), limit))
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + len(item)
            stack.extend(islice(item, limit))
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 3
        else:
            total += 24
    current().spend(visited // ITEMS_PER_STEP)
    return total


def check_text(value, what: str = "a text"):
    """Refuse, before str() builds it, a text over MAX_OUTPUT; charge what it will build."""
    size = text_size(value)
    if size > MAX_OUTPUT:
        too_big(what)
    if not isinstance(value, str):
        current().allocate(size)
    return value


def work(*values):
    """Spend for work proportional to the size of these values."""
    current().spend(1 + sum(length(v) for v in values) // ITEMS_PER_STEP)


def check_repeat(seq, times):
    """seq * times, refused before it is built when too large."""
    if isinstance(seq, (str, bytes, bytearray, list, tuple)) and isinstance(times, int):
        limit = MAX_OUTPUT if isinstance(seq, (str, bytes, bytearray)) else MAX_ITEMS
        if len(seq) * times > limit:
            too_big("a repeated text or list")
        current().spend(1 + len(seq) * max(times, 0) // ITEMS_PER_STEP)


def checked_add(left, right):
    """left + right, with sequence sizes checked before building (the `+` operator and |sum)."""
    sequences = (str, bytes, bytearray, list, tuple)
    if isinstance(left, sequences) and isinstance(right, sequences):  # Markup + str too
        size = len(left) + len(right)
        if size > (MAX_ITEMS if isinstance(left, (list, tuple)) else MAX_OUTPUT):
            too_big("a text or list built by adding")
        current().spend(1 + size // ITEMS_PER_STEP)
    return current().charge(left + right)


def budgeted_iter(iterable, limit: int | None = None):
    """Iterate, spending one step per item (and refusing more than `limit` items)."""
    budget = current()
    for n, item in enumerate(iterable, 1):
        budget.spend()
        if limit is not None and n > limit:
            too_big("a list")
        yield item
