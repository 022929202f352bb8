"""The send loop: claim a batch in the database, send it over ONE SMTP connection.

Per message: mark `sending` (commit) -> SMTP transaction -> record the outcome.
The outcome of message n is committed together with the `sending` mark of
message n+1, so each message costs one commit and a killed worker leaves at
most one message in `sending` (which the tick later turns into `uncertain`).
Reserved rows the worker never started are given back at the end of the
batch, or lapse back to claimable if the worker died.

The worker's own work overlaps the server's (engine/smtp.py transmit hooks,
engine/send_marks.py): n's outcome and n+1's `sending` mark are written while
the server answers n+1's MAIL FROM -- or its whole envelope, when the server
offers PIPELINING (PostgreSQL: collected only before n+1's end-of-data line,
the one a server takes a message at) -- and n+2 is built while the server
reads n+1's content.

Redis only rings the doorbell: a send job re-reads the database, so a job
that runs twice finds nothing left to claim, and a lost job is replaced by
the tick's sweep.
"""
import logging
import math
import time
from datetime import datetime, timedelta

from flask import current_app

from engine.sending import mime as mailer

from engine import outbox

from engine.outbox import send_states as outbox_send
from engine.sending import smtp as smtp_mod
from engine.ports import doorbell
from engine.reports.communications import CommunicationLog
from engine.sending.batches import claim_batch
from engine.sending.marks import DeferredSendMarks, SendMarks
from extensions import db
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
    offset = (as_of - utcnow()) if as_of else timedelta(0)
    offset = max(offset, timedelta(0))
    return lambda: utcnow() + offset


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
                smtp = send_batch(batch, smtp, config=config, clock=clock, bucket=bucket,
                                  stats=stats, comms=comms, conn=conn)
            else:
                if outbox.count_due(clock()):
                    doorbell().send(1, None, clock(), as_of=clock())  # hand over: jobs stay short
    finally:
        smtp_mod.close_quietly(smtp)
    if stats["retry"] or stats.get("connect_error"):
        _ring_later(clock())
    return stats


class _Prepared:
    """Each message's wire bytes (or why it cannot be built), built one ahead:
    message n+1 is built while the server takes in message n's content."""

    def __init__(self, rows, triggers, config):
        self.rows, self.triggers, self.config = rows, triggers, config
        self.built = {}

    def build(self, i):
        if i >= len(self.rows) or i in self.built:
            return
        row = self.rows[i]
        try:
            self.built[i] = mailer.message_bytes(row._mapping, self.triggers[row.trigger_id],
                                                 config=self.config)
        except Exception as exc:  # noqa: BLE001 - a bad message fails alone
            self.built[i] = exc

    def take(self, i):
        self.build(i)
        return self.built.pop(i)


def send_batch(batch, smtp, *, config, clock, bucket, stats, comms, conn):
    """Send one claimed batch; returns the (possibly new) open connection or None.

    Each message's outcome is committed with the next message's `sending` mark
    while the server answers commands that deliver nothing -- always durable
    before the end-of-data line goes out (engine/send_marks.py). The message
    after that is built while the server takes in the content."""
    token, ids, rows, triggers = batch.token, batch.ids, batch.rows, batch.triggers
    prepared = _Prepared(rows, triggers, config)
    marks_class = DeferredSendMarks if conn.dialect.name == "postgresql" else SendMarks
    marks = marks_class(token, clock=clock, stats=stats, comms=comms, conn=conn)
    for i, row in enumerate(rows):
        trigger = triggers[row.trigger_id]
        data = prepared.take(i)
        if isinstance(data, Exception):
            marks.flush()
            outbox_send.mark_failed(row.id, token, f"could not build the message: {data}", clock(),
                                    conn=conn)
            stats["failed"] += 1
            continue
        rcpts = mailer.envelope_recipients(row.to_email, trigger)
        for _try in range(2):  # a second try only after losing the connection before DATA
            if smtp is None:
                try:
                    smtp = smtp_mod.open_connection(config)
                except Exception as exc:  # noqa: BLE001 - server down: retry this batch later
                    marks.flush()
                    return _give_back(token, ids, clock(), conn, stats, str(exc))
            bucket.take()
            hooks = marks.hooks_for(row)

            def end(i=i, then=hooks.get("end")):
                prepared.build(i + 1)  # the next message, while the server reads this one
                return then() if then else True

            hooks["end"] = end
            try:
                result = smtp_mod.transmit(smtp, trigger.from_email, rcpts, data, hooks=hooks)
            finally:
                marks.settle()
            if result.reconnect:
                smtp = _drop(smtp)
            if result.kind == "lost":
                break  # our reservation lapsed and another worker owns it now
            if result.kind == "not_sent":
                marks.not_sent(row)
                continue
            if marks.started is None and not marks.start():
                break  # ended before the mail hook ran: marked like the rest
            marks.outcome(row, trigger, result)
            break
        else:
            # The server keeps dropping us before the data: give the batch back for later.
            marks.flush()
            return _give_back(token, ids, clock(), conn, stats,
                              "connection lost twice before the message data")
    marks.finish()
    unstarted = [i for i in ids if i not in marks.started_ids]
    if unstarted:  # the batch stopped early, or some were not ours any more: back to the pool
        outbox_send.release_claim(token, unstarted, clock())
    return smtp


def _drop(smtp):
    smtp_mod.close_quietly(smtp)
    return None


def _give_back(token, ids, now, conn, stats, error):
    """Commit what was recorded and release the rest of the batch for a later retry."""
    conn.commit()
    outbox_send.release_claim(token, ids, now, retry_after=CONNECT_RETRY)
    log.warning("cannot send over SMTP: %s", error)
    stats["connect_error"] = error[:300]
    return None


def _ring_later(now):
    """A retry is due after its backoff; schedule a job for then (the sweep also finds it)."""
    try:
        doorbell().send(1, now + max(outbox.retry_delay(1), CONNECT_RETRY), now)
    except Exception:  # noqa: BLE001 - the sweep is the safety net
        log.warning("could not schedule the retry job; the tick's sweep will pick it up")
