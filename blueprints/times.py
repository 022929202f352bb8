"""Showing times: the viewer's time zone (their staff setting, else the browser's
`tz` cookie, else UTC), one format for every time in the product, each labelled with
its zone, and a trigger's send times in its own zone beside the viewer's."""
import functools
from datetime import date, datetime, time, timezone
from urllib.parse import unquote
from zoneinfo import ZoneInfo, available_timezones

from flask import has_request_context, request
from flask_login import current_user
from markupsafe import Markup

from engine.clock import is_timezone

# Every time the product shows is written one way (the shared filters below; templates
# only call them): "03 Dec 2026, 14:05 Berlin" -- day, month, year, 24-hour clock, then the
# zone named by its place (the last part of the IANA name, "New York", "UTC"), so nobody has
# to guess which zone a time is in. A day heading is "Thu 03 Dec 2026".
DATE_FORMAT = "%d %b %Y"
DAY_FORMAT = "%a %d %b %Y"
CLOCK_FORMAT = "%H:%M"
CLOCK_SECONDS_FORMAT = "%H:%M:%S"
# A cookie longer than any IANA name (the longest is 32 characters) is junk.
_MAX_ZONE_COOKIE = 64


def zone_from_cookie(raw: str | None) -> str | None:
    """The IANA zone name static/app.js stored in the `tz` cookie (URL-encoded there:
    "Europe%2FBerlin"), or None when it is absent or not a zone (a hostile or mangled
    cookie must not open files or fail the page)."""
    if not raw or len(raw) > _MAX_ZONE_COOKIE * 3:
        return None
    name = unquote(raw.strip().strip('"'))
    return name if len(name) <= _MAX_ZONE_COOKIE and is_timezone(name) else None


def browser_zone() -> str | None:
    """The browser's zone from its cookie (None outside a request or when unknown)."""
    if not has_request_context():
        return None
    return zone_from_cookie(request.cookies.get("tz"))


def viewer_zone_name() -> str:
    """The viewer's zone: their own setting (account page), else the browser's, else UTC.
    Looked up once per request: a long list formats hundreds of times."""
    if has_request_context():  # kept on the request (`g` can outlive one, as in tests)
        cached = getattr(request, "_nudge_viewer_zone", None)
        if cached is None:
            cached = request._nudge_viewer_zone = _lookup_viewer_zone()
        return cached
    return _lookup_viewer_zone()


def _lookup_viewer_zone() -> str:
    if has_request_context() and current_user and getattr(current_user, "is_authenticated", False):
        own = current_user.timezone
        if own and is_timezone(own):
            return own
    return browser_zone() or "UTC"


def viewer_tz() -> ZoneInfo:
    return ZoneInfo(viewer_zone_name())


def zone_label(name: str | None) -> str:
    """A zone as pages name it: "Europe/Berlin" -> "Berlin", "America/New_York" -> "New York",
    "America/Argentina/Buenos_Aires" -> "Buenos Aires", "UTC" -> "UTC"."""
    name = name or "UTC"
    if name.startswith("Etc/") and is_timezone(name):  # Etc/GMT+5 is five hours BEHIND UTC
        offset = datetime.now(timezone.utc).astimezone(ZoneInfo(name)).utcoffset()
        return "UTC" if not offset else _offset_text(offset)
    return name.rsplit("/", 1)[-1].replace("_", " ")


def to_local(value: datetime | None, tz: str | None = None) -> datetime | None:
    """A stored (naive UTC) instant in `tz`, by default the viewer's zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(ZoneInfo(tz) if tz and is_timezone(tz) else viewer_tz())


def _zone_of(tz: str | None) -> str:
    return tz if tz and is_timezone(tz) else viewer_zone_name()


def _fmt_dt(value, tz: str | None = None, seconds: bool = False):
    """"03 Dec 2026, 14:05 Berlin": the instant in `tz` (default: the viewer's zone)."""
    if value is None:
        return "—"
    name = _zone_of(tz)
    local = to_local(value, name)
    clock = CLOCK_SECONDS_FORMAT if seconds else CLOCK_FORMAT
    return f"{local.strftime(DATE_FORMAT)}, {local.strftime(clock)} {zone_label(name)}"


def _fmt_clock(value, tz: str | None = None, seconds: bool = False):
    """"14:05 Berlin": the time of day only (where the date is shown beside it)."""
    if value is None:
        return "—"
    name = _zone_of(tz)
    clock = CLOCK_SECONDS_FORMAT if seconds else CLOCK_FORMAT
    if isinstance(value, time):  # a wall-clock setting such as a trigger's send time
        return f"{value.strftime(clock)} {zone_label(tz or 'UTC')}"
    return f"{to_local(value, name).strftime(clock)} {zone_label(name)}"


def _trigger_dt_parts(value, tz: str | None) -> tuple[str, str | None]:
    """A trigger's send (or generate) instant in the trigger's zone and, when the viewer's
    clock reads differently, in theirs: ("03 Dec 2026, 18:20 Berlin", "12:20 your time");
    the viewer's date is repeated only when it is another day there."""
    if value is None:
        return "—", None
    trigger_zone = tz if tz and is_timezone(tz) else "UTC"
    there = to_local(value, trigger_zone)
    mine = to_local(value, viewer_zone_name())
    yours = None
    if mine.replace(tzinfo=None) != there.replace(tzinfo=None):
        if mine.date() != there.date():
            yours = f"{mine.strftime(DATE_FORMAT)}, {mine.strftime(CLOCK_FORMAT)} your time"
        else:
            yours = f"{mine.strftime(CLOCK_FORMAT)} your time"
    return _fmt_dt(value, trigger_zone), yours


def _fmt_trigger_dt(value, tz: str | None) -> str:
    """The same in one line, "03 Dec 2026, 18:20 Berlin · 12:20 your time" (tooltips,
    sentences; pages show it with the send_time filter)."""
    main, yours = _trigger_dt_parts(value, tz)
    return f"{main} · {yours}" if yours else main


def _wrappable(text: str) -> Markup:
    """"03 Dec 2026, 14:05 Berlin" that a narrow table cell may break after the comma
    only (app.css .when), never inside the date or the clock."""
    date_part, sep, rest = text.partition(", ")
    if not sep:
        return Markup('<span class="when-part">%s</span>') % text
    return Markup('<span class="when-part">%s,</span> <span class="when-part">%s</span>') % (date_part, rest)


def _fmt_dt_cell(value, tz: str | None = None) -> Markup:
    """The dt filter for a table cell: the same text, allowed to wrap after the date."""
    if value is None:
        return Markup("—")
    return Markup('<span class="when">%s</span>') % _wrappable(_fmt_dt(value, tz))


def _fmt_send_time(value, tz: str | None) -> Markup:
    """The same for a page: the viewer's clock on a line of its own under the trigger's
    (app.css .send-time), read out as one sentence. Markup's % escapes both parts."""
    main, yours = _trigger_dt_parts(value, tz)
    if value is None:
        return Markup("—")
    if not yours:
        return Markup('<span class="when send-time">%s</span>') % _wrappable(main)
    return Markup('<span class="when send-time">%s<span class="visually-hidden"> · </span>'
                  '<span class="your-time">%s</span></span>') % (_wrappable(main), yours)


def _offset_text(offset) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@functools.lru_cache(maxsize=2)
def _zone_options_at(hour: datetime) -> tuple[tuple[str, str], ...]:
    names = sorted(available_timezones())
    return tuple((name, f"{zone_label(name)} · {_offset_text(hour.astimezone(ZoneInfo(name)).utcoffset())}")
                 for name in names)


def zone_options() -> tuple[tuple[str, str], ...]:
    """Every IANA zone for the time-zone pickers: (name, "Berlin · UTC+01:00"), the offset
    as of this hour (recomputed hourly, so a DST change shows)."""
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return _zone_options_at(hour)


def _fmt_date(value):
    """"03 Dec 2026" (a datetime counts on the viewer's calendar)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = to_local(value)
    return value.strftime(DATE_FORMAT)


def _fmt_day(value):
    """"Thu 03 Dec 2026": a day as a heading or a report row (also from "2026-12-03", a
    schedule occurrence's key; other text is shown as it is)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = to_local(value)
    return value.strftime(DAY_FORMAT)


def _fmt_iso(value) -> str:
    """An instant for machines (<time datetime>, data-countdown): ISO 8601 in UTC."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat() + "Z"


# The filters under the names views call them by, for a sentence worded in Python
# ("held until 14:05:09 Berlin").
format_datetime, format_date, time_of_day = _fmt_dt, _fmt_date, _fmt_clock


def _fmt_ago(value):
    if value is None:
        return "never"
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def register_time_filters(app):
    app.add_template_filter(_fmt_dt, "dt")
    app.add_template_filter(_fmt_date, "date")
    app.add_template_filter(_fmt_day, "day")
    app.add_template_filter(_fmt_clock, "clock")
    app.add_template_filter(_fmt_trigger_dt, "trigger_dt")
    app.add_template_filter(_fmt_send_time, "send_time")
    app.add_template_filter(_fmt_dt_cell, "dt_cell")
    app.add_template_filter(zone_label, "zone")
    app.add_template_filter(_fmt_iso, "iso")
    app.add_template_filter(_fmt_ago, "ago")
    app.add_template_global(zone_options, "zone_options")
    app.add_template_global(browser_zone, "browser_zone")
    app.add_template_global(lambda: datetime.now(timezone.utc).replace(tzinfo=None), "now_utc")
