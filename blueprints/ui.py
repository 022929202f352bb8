"""Shared view helpers: template filters, navigation, htmx-aware rendering, paging."""
import functools
import json
from datetime import date, datetime, time, timezone
from urllib.parse import unquote
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app, has_request_context, render_template, request
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from markupsafe import Markup

from engine.clock import is_timezone
from extensions import db

# (endpoint, label, icon)
NAV_ITEMS = (
    ("dashboard.index", "Home", "home"),
    ("triggers.index", "Triggers", "zap"),
    ("personas.index", "Personas", "users"),
    ("email_templates.index", "Templates", "file"),
    ("outbox.index", "Outbox", "inbox"),
    ("accounts.index", "Accounts", "building"),
    ("accounts.contacts", "Contacts", "user"),
    ("reports.index", "Reports", "chart"),
    ("settings.index", "Settings", "gear"),
)


def render_page(template: str, fragment: str | None = None, **context):
    """Full page on a normal request, just the fragment on an htmx request."""
    if fragment and request.htmx and not request.htmx.boosted:
        return render_template(fragment, **context)
    return render_template(template, **context)


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


def _legacy_format(arg) -> bool:
    """A strftime pattern passed the old way (|dt('%H:%M')): the filters keep one format
    and only read what the pattern asked for (seconds, the clock alone, a weekday)."""
    return isinstance(arg, str) and "%" in arg


def _fmt_dt(value, tz: str | None = None, seconds: bool = False):
    """"03 Dec 2026, 14:05 Berlin": the instant in `tz` (default: the viewer's zone)."""
    if value is None:
        return "—"
    if _legacy_format(tz):
        pattern, tz = tz, None
        seconds = seconds or "%S" in pattern
        if not any(code in pattern for code in ("%d", "%b", "%B", "%Y", "%a", "%A")):
            return _fmt_clock(value, seconds=seconds)
    name = _zone_of(tz)
    local = to_local(value, name)
    clock = CLOCK_SECONDS_FORMAT if seconds else CLOCK_FORMAT
    return f"{local.strftime(DATE_FORMAT)}, {local.strftime(clock)} {zone_label(name)}"


def _fmt_clock(value, tz: str | None = None, seconds: bool = False):
    """"14:05 Berlin": the time of day only (where the date is shown beside it)."""
    if value is None:
        return "—"
    if _legacy_format(tz):
        seconds, tz = seconds or "%S" in tz, None
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


def _fmt_date(value, legacy_format: str | None = None):
    """"03 Dec 2026" (a datetime counts on the viewer's calendar). A pattern passed the
    old way gives this format too, or the day format when it asked for a weekday."""
    if value is None:
        return "—"
    if _legacy_format(legacy_format) and ("%a" in legacy_format or "%A" in legacy_format):
        return _fmt_day(value)
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


def _fmt_number(value, digits=0):
    if value is None or value == "":
        return "—"
    return f"{float(value):,.{digits}f}"


def _fmt_money(value):
    if value is None:
        return "—"
    return f"${float(value):,.0f}"


def _json_text(value) -> str:
    """JSON to show to people (a tooltip, a <code> cell): a plain str, so autoescaping
    quotes it for the attribute or text it lands in. (`|tojson` is Markup made for
    <script> and single-quoted attributes: in a double-quoted attribute its `"` ends the
    attribute, and it shows `<` as \\u003c.)"""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: show it escaped rather than fail the page
        text = json.dumps(value, sort_keys=True, default=str)
    return text


def _fmt_pct(value, digits=1):
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def count_noun(n, singular: str, plural: str | None = None) -> str:
    """A count with its noun agreeing: "1 email", "2 emails", "1 person", "3 people"
    (thousands separated). In templates: {{ n|plural('person', 'people') }}."""
    try:
        n = int(n or 0)
    except (TypeError, ValueError):  # not a count (e.g. text from a hand-written rule): shown as is
        return f"{n} {plural or singular + 's'}"
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


# Keeps OFFSET a 64-bit integer (SQLite raises OverflowError beyond that).
MAX_PAGE = 10**9


def page_number(args=None, name: str = "page") -> int:
    """The page number in the query string (`name`); junk or below 1 means the first page."""
    args = request.args if args is None else args
    return min(max(args.get(name, 1, type=int) or 1, 1), MAX_PAGE)


def page_args(default_per_page: int = 25, max_per_page: int = 200) -> tuple[int, int]:
    """(page, per_page) from the query string, clamped to sane values."""
    per_page = request.args.get("per_page", default_per_page, type=int) or default_per_page
    return page_number(), min(max(per_page, 1), max_per_page)


def paginate(select, page: int, per_page: int) -> Pagination:
    """db.paginate(select), except that a page past the end shows the last page
    (an old link or a shrunken list still shows rows)."""
    pagination = db.paginate(select, page=page, per_page=per_page, error_out=False)
    if not pagination.items and page > pagination.pages > 0:
        pagination = db.paginate(select, page=pagination.pages, per_page=per_page, error_out=False)
    return pagination


def register_ui(app):
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
    app.add_template_filter(_fmt_number, "num")
    app.add_template_filter(_fmt_money, "money")
    app.add_template_filter(_fmt_pct, "pct")
    app.add_template_filter(_json_text, "json_text")
    app.add_template_filter(count_noun, "plural")

    @app.after_request
    def vary_on_htmx(response):
        # The same URL returns a full page or an htmx fragment: caches must keep them apart
        # (otherwise the back button can show a bare fragment).
        response.vary.add("HX-Request")
        return response

    @app.context_processor
    def nav_context():
        items = [{"endpoint": e, "label": label, "icon": icon} for e, label, icon in NAV_ITEMS]
        return {"nav_items": items, "pending_approval_count": _pending_count,
                "viewer_zone": viewer_zone_name}

    def _pending_count():
        from engine.outbox import awaiting_approval_count

        return awaiting_approval_count()

    @app.template_global()
    def has_endpoint(name: str) -> bool:
        # Left from when areas landed one by one; the personas, triggers and reports
        # templates still ask it.
        return name in current_app.view_functions

    app.add_template_global(zone_options, "zone_options")
    app.add_template_global(browser_zone, "browser_zone")
    app.add_template_global(lambda: datetime.now(timezone.utc).replace(tzinfo=None), "now_utc")

    @app.template_global()
    def icon(name: str) -> Markup:
        return Markup(ICONS.get(name, ""))


def _svg(body: str) -> str:
    return (
        '<svg class="icon" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">'
        f"{body}</svg>"
    )


# Feather-style line icons drawn inline so nothing is fetched from elsewhere.
ICONS = {
    "home": _svg('<path d="M3 10l9-7 9 7v10a2 2 0 0 1-2 2h-4v-7H9v7H5a2 2 0 0 1-2-2z"/>'),
    "zap": _svg('<path d="M13 2L3 14h9l-1 8 10-12h-9l1-8z"/>'),
    "users": _svg('<circle cx="9" cy="7" r="4"/><path d="M17 11a3 3 0 1 0 0-6M1 21v-2a4 4 0 0 1 4-4h8a4 4 0 0 1 4 4v2M23 21v-2a4 4 0 0 0-3-3.9"/>'),
    "file": _svg('<path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z"/><path d="M14 2v6h6M8 13h8M8 17h5"/>'),
    "inbox": _svg('<path d="M22 12h-6l-2 3h-4l-2-3H2"/><path d="M5.5 5.1L2 12v6a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-6l-3.5-6.9A2 2 0 0 0 16.8 4H7.2a2 2 0 0 0-1.7 1.1z"/>'),
    "building": _svg('<rect x="4" y="2" width="16" height="20" rx="2"/><path d="M9 22v-4h6v4M8 6h.01M16 6h.01M12 6h.01M12 10h.01M12 14h.01M16 10h.01M16 14h.01M8 10h.01M8 14h.01"/>'),
    "user": _svg('<circle cx="12" cy="7" r="4"/><path d="M20 21v-2a4 4 0 0 0-4-4H8a4 4 0 0 0-4 4v2"/>'),
    "chart": _svg('<path d="M3 3v18h18"/><path d="M7 14l4-4 4 4 5-6"/>'),
    "gear": _svg('<circle cx="12" cy="12" r="3"/><path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"/>'),
    "search": _svg('<circle cx="11" cy="11" r="8"/><path d="M21 21l-4.3-4.3"/>'),
    "logout": _svg('<path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9"/>'),
    "plus": _svg('<path d="M12 5v14M5 12h14"/>'),
    "check": _svg('<path d="M20 6L9 17l-5-5"/>'),
    "x": _svg('<path d="M18 6L6 18M6 6l12 12"/>'),
    "mail": _svg('<rect x="2" y="4" width="20" height="16" rx="2"/><path d="M22 6l-10 7L2 6"/>'),
    "key": _svg('<circle cx="7.5" cy="15.5" r="5.5"/><path d="M21 2l-9.6 9.6M15.5 7.5l3 3L22 7l-3-3"/>'),
    "upload": _svg('<path d="M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M17 8l-5-5-5 5M12 3v12"/>'),
    "download": _svg('<path d="M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M7 10l5 5 5-5M12 15V3"/>'),
    "clock": _svg('<circle cx="12" cy="12" r="10"/><path d="M12 6v6l4 2"/>'),
    "alert": _svg('<path d="M10.3 3.9L1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0zM12 9v4M12 17h.01"/>'),
    "copy": _svg('<rect x="9" y="9" width="13" height="13" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>'),
    "trash": _svg('<path d="M3 6h18M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6M10 11v6M14 11v6M9 6V4a1 1 0 0 1 1-1h4a1 1 0 0 1 1 1v2"/>'),
    "edit": _svg('<path d="M12 20h9M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z"/>'),
    "activity": _svg('<path d="M22 12h-4l-3 9L9 3l-3 9H2"/>'),
}
