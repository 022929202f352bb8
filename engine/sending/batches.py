"""Send batches: claimed due messages, rendered and read, ready for the send loop."""
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select

from engine.outbox import send_states as outbox_send
from engine.reports.communications import subject_of
from engine.render.messages import ensure_rendered
from extensions import db
from models import OutboxMessage, Trigger


@dataclass
class Batch:
    token: str
    ids: list[int]
    rows: list = field(default_factory=list)
    triggers: dict = field(default_factory=dict)


def claim_batch(now: datetime, limit: int) -> Batch:
    """Claim up to `limit` due messages, render any not rendered yet, read them."""
    token, ids = outbox_send.claim_due_batch(now, limit)
    if not ids:
        return Batch(token, [])
    return Batch(token, ids, *_load(token, ids, now))


_TRIGGER_FIELDS = ("id", "from_email", "bcc", "no_reply", "reply_to_email", "reply_to_name",
                   "timezone")


def _snapshot(trigger) -> SimpleNamespace:
    """The trigger fields sending needs, as plain values: an ORM object would be
    expired by every commit and reloaded (one SELECT) on the next attribute read."""
    fields = {name: getattr(trigger, name) for name in _TRIGGER_FIELDS}
    return SimpleNamespace(**fields, log_subject=subject_of(trigger))


def _load(token, ids, now):
    cols = (OutboxMessage.id, OutboxMessage.trigger_id, OutboxMessage.account_id,
            OutboxMessage.to_email, OutboxMessage.subject, OutboxMessage.html, OutboxMessage.text)
    query = select(*cols).where(
        outbox_send.id_in(ids), OutboxMessage.claim_token == token,
        OutboxMessage.state == "approved").order_by(OutboxMessage.id)
    rows = db.session.execute(query).all()
    if any(r.subject is None for r in rows):
        # Not rendered yet (a big run's render jobs may still be behind): render, read again.
        ensure_rendered([r.id for r in rows if r.subject is None], now)
        rows = db.session.execute(query).all()
    trigger_ids = {r.trigger_id for r in rows}
    triggers = {t.id: _snapshot(t) for t in db.session.execute(
        select(Trigger).where(Trigger.id.in_(trigger_ids))).scalars()}
    db.session.commit()  # nothing of the session stays open while `conn` writes
    return rows, triggers


