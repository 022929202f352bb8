"""The send loop: claim a batch of due messages, send it over one SMTP connection.

For each message of a batch, in this order (send_batch enforces it):
  1. mark it `sending` and COMMIT, before any of its SMTP transaction: only
     a `sending` row can have reached the receiver, and a worker killed from
     here on leaves it `sending`, which the tick turns into `uncertain` --
     never re-sent silently. A message whose reservation was lost (staff
     took it back, or the lease ran out) is skipped;
  2. run the SMTP transaction (engine/sending/smtp.py: what a lost
     connection means);
  3. mark the outcome and COMMIT;
  4. when the contact's server took it and the trigger has a BCC, send the
     BCC its own copy (no tracking, no unsubscribe of the contact's) in a
     second transaction: its outcome is logged, never the contact's state.
So a worker leaves at most one message in `sending`. Reserved rows it never
started are given back at the end of the batch, or lapse after the lease.
This is the one place outside the orchestrators that commits (engine/__init__.py).

Redis only rings the doorbell: a send job re-reads the database, so a job
that runs twice finds nothing left to claim, and a lost job is replaced by
the tick's sweep.
"""
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import select

from engine import outbox
from engine.outbox import send_states
from engine.ports import doorbell
from engine.render.messages import ensure_rendered
from engine.reports.communications import CommunicationLog, subject_of
from engine.sending import bcc_copy, mime, smtp as smtp_mod
from extensions import db
from models import OutboxMessage, Trigger
from models.base import utcnow

log = logging.getLogger(__name__)
JOB_BUDGET_SECONDS = 60  # a job stops claiming after this and hands over to a fresh job
MAX_JOBS_PER_RING = 32
CONNECT_RETRY = timedelta(seconds=60)
_buckets: dict[float, smtp_mod.TokenBucket] = {}


def _bucket(rate: float) -> smtp_mod.TokenBucket:
    # One bucket per worker process: SEND_RATE_PER_SECOND is a per-worker limit.
    if rate not in _buckets:
        _buckets[rate] = smtp_mod.TokenBucket(rate)
    return _buckets[rate]


def claim_limit(config) -> int:
    """Batch size, kept small enough that a rate-limited batch finishes well
    inside the reservation lease."""
    size = int(config.get("SEND_BATCH_SIZE", 200))
    rate = float(config.get("SEND_RATE_PER_SECOND", 0) or 0)
    if rate > 0:
        size = min(size, max(1, int(rate * int(config.get("SENDING_LEASE_SECONDS", 600)) / 2)))
    return max(1, size)


def offset_clock(as_of: datetime | None):
    """A clock that runs from `as_of` when that lies ahead of real time (a tick
    run with --now in the future); real UTC time otherwise."""
    offset = max((as_of - utcnow()) if as_of else timedelta(0), timedelta(0))
    return lambda: utcnow() + offset


@dataclass
class Batch:
    """Claimed due messages, rendered, as rows; the triggers they belong to."""
    token: str
    ids: list[int]
    rows: list = field(default_factory=list)
    triggers: dict = field(default_factory=dict)


_TRIGGER_FIELDS = ("id", "from_email", "from_name", "bcc", "no_reply", "reply_to_email",
                   "reply_to_name", "timezone", "track_opens", "track_clicks")


def claim_batch(now: datetime, limit: int) -> Batch:
    """Claim up to `limit` due messages, render any not rendered yet, read them."""
    token, ids = send_states.claim_due_batch(now, limit)
    if not ids:
        return Batch(token, [])
    query = (select(OutboxMessage.id, OutboxMessage.trigger_id, OutboxMessage.account_id,
                    OutboxMessage.to_email, OutboxMessage.subject, OutboxMessage.html,
                    OutboxMessage.text)
             .where(send_states.id_in(ids), OutboxMessage.claim_token == token,
                    OutboxMessage.state == "approved").order_by(OutboxMessage.id))
    rows = db.session.execute(query).all()
    if any(r.subject is None for r in rows):
        # Not rendered yet (a big run's render jobs may still be behind): render, read again.
        ensure_rendered([r.id for r in rows if r.subject is None], now)
        rows = db.session.execute(query).all()
    # Plain values, not ORM objects: every commit of the loop would expire those.
    triggers = {t.id: SimpleNamespace(**{name: getattr(t, name) for name in _TRIGGER_FIELDS},
                                      log_subject=subject_of(t))
                for t in db.session.execute(select(Trigger).where(
                    Trigger.id.in_({r.trigger_id for r in rows}))).scalars()}
    db.session.commit()
    return Batch(token, ids, rows, triggers)


def send_due(*, clock=utcnow, budget_seconds: float = JOB_BUDGET_SECONDS, config=None) -> dict:
    """Claim and send batches until nothing is due or the time budget is spent."""
    config = config or current_app.config
    stats = {"sent": 0, "failed": 0, "retry": 0, "uncertain": 0, "batches": 0}
    deadline = time.monotonic() + budget_seconds
    bucket = _bucket(float(config.get("SEND_RATE_PER_SECOND", 0) or 0))
    comms = CommunicationLog()
    smtp = None
    try:
        # The marks run on one connection of our own: the session would hand its
        # connection back to the pool (and ping it again) on every commit.
        with db.engine.connect() as conn:
            while time.monotonic() < deadline:
                batch = claim_batch(clock(), claim_limit(config))
                if not batch.ids:
                    break
                stats["batches"] += 1
                smtp = send_batch(batch, smtp, conn=conn, config=config, clock=clock,
                                  bucket=bucket, stats=stats, comms=comms)
            else:
                if outbox.count_due(clock()):
                    doorbell().send(1, None, clock(), as_of=clock())  # hand over: jobs stay short
    finally:
        smtp_mod.close_quietly(smtp)
    if stats["retry"] or stats.get("connect_error"):
        _ring_later(clock())
    return stats


def send_batch(batch: Batch, smtp, *, conn, config, clock, bucket, stats, comms):
    """Send one claimed batch in the order the module docstring states; returns
    the open connection (or None) for the next batch."""
    token = batch.token
    handled = set()  # rows this batch marked: not given back at the end
    for row in batch.rows:
        trigger = batch.triggers[row.trigger_id]
        try:
            data = mime.message_bytes(row._mapping, trigger, config=config)
        except Exception as exc:  # noqa: BLE001 - a message that cannot be built fails alone
            if send_states.mark_failed(row.id, token, f"could not build the message: {exc}",
                                       clock(), conn=conn):
                stats["failed"] += 1
            conn.commit()
            handled.add(row.id)
            continue
        recipients = [row.to_email]  # a BCC gets its own copy afterwards (_send_copy)
        for _attempt in range(2):  # a second try only after losing the connection before the data
            if smtp is None:
                try:
                    smtp = smtp_mod.open_connection(config)
                except Exception as exc:  # noqa: BLE001 - server down: retry this batch later
                    return _give_back(batch, clock(), stats, str(exc))
            bucket.take()
            if not send_states.mark_sending(row.id, token, clock(), conn=conn):
                conn.rollback()
                break  # not ours any more
            conn.commit()  # `sending` is durable before the transaction starts
            handled.add(row.id)
            sender = mime.envelope_sender(row.id, trigger, config)  # VERP with BOUNCE_DOMAIN
            outcome = smtp_mod.transmit(smtp, sender, recipients, data)
            if outcome.reconnect:
                smtp_mod.close_quietly(smtp)
                smtp = None
            if outcome.kind == "not_sent":  # nothing delivered: still ours, approved again
                send_states.mark_not_sent(row.id, token, clock(), conn=conn)
                conn.commit()
                handled.discard(row.id)
                continue
            _record(outcome, row, trigger, token, clock(), conn, stats, comms)
            conn.commit()
            if outcome.kind == "sent" and trigger.bcc:
                smtp = _send_copy(smtp, row, trigger, config=config, bucket=bucket)
            break
        else:
            return _give_back(batch, clock(), stats, "connection lost twice before the message data")
    unstarted = [i for i in batch.ids if i not in handled]
    if unstarted:  # the batch stopped early, or some were not ours any more: back to the pool
        send_states.release_claim(token, unstarted, clock())
    return smtp


def _send_copy(smtp, row, trigger, *, config, bucket):
    """The BCC copy of a message the contact's server took (engine/sending/bcc_copy.py),
    in a transaction of its own after the contact's outcome is committed: it
    never changes the contact's message, so its outcome is only logged. Returns
    the connection for the next message (None when it was lost)."""
    recipients = mime.bcc_recipients(row.to_email, trigger)
    if not recipients or smtp is None:
        return smtp
    try:
        data = bcc_copy.copy_message_bytes(row._mapping, trigger, config=config)
    except Exception as exc:  # noqa: BLE001 - the contact's message is already sent
        log.warning("BCC copy of message %s not built: %s", row.id, exc)
        return smtp
    bucket.take()
    # A plain sender: a bounce of the BCC copy must not count against the contact.
    outcome = smtp_mod.transmit(smtp, trigger.from_email, recipients, data)
    if outcome.kind != "sent":
        log.warning("BCC copy of message %s to %s not delivered (%s): %s", row.id,
                    ", ".join(recipients), outcome.kind, outcome.reply)
    if outcome.reconnect:
        smtp_mod.close_quietly(smtp)
        return None
    return smtp


def _record(outcome, row, trigger, token, now, conn, stats, comms) -> None:
    """The outcome of a transaction as the message's state (not committed)."""
    if outcome.kind == "sent":
        if send_states.mark_sent(row.id, token, outcome.reply, now, conn=conn):
            comms.record_sent(row.account_id, trigger, now, conn=conn)
            stats["sent"] += 1
    elif outcome.kind == "retry":
        result = send_states.mark_retry(row.id, token, outcome.reply, now, conn=conn)
        stats["retry" if result == "retry" else "failed"] += 1
    elif outcome.kind == "failed":
        send_states.mark_failed(row.id, token, outcome.reply, now, reply=outcome.reply, conn=conn)
        stats["failed"] += 1
    else:
        send_states.mark_uncertain(row.id, token, outcome.reply, now, conn=conn)
        stats["uncertain"] += 1


def _give_back(batch, now, stats, error):
    """Release the rest of the batch for a later retry; no connection is left open."""
    send_states.release_claim(batch.token, batch.ids, now, retry_after=CONNECT_RETRY)
    log.warning("cannot send over SMTP: %s", error)
    stats["connect_error"] = error[:300]
    return None


def _ring_later(now):
    """A retry is due after its backoff; schedule a job for then (the sweep also finds it)."""
    try:
        doorbell().send(1, now + max(outbox.retry_delay(1), CONNECT_RETRY), now)
    except Exception:  # noqa: BLE001 - the sweep is the safety net
        log.warning("could not schedule the retry job; the tick's sweep will pick it up")
