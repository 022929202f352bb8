"""The account's communication log (Natero "Account Details - Communications").

One row per (account, trigger, day in the trigger's timezone), type "Trigger",
with the trigger's subject as written (no variable values, no user details):
several users of one account emailed by one trigger on one day are one row.
"""
from datetime import date, datetime, time, timedelta

from engine.clock import local_date, local_instant
from engine.db.upsert import insert_ignoring_duplicates
from extensions import db
from models import Communication


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
