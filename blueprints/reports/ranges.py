"""The report range picker's input: 7 / 30 / 90 days, or a custom From–To range.

Bad input never fails the page: it is refused with a sentence saying what to
fix, and the page shows the default range instead.
"""
from dataclasses import dataclass
from datetime import date, timedelta

RANGES = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)


@dataclass
class ReportRange:
    start: date
    end: date
    days: int | None  # 7 / 30 / 90, or None for a custom range
    error: str | None = None
    field: str | None = None  # "start" / "end" / "days": the input the error is about
    typed_start: str = ""
    typed_end: str = ""

    @property
    def custom(self) -> bool:
        return self.days is None

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1

    def args(self) -> dict:
        """The query arguments that select this range again (links, CSV, drill-downs)."""
        if self.custom:
            return {"start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"days": self.days}


def _last(days: int, today: date, **kw) -> ReportRange:
    return ReportRange(today - timedelta(days=days - 1), today, days, **kw)


def _date(text: str):
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if len(text.strip()) == 10 else None


def parse_range(args, today: date) -> ReportRange:
    """The range asked for in `args` (days=, or start= and end=) up to `today`."""
    start_text, end_text = (args.get("start") or "").strip(), (args.get("end") or "").strip()
    if not start_text and not end_text:
        raw = (args.get("days") or "").strip()
        if not raw:
            return _last(DEFAULT_DAYS, today)
        if raw.isdigit() and int(raw) in RANGES:
            return _last(int(raw), today)
        return _last(DEFAULT_DAYS, today, field="days",
                     error=f"Choose 7, 30 or 90 days, or enter a custom range; showing the last {DEFAULT_DAYS} days.")

    def refuse(message, field):
        return _last(DEFAULT_DAYS, today, error=f"{message} Showing the last {DEFAULT_DAYS} days instead.",
                     field=field, typed_start=start_text[:40], typed_end=end_text[:40])

    if not start_text or not end_text:
        missing = "From" if not start_text else "To"
        return refuse(f"Enter both dates of the custom range: the {missing} date is missing.",
                      "start" if not start_text else "end")
    start, end = _date(start_text), _date(end_text)
    for value, text, name, field in ((start, start_text, "From", "start"), (end, end_text, "To", "end")):
        if value is None:
            return refuse(f"The {name} date “{text[:40]}” is not a date: use YYYY-MM-DD, e.g. {today.isoformat()}.", field)
        if value < EARLIEST:
            return refuse(f"The {name} date is before {EARLIEST.year}: reports do not go back that far.", field)
    if start > end:
        return refuse("The From date is after the To date: pick a From date on or before the To date.", "start")
    if start > today:
        return refuse("The range starts in the future: pick a From date on or before today.", "start")
    end = min(end, today)
    if (end - start).days + 1 > MAX_DAYS:
        return refuse(f"A custom range can cover at most {MAX_DAYS} days.", "end")
    return ReportRange(start, end, None, typed_start=start_text, typed_end=end_text)
