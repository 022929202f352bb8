"""The report range picker's parsing (blueprints/reports/ranges.py): presets, custom ranges,
and a sentence for every bad input."""
from datetime import date

import pytest

from blueprints.reports.ranges import parse_range

TODAY = date(2026, 12, 3)


def test_presets_and_the_default():
    assert (parse_range({}, TODAY).start, parse_range({}, TODAY).days) == (date(2026, 11, 4), 30)
    seven = parse_range({"days": "7"}, TODAY)
    assert (seven.start, seven.end, seven.length, seven.error) == (date(2026, 11, 27), TODAY, 7, None)
    assert parse_range({"days": "90"}, TODAY).length == 90
    assert parse_range({"days": "7"}, TODAY).args() == {"days": 7}


def test_a_custom_range_is_kept_and_its_end_clipped_to_today():
    r = parse_range({"start": "2026-02-28", "end": "2026-03-01"}, TODAY)
    assert (r.start, r.end, r.custom, r.error) == (date(2026, 2, 28), date(2026, 3, 1), True, None)
    assert r.args() == {"start": "2026-02-28", "end": "2026-03-01"}
    future = parse_range({"start": "2026-12-01", "end": "2027-01-31"}, TODAY)
    assert (future.end, future.error) == (TODAY, None)
    assert parse_range({"start": "2025-12-03", "end": "2026-12-03"}, TODAY).length == 366


@pytest.mark.parametrize("args,field,words", [
    ({"days": "14"}, "days", "Choose 7, 30 or 90 days"),
    ({"start": "2026-13-01", "end": "2026-12-01"}, "start", "“2026-13-01” is not a date"),
    ({"start": "2026-1-1", "end": "2026-12-01"}, "start", "use YYYY-MM-DD"),
    ({"start": "2026-12-01"}, "end", "the To date is missing"),
    ({"start": "2026-12-02", "end": "2026-12-01"}, "start", "The From date is after the To date"),
    ({"start": "2026-12-04", "end": "2026-12-05"}, "start", "starts in the future"),
    ({"start": "2024-01-01", "end": "2026-01-01"}, "end", "at most 366 days"),
    ({"start": "1999-12-31", "end": "2000-01-02"}, "start", "before 2000"),
])
def test_bad_input_says_what_to_fix_and_falls_back_to_30_days(args, field, words):
    r = parse_range(args, TODAY)
    assert words in r.error and r.field == field
    assert (r.start, r.end, r.days) == (date(2026, 11, 4), TODAY, 30)
