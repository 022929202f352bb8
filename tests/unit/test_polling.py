"""tests/polling.py: the shared wait-with-a-deadline helper."""
import pytest

from tests.polling import wait_until


def test_wait_until_returns_the_first_truthy_answer():
    answers = iter([None, [], ["sent"]])
    assert wait_until(lambda: next(answers), interval=0) == ["sent"]


def test_wait_until_gives_up_at_the_deadline_saying_what_it_awaited():
    calls = []
    with pytest.raises(AssertionError, match="still waiting after 0s for the sink"):
        wait_until(lambda: calls.append(1), timeout=0, what="the sink")
    assert calls == [1]  # asked once before giving up
