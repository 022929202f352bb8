"""The account's communication log (Natero "Account Details - Communications").

One row per (account, trigger, day in the trigger's timezone), type "Trigger",
with the trigger's subject as written (no variable values, no user details):
several users of one account emailed by one trigger on one day are one row.
"""
from datetime import datetime

from engine.upsert import insert_ignoring_duplicates
from engine.scheduling import local_date
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

    def record_sent(self, account_id: int, trigger, sent_at: datetime, conn=None) -> None:
        day = local_date(sent_at, trigger.timezone or "UTC")
        key = (account_id, trigger.id, day)
        if key in self.seen:
            return
        subject = getattr(trigger, "log_subject", None)
        ins = insert_ignoring_duplicates(Communication, ["account_id", "trigger_id", "day"]).values(
            account_id=account_id, trigger_id=trigger.id, day=day, category="Emails", type="Trigger",
            subject=subject if subject is not None else subject_of(trigger), created_at=sent_at)
        (conn if conn is not None else db.session.connection()).execute(ins)
        self.seen.add(key)
