"""engine.clock: local trigger times -> naive UTC, DST-safe."""
from datetime import date, datetime, time

import pytest

from engine.clock import is_timezone, local_date, local_instant, next_run, occurrence_for


@pytest.mark.parametrize("day, at, tz, expected", [
    # Ordinary days: winter and summer offsets.
    (date(2026, 1, 5), time(9, 0), "Europe/Berlin", datetime(2026, 1, 5, 8, 0)),
    (date(2026, 7, 1), time(9, 0), "Europe/Berlin", datetime(2026, 7, 1, 7, 0)),
    (date(2026, 1, 5), time(9, 0), "America/New_York", datetime(2026, 1, 5, 14, 0)),
    (date(2026, 1, 5), time(9, 0), "UTC", datetime(2026, 1, 5, 9, 0)),
    (date(2026, 1, 5), time(0, 0), "Asia/Tokyo", datetime(2026, 1, 4, 15, 0)),
    (date(2026, 1, 5), time(23, 30), "Asia/Kolkata", datetime(2026, 1, 5, 18, 0)),
])
def test_local_instant_ordinary_days(day, at, tz, expected):
    assert local_instant(day, at, tz) == expected


@pytest.mark.parametrize("day, tz, expected_utc", [
    # 02:30 does not exist: clocks jump 02:00 -> 03:00; we use 03:00 local.
    (date(2026, 3, 29), "Europe/Berlin", datetime(2026, 3, 29, 1, 0)),  # 03:00 CEST
    (date(2026, 3, 8), "America/New_York", datetime(2026, 3, 8, 7, 0)),  # 03:00 EDT
])
def test_spring_forward_gap_moves_to_first_instant_after_the_gap(day, tz, expected_utc):
    assert local_instant(day, time(2, 30), tz) == expected_utc
    # Any time inside the gap lands on the same instant; times around it are untouched.
    assert local_instant(day, time(2, 0), tz) == expected_utc
    assert local_instant(day, time(2, 59), tz) == expected_utc
    assert local_instant(day, time(3, 0), tz) == expected_utc
    assert local_instant(day, time(1, 59), tz) < expected_utc


def test_half_hour_gap_lord_howe():
    # Lord Howe Island jumps 02:00 -> 02:30; 02:15 becomes 02:30 (+11:00).
    assert local_instant(date(2026, 10, 4), time(2, 15), "Australia/Lord_Howe") == datetime(2026, 10, 3, 15, 30)


@pytest.mark.parametrize("day, tz, expected_utc", [
    # 01:30 happens twice: the first occurrence is still on summer time.
    (date(2026, 11, 1), "America/New_York", datetime(2026, 11, 1, 5, 30)),  # 01:30 EDT, not 06:30 (EST)
    (date(2026, 10, 25), "Europe/London", datetime(2026, 10, 25, 0, 30)),  # 01:30 BST, not 01:30 GMT
])
def test_fall_back_ambiguous_time_uses_first_occurrence(day, tz, expected_utc):
    assert local_instant(day, time(1, 30), tz) == expected_utc


def test_fall_back_in_berlin_at_0230_is_first_occurrence():
    # Berlin repeats 02:00-03:00 on 2026-10-25: first 02:30 is CEST (00:30 UTC).
    assert local_instant(date(2026, 10, 25), time(2, 30), "Europe/Berlin") == datetime(2026, 10, 25, 0, 30)


def test_local_date_crosses_midnight():
    assert local_date(datetime(2026, 1, 5, 23, 30), "Europe/Berlin") == date(2026, 1, 6)
    assert local_date(datetime(2026, 1, 5, 3, 0), "America/New_York") == date(2026, 1, 4)


def test_next_run_today_when_generate_time_is_ahead():
    run = next_run(time(8, 0), time(9, 0), "Europe/Berlin", datetime(2026, 1, 5, 6, 0))
    assert run["generate"] == datetime(2026, 1, 5, 7, 0)
    assert run["send"] == datetime(2026, 1, 5, 8, 0)


def test_next_run_tomorrow_once_generate_time_has_passed():
    run = next_run(time(8, 0), time(9, 0), "Europe/Berlin", datetime(2026, 1, 5, 7, 0, 1))
    assert run["generate"] == datetime(2026, 1, 6, 7, 0)
    assert run["send"] == datetime(2026, 1, 6, 8, 0)


def test_next_run_exactly_at_generate_time_is_now():
    run = next_run(time(8, 0), time(9, 0), "UTC", datetime(2026, 1, 5, 8, 0))
    assert run["generate"] == datetime(2026, 1, 5, 8, 0)


def test_next_run_across_spring_forward():
    # Saturday evening in New York: next generate is Sunday 02:30, which does not exist.
    run = next_run(time(2, 30), time(9, 0), "America/New_York", datetime(2026, 3, 8, 1, 0))
    assert run["generate"] == datetime(2026, 3, 8, 7, 0)  # 03:00 EDT
    assert run["send"] == datetime(2026, 3, 8, 13, 0)  # 09:00 EDT


def test_next_run_across_fall_back_day():
    run = next_run(time(1, 30), time(1, 45), "America/New_York", datetime(2026, 11, 1, 0, 0))
    assert run["generate"] == datetime(2026, 11, 1, 5, 30)
    assert run["send"] == datetime(2026, 11, 1, 5, 45)


def test_send_before_generate_stays_defined_on_the_same_local_day():
    # Activation refuses this configuration, but the computation must not fail:
    # the send instant is on the same local day, i.e. before the generate instant.
    run = next_run(time(10, 0), time(9, 0), "UTC", datetime(2026, 1, 5, 8, 0))
    assert run["generate"] == datetime(2026, 1, 5, 10, 0)
    assert run["send"] == datetime(2026, 1, 5, 9, 0)
    assert run["send"] < run["generate"]


def test_occurrence_for_before_and_after_generate_time():
    assert occurrence_for(datetime(2026, 1, 5, 6, 59), time(8, 0), "Europe/Berlin") is None
    key, generate, send = occurrence_for(datetime(2026, 1, 5, 7, 0), time(8, 0), "Europe/Berlin", time(9, 0))
    assert key == "2026-01-05"
    assert generate == datetime(2026, 1, 5, 7, 0)
    assert send == datetime(2026, 1, 5, 8, 0)


def test_occurrence_key_is_the_local_date():
    # 23:30 UTC on the 5th is 00:30 on the 6th in Berlin: a 00:15 generate time is due for the 6th.
    key, generate, send = occurrence_for(datetime(2026, 1, 5, 23, 30), time(0, 15), "Europe/Berlin")
    assert key == "2026-01-06"
    assert generate == datetime(2026, 1, 5, 23, 15)
    assert send == generate  # no send time given


def test_occurrence_on_spring_forward_day():
    assert occurrence_for(datetime(2026, 3, 29, 0, 59), time(2, 30), "Europe/Berlin") is None
    key, generate, _ = occurrence_for(datetime(2026, 3, 29, 1, 0), time(2, 30), "Europe/Berlin")
    assert (key, generate) == ("2026-03-29", datetime(2026, 3, 29, 1, 0))


def test_unknown_timezone_is_a_value_error():
    assert not is_timezone("Mars/Olympus")
    assert not is_timezone("")
    assert not is_timezone("../../etc/passwd")
    assert is_timezone("Europe/Berlin")
    with pytest.raises(ValueError, match="unknown timezone"):
        local_instant(date(2026, 1, 5), time(9), "Mars/Olympus")
    with pytest.raises(ValueError):
        next_run(time(8), time(9), "../../etc/passwd", datetime(2026, 1, 5))
