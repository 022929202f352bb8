"""Read queries behind the accounts and contacts pages (set-based: no query per row)."""
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select

from extensions import db
from models import Account, Contact, Event

PLAN_ORDER = ("free", "starter", "pro", "enterprise")
ROLE_ORDER = ("owner", "admin", "manager", "analyst", "developer", "user")
ACCOUNT_SORTS = {"name": Account.name, "arr": Account.arr, "created": Account.created_at}
CONTACT_SORTS = {"name": (Contact.last_name, Contact.first_name), "last_seen": (Contact.last_seen_at,),
                 "created": (Contact.created_at,)}
RECENT_EVENTS = 50


def _like(term: str) -> str:
    """A LIKE pattern matching `term` literally anywhere (%, _ and \\ escaped)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _ordered(columns, direction: str):
    # Rows without a value (no ARR, never seen) go last in both directions.
    return [(c.desc() if direction == "desc" else c.asc()).nulls_last() for c in columns]


def _page(stmt, page: int, per_page: int):
    """(paged statement, total, page): a page past the end shows the last page."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page = max(1, min(page, (total + per_page - 1) // per_page))
    return stmt.limit(per_page).offset((page - 1) * per_page), total, page


def distinct_values(column, preferred: tuple[str, ...]) -> list[str]:
    """Values present in the column, the familiar ones first (for filter dropdowns)."""
    present = {v for v in db.session.scalars(select(column).distinct()) if v}
    return [v for v in preferred if v in present] + sorted(present - set(preferred))


def search_accounts(q="", status="", plan="", sort="name", direction="asc", page=1, per_page=25):
    """(rows, total, page): rows are dicts with the account, its contact count and last activity."""
    stmt = select(Account)
    if q:
        stmt = stmt.where(or_(Account.name.ilike(_like(q), escape="\\"),
                              Account.external_id.ilike(_like(q), escape="\\")))
    if status:
        stmt = stmt.where(Account.status == status)
    if plan:
        stmt = stmt.where(Account.plan == plan)
    stmt = stmt.order_by(*_ordered([ACCOUNT_SORTS[sort]], direction), Account.id)
    stmt, total, page = _page(stmt, page, per_page)
    accounts = db.session.scalars(stmt).all()
    stats = contact_stats([a.id for a in accounts])
    empty = {"contacts": 0, "last_seen_at": None}
    return [{"account": a, **stats.get(a.id, empty)} for a in accounts], total, page


def contact_stats(account_ids: list[int]) -> dict[int, dict]:
    """{account_id: {"contacts", "last_seen_at"}} in one grouped query."""
    if not account_ids:
        return {}
    rows = db.session.execute(
        select(Contact.account_id, func.count(), func.max(Contact.last_seen_at))
        .where(Contact.account_id.in_(account_ids))
        .group_by(Contact.account_id)
    )
    return {aid: {"contacts": n, "last_seen_at": seen} for aid, n, seen in rows}


def count_contacts(account_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Contact).where(Contact.account_id == account_id))


def account_summary(account_id: int, now: datetime, inactive_days: int) -> dict:
    """Headline numbers for one account: contacts, product users, active, events in 30 days."""
    active_since = now - timedelta(days=inactive_days)
    row = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Contact.is_product_user.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Contact.last_seen_at >= active_since, 1), else_=0)), 0),
            func.max(Contact.last_seen_at),
        ).where(Contact.account_id == account_id)
    ).one()
    events_30d = db.session.scalar(
        select(func.count()).select_from(Event).join(Contact, Contact.id == Event.contact_id)
        .where(Contact.account_id == account_id, Event.occurred_at >= now - timedelta(days=30))
    )
    return {"contacts": row[0], "product_users": row[1], "active": row[2], "last_seen_at": row[3],
            "events_30d": events_30d}


def search_contacts(q="", role="", product=None, crm=None, unsubscribed=None, account_id=None,
                    sort="name", direction="asc", page=1, per_page=25):
    """(rows, total, page): rows are (Contact, Account) pairs.

    Each word of `q` must match the first name, last name, email or external id, so
    "ann smith" finds Ann Smith.
    """
    stmt = select(Contact, Account).join(Account, Account.id == Contact.account_id)
    for word in q.split():
        pattern = _like(word)
        stmt = stmt.where(or_(*(col.ilike(pattern, escape="\\") for col in (
            Contact.first_name, Contact.last_name, Contact.email, Contact.external_id))))
    if role:
        stmt = stmt.where(Contact.role == role)
    if product is not None:
        stmt = stmt.where(Contact.is_product_user.is_(product))
    if crm is not None:
        stmt = stmt.where(Contact.is_crm_contact.is_(crm))
    if unsubscribed is not None:
        stmt = stmt.where(Contact.unsubscribed_at.isnot(None) if unsubscribed
                          else Contact.unsubscribed_at.is_(None))
    if account_id is not None:
        stmt = stmt.where(Contact.account_id == account_id)
    stmt = stmt.order_by(*_ordered(CONTACT_SORTS[sort], direction), Contact.id)
    stmt, total, page = _page(stmt, page, per_page)
    return db.session.execute(stmt).all(), total, page


def recent_account_events(account_id: int, limit: int = RECENT_EVENTS):
    """The latest events across an account's contacts: (Event, Contact) pairs."""
    return db.session.execute(
        select(Event, Contact).join(Contact, Contact.id == Event.contact_id)
        .where(Contact.account_id == account_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
    ).all()


def contact_events(contact_id: int, page: int, per_page: int):
    """(events, total, page) for one contact, newest first."""
    stmt = select(Event).where(Event.contact_id == contact_id)
    stmt, total, page = _page(stmt.order_by(Event.occurred_at.desc(), Event.id.desc()), page, per_page)
    return db.session.scalars(stmt).all(), total, page


def contact_activity(contact_id: int, since: datetime) -> list[tuple[str, int]]:
    """[(event name, count)] since a time, most frequent first."""
    rows = db.session.execute(
        select(Event.name, func.count()).where(and_(Event.contact_id == contact_id,
                                                    Event.occurred_at >= since))
        .group_by(Event.name).order_by(func.count().desc(), Event.name)
    )
    return [(name, n) for name, n in rows]
