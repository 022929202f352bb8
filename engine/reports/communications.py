"""The account's communication log (Natero "Account Details - Communications").

One row per (account, trigger, day in the trigger's timezone), type "Trigger",
with the trigger's subject as written (no variable values, no user details):
several users of one account emailed by one trigger on one day are one row.
"""
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, select

from engine.clock import local_date, local_instant
from engine.db.upsert import insert_ignoring_duplicates
from extensions import db
from models import Communication, Contact, OutboxMessage


def subject_of(trigger) -> str:
    """The subject as staff wrote it (the template's when the trigger uses one)."""
    template = getattr(trigger, "template", None) if getattr(trigger, "template_id", None) else None
    return ((template.subject if template is not None else None) or trigger.subject or "")[:998]


class CommunicationLog:
    """Records sent emails on their accounts; remembers what it wrote so a batch
    of 200 messages to one account costs one INSERT, not 200. Does not commit.

    `trigger` may be a Trigger or a plain snapshot of one (the send loop's);
    a snapshot can carry the log subject as `log_subject`. `conn`: run the
    INSERT on that connection instead of the session's."""

    def __init__(self):
        self.seen: set[tuple] = set()
        self.days: dict[str, tuple] = {}  # timezone -> (local day, its UTC start, its UTC end)

    def day_of(self, sent_at: datetime, tz: str) -> date:
        """local_date(sent_at, tz), remembering the day's UTC bounds: the send loop
        asks once per message, and a timezone conversion costs more than a compare."""
        known = self.days.get(tz)
        if known is None or not known[1] <= sent_at < known[2]:
            day = local_date(sent_at, tz)
            known = self.days[tz] = (day, local_instant(day, time(0), tz),
                                     local_instant(day + timedelta(days=1), time(0), tz))
        return known[0]

    def row_to_write(self, account_id: int, trigger, sent_at: datetime) -> tuple | None:
        """(account id, day, subject) of the row an email sent now belongs to,
        or None when this log has written it already. remember() it once written."""
        day = self.day_of(sent_at, trigger.timezone or "UTC")
        if (account_id, trigger.id, day) in self.seen:
            return None
        subject = getattr(trigger, "log_subject", None)
        return account_id, day, subject if subject is not None else subject_of(trigger)

    def remember(self, trigger, row: tuple) -> None:
        self.seen.add((row[0], trigger.id, row[1]))

    def record_sent(self, account_id: int, trigger, sent_at: datetime, conn=None) -> None:
        row = self.row_to_write(account_id, trigger, sent_at)
        if row is None:
            return
        ins = insert_ignoring_duplicates(Communication, ["account_id", "trigger_id", "day"]).values(
            account_id=account_id, trigger_id=trigger.id, day=row[1], category="Emails",
            type="Trigger", subject=row[2], created_at=sent_at)
        (conn if conn is not None else db.session.connection()).execute(ins)
        self.remember(trigger, row)


def _day_bounds(comm, tz: str) -> tuple[datetime, datetime]:
    """The UTC range of the row's local day (the day is the trigger's)."""
    return (local_instant(comm.day, time(0), tz), local_instant(comm.day + timedelta(days=1), time(0), tz))


def _zone(comm) -> str:
    return (comm.trigger.timezone if comm.trigger is not None else None) or "UTC"


def logged_messages(communications) -> dict[int, dict]:
    """{communication id: {"count", "subject", "message_id"}} for a page of log rows: how many
    emails each row stands for and the rendered subject of the first one (what its
    contacts saw, not the template's code). One grouped query for the whole page."""
    rows = [c for c in communications if c.trigger_id is not None]
    if not rows:
        return {}
    m = OutboxMessage
    which = case(*[(and_(m.trigger_id == c.trigger_id, m.sent_at >= start, m.sent_at < end), c.id)
                   for c in rows for start, end in [_day_bounds(c, _zone(c))]], else_=None)
    counted = db.session.execute(
        select(which.label("comm_id"), func.count().label("n"), func.min(m.id).label("first_id"))
        .where(m.account_id == rows[0].account_id, m.trigger_id.in_({c.trigger_id for c in rows}),
               m.sent_at.is_not(None))
        .group_by(which)).all()
    counted = [r for r in counted if r.comm_id is not None]
    subjects = dict(db.session.execute(
        select(m.id, m.subject).where(m.id.in_([r.first_id for r in counted]))).all()) if counted else {}
    return {r.comm_id: {"count": r.n, "message_id": r.first_id, "subject": subjects.get(r.first_id)}
            for r in counted}


def day_messages_query(comm):
    """The emails one log row stands for: that trigger's messages sent to the account's
    contacts on that (trigger-local) day, oldest first, with the contact's name."""
    start, end = _day_bounds(comm, _zone(comm))
    m = OutboxMessage
    return (select(m.id, m.subject, m.state, m.sent_at, m.to_email, Contact.id.label("contact_id"),
                   Contact.first_name, Contact.last_name, Contact.email)
            .join(Contact, Contact.id == m.contact_id)
            .where(m.account_id == comm.account_id, m.trigger_id == comm.trigger_id,
                   m.sent_at >= start, m.sent_at < end)
            .order_by(m.sent_at, m.id))
