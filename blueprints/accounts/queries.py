"""Read queries behind the accounts and contacts pages (set-based: no query per row)."""
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import joinedload

from blueprints.ui import paginate
from extensions import db
from models import Account, Contact, Event

PLAN_ORDER = ("free", "starter", "pro", "enterprise")
ROLE_ORDER = ("owner", "admin", "manager", "analyst", "developer", "user")
# sort key -> (columns, whether rows without a value go last in both directions)
ACCOUNT_SORTS = {"name": ((Account.name,), False), "arr": ((Account.arr,), True),
                 "created": ((Account.created_at,), False)}
CONTACT_SORTS = {"name": ((Contact.last_name, Contact.first_name), False),
                 "last_seen": ((Contact.last_seen_at,), True), "created": ((Contact.created_at,), False)}
RECENT_EVENTS = 50


def _like(term: str) -> str:
    """A LIKE pattern matching `term` literally anywhere (%, _ and \\ escaped)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column, term: str):
    """Case-insensitive "contains". SQLite's LIKE already ignores ASCII case (its lower() is
    ASCII-only too), and skipping lower() keeps the scan cheap; PostgreSQL uses ILIKE."""
    if db.session.get_bind().dialect.name == "sqlite":
        return column.like(_like(term), escape="\\")
    return column.ilike(_like(term), escape="\\")


def _order_by(spec, direction: str, tiebreak):
    columns, nulls_last = spec
    desc = direction == "desc"
    order = [c.desc() if desc else c.asc() for c in columns]
    if nulls_last:  # no ARR / never seen: last whichever way the list is sorted
        order = [o.nulls_last() for o in order]
    # The id tie-breaker runs the same way, so an index on the sort columns is read in order.
    return [*order, tiebreak.desc() if desc else tiebreak.asc()]


def distinct_values(column, preferred: tuple[str, ...]) -> list[str]:
    """Values present in the column, the familiar ones first (for filter dropdowns)."""
    present = {v for v in db.session.scalars(select(column).distinct()) if v}
    return [v for v in preferred if v in present] + sorted(present - set(preferred))


def search_accounts(q="", status="", plan="", sort="name", direction="asc", page=1, per_page=25):
    """(rows, pagination): rows are dicts with the account, its contact count and last activity."""
    stmt = select(Account)
    if q:
        stmt = stmt.where(or_(_contains(Account.name, q), _contains(Account.external_id, q)))
    if status:
        stmt = stmt.where(Account.status == status)
    if plan:
        stmt = stmt.where(Account.plan == plan)
    pagination = paginate(stmt.order_by(*_order_by(ACCOUNT_SORTS[sort], direction, Account.id)), page, per_page)
    stats = contact_stats([a.id for a in pagination.items])
    empty = {"contacts": 0, "last_seen_at": None}
    return [{"account": a, **stats.get(a.id, empty)} for a in pagination.items], pagination


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
    """A page of contacts (their accounts loaded with them).

    Each word of `q` must match the first name, last name, email or external id, so
    "ann smith" finds Ann Smith.
    """
    where = [or_(*(_contains(col, word) for col in (
        Contact.first_name, Contact.last_name, Contact.email, Contact.external_id))) for word in q.split()]
    if role:
        where.append(Contact.role == role)
    if product is not None:
        where.append(Contact.is_product_user.is_(product))
    if crm is not None:
        where.append(Contact.is_crm_contact.is_(crm))
    if unsubscribed is not None:
        where.append(Contact.unsubscribed_at.isnot(None) if unsubscribed
                     else Contact.unsubscribed_at.is_(None))
    if account_id is not None:
        where.append(Contact.account_id == account_id)
    # The count leaves eager loads out, so it reads contacts only (every contact has its account).
    stmt = (select(Contact).options(joinedload(Contact.account, innerjoin=True)).where(*where)
            .order_by(*_order_by(CONTACT_SORTS[sort], direction, Contact.id)))
    return paginate(stmt, page, per_page)


def recent_account_events(account_id: int, limit: int = RECENT_EVENTS):
    """The latest events across an account's contacts: (Event, Contact) pairs."""
    return db.session.execute(
        select(Event, Contact).join(Contact, Contact.id == Event.contact_id)
        .where(Contact.account_id == account_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
    ).all()


def contact_events(contact_id: int, page: int, per_page: int):
    """A page of one contact's events, newest first."""
    stmt = select(Event).where(Event.contact_id == contact_id)
    return paginate(stmt.order_by(Event.occurred_at.desc(), Event.id.desc()), page, per_page)


def contact_activity(contact_id: int, since: datetime) -> list[tuple[str, int]]:
    """[(event name, count)] since a time, most frequent first."""
    rows = db.session.execute(
        select(Event.name, func.count()).where(and_(Event.contact_id == contact_id,
                                                    Event.occurred_at >= since))
        .group_by(Event.name).order_by(func.count().desc(), Event.name)
    )
    return [(name, n) for name, n in rows]
