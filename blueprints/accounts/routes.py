"""Accounts and contacts: searchable lists and detail pages (read-only views of ingested data)."""
import json
from datetime import timedelta

from flask import abort, current_app, render_template, request
from markupsafe import Markup

from blueprints.accounts import queries
from blueprints.accounts.panels import (
    ACCOUNT_TABS, CONTACT_SECTIONS, account_tab, contact_section, ordered,
)
from blueprints.ui import page_args, page_number, render_page
from extensions import db
from models import Account, Contact
from models.base import utcnow
from blueprints.accounts import bp


YES_NO = {"yes": True, "no": False}
TIMELINE_PER_PAGE = 30


def _choice(name: str, allowed, default: str = "") -> str:
    """A query-string value if it is one of the allowed ones; anything else means the default."""
    value = request.args.get(name, "").strip()
    return value if value in allowed else default


def _search_text() -> str:
    return " ".join(request.args.get("q", "").split())[:200]


def _fragment(name: str) -> str | None:
    # htmx restoring history after a cache miss wants the whole page, not a fragment.
    return None if request.htmx.history_restore_request else name


def _htmx_target(target_id: str) -> bool:
    return bool(request.htmx) and request.htmx.target == target_id


@bp.after_request
def _vary_on_htmx_target(response):
    # The account page answers an htmx GET aimed at its tabs with just the tabs: caches must
    # keep that apart too (blueprints/ui.py adds Vary: HX-Request to every response).
    response.vary.add("HX-Target")
    return response


@bp.app_template_filter("props_summary")
def props_summary(props, limit: int = 3) -> str:
    """`key: value · key: value` for an event's properties, short enough for a table cell."""
    if not props:
        return ""
    if not isinstance(props, dict):
        return str(props)[:80]
    parts = []
    # Sorted keys: PostgreSQL's JSONB does not keep the order the event was sent in.
    for key, value in sorted(props.items())[:limit]:
        shown = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
        shown = str(shown)
        parts.append(f"{key}: {shown[:40] + '…' if len(shown) > 40 else shown}")
    if len(props) > limit:
        parts.append(f"+{len(props) - limit} more")
    return " · ".join(parts)


@bp.route("/accounts")
def index():
    q = _search_text()
    plans = queries.distinct_values(Account.plan, queries.PLAN_ORDER)
    filters = {"q": q, "status": _choice("status", Account.STATUSES), "plan": _choice("plan", plans)}
    sort = _choice("sort", queries.ACCOUNT_SORTS, "name")
    direction = _choice("dir", ("asc", "desc"), "asc")
    page, per_page = page_args(25)
    rows, pagination = queries.search_accounts(
        q=q, status=filters["status"], plan=filters["plan"], sort=sort, direction=direction,
        page=page, per_page=per_page,
    )
    filter_args = {k: v for k, v in filters.items() if v}
    return render_page(
        "accounts/index.html", _fragment("accounts/_accounts_results.html"),
        rows=rows, pagination=pagination, filters=filters, plans=plans,
        statuses=Account.STATUSES, sort=sort, direction=direction, filter_args=filter_args,
        page_args={**filter_args, "sort": sort, "dir": direction},
    )


@bp.route("/accounts/<int:account_id>")
def detail(account_id: int):
    account = db.session.get(Account, account_id) or abort(404)
    tabs = ordered(ACCOUNT_TABS)
    panel = ACCOUNT_TABS.get(request.args.get("tab") or tabs[0].key) or abort(404)
    now = utcnow()
    context = {
        **panel.load(account, request.args),
        "account": account, "panel": panel, "now": now, "tabs": tabs,
        "tab_counts": {t.key: t.count(account) for t in tabs if t.count},
    }
    if _htmx_target("account-tabs"):
        return render_template("accounts/_account_tabs.html", **context)
    summary = queries.account_summary(account.id, now, current_app.config["INACTIVE_AFTER_DAYS"])
    return render_template("accounts/detail.html", summary=summary, **context)


@account_tab("contacts", "Contacts", "accounts/_tab_contacts.html", order=10,
             count=lambda account: queries.count_contacts(account.id))
def _contacts_tab(account, args):
    page, per_page = page_args(25)
    return {"contacts": queries.search_contacts(account_id=account.id, page=page, per_page=per_page)}


@account_tab("events", "Recent events", "accounts/_tab_events.html", order=20)
def _events_tab(account, args):
    return {"events": queries.recent_account_events(account.id), "limit": queries.RECENT_EVENTS}


@bp.route("/contacts")
def contacts():
    q = _search_text()
    roles = queries.distinct_values(Contact.role, queries.ROLE_ORDER)
    filters = {
        "q": q, "role": _choice("role", roles), "product": _choice("product", YES_NO),
        "crm": _choice("crm", YES_NO), "unsubscribed": _choice("unsubscribed", YES_NO),
    }
    sort = _choice("sort", queries.CONTACT_SORTS, "name")
    direction = _choice("dir", ("asc", "desc"), "asc")
    page, per_page = page_args(25)
    contacts = queries.search_contacts(
        q=q, role=filters["role"], product=YES_NO.get(filters["product"]),
        crm=YES_NO.get(filters["crm"]), unsubscribed=YES_NO.get(filters["unsubscribed"]),
        sort=sort, direction=direction, page=page, per_page=per_page,
    )
    filter_args = {k: v for k, v in filters.items() if v}
    return render_page(
        "accounts/contacts.html", _fragment("accounts/_contacts_results.html"),
        contacts=contacts, filters=filters, roles=roles,
        sort=sort, direction=direction, filter_args=filter_args,
        page_args={**filter_args, "sort": sort, "dir": direction},
    )


@bp.route("/contacts/<int:contact_id>")
def contact_detail(contact_id: int):
    contact = db.session.get(Contact, contact_id) or abort(404)
    now = utcnow()
    wanted = request.args.get("section")
    if request.htmx and wanted in CONTACT_SECTIONS:
        return _render_section(CONTACT_SECTIONS[wanted], contact, now)
    sections = [(panel, _render_section(panel, contact, now)) for panel in ordered(CONTACT_SECTIONS)]
    inactive_days = current_app.config["INACTIVE_AFTER_DAYS"]
    return render_template(
        "accounts/contact.html", contact=contact, account=contact.account, now=now,
        sections=sections, activity=queries.contact_activity(contact.id, now - timedelta(days=30)),
        inactive=contact.last_seen_at is None or contact.last_seen_at < now - timedelta(days=inactive_days),
    )


def _render_section(panel, contact, now) -> Markup:
    context = {**panel.load(contact, request.args), "contact": contact, "panel": panel, "now": now}
    return Markup(render_template("accounts/_contact_section.html", **context))


@contact_section("events", "Event timeline", "accounts/_section_events.html", order=50)
def _timeline_section(contact, args):
    events = queries.contact_events(contact.id, page_number(args, "events_page"), TIMELINE_PER_PAGE)
    return {"events": events.items, "pagination": events,
            "summary": f"{events.total:,} event{'' if events.total == 1 else 's'}, newest first"}


from blueprints.accounts import bounce  # noqa: E402,F401 - the bounce panel and its action
