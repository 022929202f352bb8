"""Read-side queries for the outbox pages: tabs, filters, one page of rows.

Only reads. State changes, the send-time rule and the waiting counts are
engine/outbox's.
"""
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import timedelta

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased, contains_eager, defer

from blueprints.ui import paginate
from engine import outbox as engine_outbox
from engine.outbox.suppressed import suppression_groups
from extensions import db
from models import Account, Contact, DeliveryEvent, OutboxMessage, Staff, Trigger
from models.outbox import SUPPRESSION_CODES
from models.bounce import BounceRecord

# (key, label, states shown). "sending" is a moment inside Approved;
# "cancelled" (trigger deactivated or deleted) sits next to Rejected.
TABS = (
    ("waiting", "Waiting for approval", ("pending_approval",)),
    ("approved", "Approved", ("approved", "sending")),
    ("sent", "Sent", ("sent",)),
    ("failed", "Failed", ("failed",)),
    ("uncertain", "Uncertain", ("uncertain",)),
    ("suppressed", "Suppressed", ("suppressed",)),
    ("rejected", "Rejected", ("rejected", "cancelled")),
)
TAB_STATES = {key: states for key, _, states in TABS}
# Tabs whose messages carry a reason code to group by, and the codes found there.
TAB_REASONS = {"suppressed": SUPPRESSION_CODES,
               "rejected": ("rejected", "trigger_deactivated", "trigger_deleted", "trigger_inactive")}
PER_PAGE = 50
# The Suppressed tab folds repeats (one contact, one trigger, one reason) into one row
# unless staff ask for every suppression.
VIEWS = ("grouped", "each")
# Beyond an hour a ticking m:ss countdown is noise; the page shows the time instead.
COUNTDOWN_WINDOW = timedelta(hours=1)
M = OutboxMessage
ApprovedBy = aliased(Staff, name="approved_by_staff")
RejectedBy = aliased(Staff, name="rejected_by_staff")


@dataclass
class Filters:
    tab: str = "waiting"
    trigger_id: int | None = None
    account_id: int | None = None
    contact_id: int | None = None
    q: str = ""
    reason: str | None = None  # a reason code of the tab (TAB_REASONS)
    page: int = 1
    view: str = "grouped"  # the Suppressed tab only: "grouped" or "each"
    errors: list = field(default_factory=list)  # what was asked for and ignored, said on the page

    @property
    def grouped(self) -> bool:
        return self.tab == "suppressed" and self.view == "grouped"

    def args(self, **override) -> dict:
        """Query-string arguments that reproduce these filters (for links and forms)."""
        values = {"tab": self.tab, "trigger": self.trigger_id, "account": self.account_id,
                  "contact": self.contact_id, "q": self.q or None, "reason": self.reason,
                  "view": self.view if self.view != "grouped" else None,
                  "page": self.page if self.page > 1 else None}
        values.update(override)
        return {k: v for k, v in values.items() if v not in (None, "")}


def _int(value, limit=2**62):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number < limit else None


INT_ID = 2**31  # trigger and account ids are PostgreSQL integers: larger ones cannot be bound


def parse_filters(values) -> Filters:
    """Filters from request.args / request.form; bad values are dropped, not fatal."""
    tab = values.get("tab") or "waiting"
    tab = tab if tab in TAB_STATES else "waiting"
    reason = (values.get("reason") or "").strip() or None
    errors = []
    if reason and reason not in TAB_REASONS.get(tab, ()):
        # A typo, an old link, or a code of another tab: say so, and show every reason.
        errors.append(f"“{reason[:60]}” is not a reason this tab can filter by, so every reason is shown."
                      if tab in TAB_REASONS else "This tab has no reasons to filter by, so the reason was ignored.")
        reason = None
    view = values.get("view")
    return Filters(
        tab=tab,
        trigger_id=_int(values.get("trigger"), INT_ID),
        account_id=_int(values.get("account"), INT_ID),
        contact_id=_int(values.get("contact"), INT_ID),
        q=(values.get("q") or "").strip()[:200],
        reason=reason,
        page=_int(values.get("page"), 10**9) or 1,
        view=view if view in VIEWS else "grouped",
        errors=errors,
    )


def _filter_conditions(f: Filters) -> list:
    """The trigger / account / search filters (the tab's states and the reason
    code are added where they apply)."""
    conditions = []
    if f.trigger_id:
        conditions.append(M.trigger_id == f.trigger_id)
    if f.account_id:
        conditions.append(M.account_id == f.account_id)
    if f.contact_id:
        conditions.append(M.contact_id == f.contact_id)
    if f.q:
        conditions.append(or_(
            Account.name.icontains(f.q, autoescape=True),
            Account.external_id == f.q,
            Contact.email.icontains(f.q, autoescape=True),
        ))
    return conditions


def tab_counts(f: Filters) -> dict:
    """{tab key: count} under the current trigger/account/search filters."""
    if f.q or f.contact_id:
        # Text search needs the account/contact join the engine's counter does not do.
        stmt = (select(M.state, func.count()).select_from(M)
                .join(Account, Account.id == M.account_id).join(Contact, Contact.id == M.contact_id)
                .where(*_filter_conditions(f)).group_by(M.state))
        by_state = dict(db.session.execute(stmt).all())
    else:
        by_state = engine_outbox.counts_by_state(
            {"trigger_id": f.trigger_id, "account_id": f.account_id})
    return {key: sum(by_state.get(s, 0) for s in states) for key, states in TAB_STATES.items()}


def reason_counts(f: Filters) -> list[tuple[str | None, int]]:
    """[(reason code, count)] of the tab's messages under the other filters,
    most first: the "held back by" chips."""
    if f.tab not in TAB_REASONS:
        return []
    stmt = (select(M.reason_code, func.count()).select_from(M)
            .where(M.state.in_(TAB_STATES[f.tab]), *_filter_conditions(f))
            .group_by(M.reason_code).order_by(func.count().desc(), M.reason_code))
    if f.q:
        stmt = (stmt.join(Account, Account.id == M.account_id)
                .join(Contact, Contact.id == M.contact_id))
    return [(code, n) for code, n in db.session.execute(stmt).all()]


def _order(tab: str):
    if tab == "waiting":
        return (M.created_at.asc(), M.id.asc())  # oldest first: a queue to work through
    if tab == "approved":
        return (engine_outbox.sends_at_order().asc(), M.id.asc())
    column = {"sent": M.sent_at, "failed": M.failed_at, "uncertain": M.updated_at,
              "rejected": M.updated_at}.get(tab, M.created_at)
    return (column.desc(), M.id.desc())


def list_page(f: Filters):
    """One page of messages (a Flask-SQLAlchemy Pagination) with trigger, contact,
    account and staff joined in (no N+1). A page past the end shows the last one."""
    where = [M.state.in_(TAB_STATES[f.tab]), *_filter_conditions(f)]
    if f.reason:
        where.append(M.reason_code == f.reason)
    stmt = (select(M).join(Trigger, Trigger.id == M.trigger_id)
            .join(Contact, Contact.id == M.contact_id).join(Account, Account.id == M.account_id)
            .outerjoin(ApprovedBy, ApprovedBy.id == M.approved_by_id)
            .outerjoin(RejectedBy, RejectedBy.id == M.rejected_by_id)
            .where(*where)
            .options(
                defer(M.html), defer(M.text),
                contains_eager(M.trigger).load_only(Trigger.id, Trigger.name, Trigger.kind, Trigger.timezone),
                contains_eager(M.contact).load_only(
                    Contact.id, Contact.email, Contact.first_name, Contact.last_name,
                    Contact.unsubscribed_at, Contact.external_id),
                contains_eager(M.account).load_only(Account.id, Account.name, Account.external_id),
                contains_eager(M.approved_by.of_type(ApprovedBy)).load_only(
                    ApprovedBy.id, ApprovedBy.email, ApprovedBy.name),
                contains_eager(M.rejected_by.of_type(RejectedBy)).load_only(
                    RejectedBy.id, RejectedBy.email, RejectedBy.name),
            )
            .order_by(*_order(f.tab)))
    page = paginate(stmt, f.page, PER_PAGE)  # e.g. the last rows were just approved
    f.page = page.page
    return page


class _RowsPagination(Pagination):
    """A page of plain result rows (db.paginate keeps only the first column of each)."""

    def _query_items(self):
        stmt = self._query_args["select"].limit(self.per_page).offset(self._query_offset)
        return db.session.execute(stmt).all()

    def _query_count(self) -> int:
        sub = self._query_args["select"].order_by(None).subquery()
        return db.session.execute(select(func.count()).select_from(sub)).scalar()


def _search_condition(q: str):
    """The text search as a condition on the message alone (no join): for the grouped view."""
    return or_(
        M.account_id.in_(select(Account.id).where(or_(Account.name.icontains(q, autoescape=True),
                                                      Account.external_id == q))),
        M.contact_id.in_(select(Contact.id).where(Contact.email.icontains(q, autoescape=True))),
    )


def suppressed_groups_page(f: Filters):
    """One page of the folded Suppressed tab: rows of (times, first_at, last_at, message),
    the message being each group's newest, with its contact, account and trigger loaded.
    The folding is one GROUP BY in the database (engine/outbox/suppressed.py)."""
    where = [c for c in _filter_conditions(dataclass_replace(f, q=""))]
    if f.q:
        where.append(_search_condition(f.q))
    if f.reason:
        where.append(M.reason_code == f.reason)
    groups = suppression_groups(where).subquery()
    stmt = (select(groups.c.times, groups.c.first_at, groups.c.last_at, M)
            .join(M, M.id == groups.c.last_id)
            .join(Trigger, Trigger.id == M.trigger_id)
            .join(Contact, Contact.id == M.contact_id).join(Account, Account.id == M.account_id)
            .options(
                defer(M.html), defer(M.text),
                contains_eager(M.trigger).load_only(Trigger.id, Trigger.name, Trigger.kind),
                contains_eager(M.contact).load_only(
                    Contact.id, Contact.email, Contact.first_name, Contact.last_name,
                    Contact.unsubscribed_at, Contact.external_id),
                contains_eager(M.account).load_only(Account.id, Account.name, Account.external_id))
            .order_by(groups.c.last_at.desc(), groups.c.last_id.desc()))
    page = _RowsPagination(select=stmt, page=f.page, per_page=PER_PAGE, error_out=False)
    if not page.items and f.page > page.pages > 0:  # past the end: the last page
        page = _RowsPagination(select=stmt, page=page.pages, per_page=PER_PAGE, error_out=False)
    f.page = page.page
    return page


def engagement(message_ids: list[int]) -> dict:
    """{message id: {"opened": n, "clicked": n, ...}} for one page of sent messages."""
    if not message_ids:
        return {}
    stmt = (select(DeliveryEvent.message_id, DeliveryEvent.kind, func.count())
            .where(DeliveryEvent.message_id.in_(message_ids),
                   DeliveryEvent.kind.in_(("opened", "clicked", "unsubscribed", "bounced")))
            .group_by(DeliveryEvent.message_id, DeliveryEvent.kind))
    result: dict = {}
    for message_id, kind, n in db.session.execute(stmt):
        result.setdefault(message_id, {})[kind] = n
    return result


def waiting_by_trigger(limit: int = 8) -> list:
    """Triggers with messages waiting for approval, most waiting first (all accounts)."""
    stmt = (select(Trigger.id, Trigger.name, func.count(M.id).label("waiting"))
            .join(M, M.trigger_id == Trigger.id).where(M.state == "pending_approval")
            .group_by(Trigger.id, Trigger.name).order_by(func.count(M.id).desc(), Trigger.name)
            .limit(limit))
    return db.session.execute(stmt).all()


def trigger_options() -> list:
    return db.session.execute(select(Trigger.id, Trigger.name).order_by(Trigger.name, Trigger.id)).all()


def trigger_label(trigger_id: int | None) -> str | None:
    if not trigger_id:
        return None
    return db.session.execute(select(Trigger.name).where(Trigger.id == trigger_id)).scalar()


def contact_label(contact_id: int | None) -> str | None:
    if not contact_id:
        return None
    row = db.session.execute(select(Contact.first_name, Contact.last_name, Contact.email)
                             .where(Contact.id == contact_id)).first()
    if row is None:
        return None
    return " ".join(p for p in (row.first_name, row.last_name) if p) or row.email


def account_label(account_id: int | None) -> str | None:
    if not account_id:
        return None
    return db.session.execute(select(Account.name).where(Account.id == account_id)).scalar()


def load_message(message_id: int):
    """One message with everything the detail page shows, in one query."""
    stmt = (select(M).join(Trigger, Trigger.id == M.trigger_id)
            .join(Contact, Contact.id == M.contact_id).join(Account, Account.id == M.account_id)
            .outerjoin(ApprovedBy, ApprovedBy.id == M.approved_by_id)
            .outerjoin(RejectedBy, RejectedBy.id == M.rejected_by_id)
            .options(contains_eager(M.trigger), contains_eager(M.contact), contains_eager(M.account),
                     contains_eager(M.approved_by.of_type(ApprovedBy)),
                     contains_eager(M.rejected_by.of_type(RejectedBy)))
            .where(M.id == message_id))
    return db.session.scalars(stmt).unique().first()


def delivery_events(message_id: int) -> list:
    return db.session.scalars(
        select(DeliveryEvent).where(DeliveryEvent.message_id == message_id)
        .order_by(DeliveryEvent.at, DeliveryEvent.id).limit(500)
    ).all()


def bounce_records(message_id: int) -> list:
    """The bounces and complaints that came back for one message, oldest first."""
    return db.session.scalars(
        select(BounceRecord).where(BounceRecord.message_id == message_id)
        .order_by(BounceRecord.at, BounceRecord.id).limit(100)
    ).all()


def parse_ids(values) -> list[int]:
    """Message ids from form values; garbage is dropped, at most 500 per action."""
    return sorted({i for i in (_int(v) for v in values) if i})[:500]
