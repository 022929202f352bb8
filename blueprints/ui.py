"""Shared view helpers: template filters, navigation, htmx-aware rendering, paging."""
import json

from flask import current_app, render_template, request
from flask_sqlalchemy.pagination import Pagination
from markupsafe import Markup

from blueprints.times import register_time_filters, viewer_zone_name
from extensions import db

# (endpoint, label, icon)
NAV_ITEMS = (
    ("dashboard.index", "Home", "home"),
    ("triggers.index", "Triggers", "zap"),
    ("personas.index", "Personas", "users"),
    ("lists.index", "Lists", "list"),
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
    register_time_filters(app)
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
    "list": _svg('<path d="M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01"/>'),
    "activity": _svg('<path d="M22 12h-4l-3 9L9 3l-3 9H2"/>'),
}
