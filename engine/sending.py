"""The send loop: claim a batch in the database, send it over ONE SMTP connection.

Per message: mark `sending` (commit) -> SMTP transaction -> record the outcome.
The outcome of message n is committed together with the `sending` mark of
message n+1, so each message costs one commit and a killed worker leaves at
most one message in `sending` (which the tick later turns into `uncertain`).
Reserved rows the worker never started simply lapse back to claimable.

Redis only rings the doorbell: a send job re-reads the database, so a job
that runs twice finds nothing left to claim, and a lost job is replaced by
the tick's sweep.
"""
import logging
import math
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from engine import mailer
from engine import outbox
from engine.communications import CommunicationLog
from engine.outbox_render import ensure_rendered
from extensions import db
from models import OutboxMessage, Trigger
from models.base import utcnow

log = logging.getLogger(__name__)
SEND_JOB = "workers.jobs.send_batch_job"
JOB_BUDGET_SECONDS = 60  # a job stops claiming after this and hands over to a fresh job
MAX_JOBS_PER_RING = 32
CONNECT_RETRY = timedelta(seconds=60)
_buckets: dict[float, mailer.TokenBucket] = {}


def _bucket(rate: float) -> mailer.TokenBucket:
    # One bucket per worker process: SEND_RATE_PER_SECOND is a per-worker limit.
    if rate not in _buckets:
        _buckets[rate] = mailer.TokenBucket(rate)
    return _buckets[rate]


def claim_limit(config) -> int:
    """Batch size, kept small enough that a rate-limited batch finishes well
    inside the reservation lease."""
    size = int(config.get("SEND_BATCH_SIZE", 200))
    rate = float(config.get("SEND_RATE_PER_SECOND", 0) or 0)
    if rate > 0:
        size = min(size, max(1, int(rate * int(config.get("SENDING_LEASE_SECONDS", 600)) / 2)))
    return max(1, size)


def enqueue_send_jobs(n_messages: int, at: datetime | None, now: datetime, *,
                      as_of: datetime | None = None) -> int:
    """Enqueue enough send jobs for n messages, at `at` (RQ enqueue_in) or now.
    `as_of`: the clock the jobs should run on when it is ahead of real time.
    Returns the number of jobs enqueued."""
    from workers.queues import get_queue

    jobs = min(MAX_JOBS_PER_RING, max(1, math.ceil(n_messages / claim_limit(current_app.config))))
    queue = get_queue("emails")
    delay = (at - now).total_seconds() if at else 0
    args = (as_of.isoformat(),) if as_of else ()
    for _ in range(jobs):
        kwargs = dict(job_timeout=JOB_BUDGET_SECONDS * 3, result_ttl=300, failure_ttl=86400)
        if delay > 0.5:
            queue.enqueue_in(timedelta(seconds=delay + 1), SEND_JOB, *args, **kwargs)
        else:
            queue.enqueue(SEND_JOB, *args, **kwargs)
    return jobs


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
        while time.monotonic() < deadline:
            token, ids = outbox.claim_due_batch(clock(), claim_limit(config))
            if not ids:
                break
            stats["batches"] += 1
            smtp = send_batch(token, ids, smtp, config=config, clock=clock, bucket=bucket,
                              stats=stats, comms=comms)
        else:
            if outbox.count_due(clock()):
                enqueue_send_jobs(1, None, clock(), as_of=clock())  # hand over: jobs stay short
    finally:
        mailer.close_quietly(smtp)
    if stats["retry"] or stats.get("connect_error"):
        _ring_later(clock())
    return stats


def _load(token, ids):
    cols = (OutboxMessage.id, OutboxMessage.trigger_id, OutboxMessage.account_id,
            OutboxMessage.to_email, OutboxMessage.subject, OutboxMessage.html, OutboxMessage.text)
    rows = db.session.execute(select(*cols).where(
        OutboxMessage.id.in_(ids), OutboxMessage.claim_token == token,
        OutboxMessage.state == "approved").order_by(OutboxMessage.id)).all()
    trigger_ids = {r.trigger_id for r in rows}
    triggers = {t.id: t for t in db.session.execute(
        select(Trigger).where(Trigger.id.in_(trigger_ids))).scalars()}
    return rows, triggers


def send_batch(token, ids, smtp, *, config, clock, bucket, stats, comms):
    """Send one claimed batch; returns the (possibly new) open connection or None."""
    # Usually rendered already; a big run's render jobs may still be behind.
    ensure_rendered(ids, clock())
    rows, triggers = _load(token, ids)
    for row in rows:
        trigger = triggers[row.trigger_id]
        try:
            data = mailer.message_bytes(row._mapping, trigger, config=config)
        except Exception as exc:  # noqa: BLE001 - a bad message fails alone
            outbox.mark_failed(row.id, token, f"could not build the message: {exc}", clock())
            stats["failed"] += 1
            continue
        rcpts = mailer.envelope_recipients(row.to_email, trigger)
        for _try in range(2):  # a second try only after losing the connection before DATA
            if smtp is None:
                try:
                    smtp = mailer.open_connection(config)
                except Exception as exc:  # noqa: BLE001 - server down: retry this batch later
                    db.session.commit()
                    outbox.release_claim(token, clock(), retry_after=CONNECT_RETRY)
                    log.warning("cannot connect to the SMTP server: %s", exc)
                    stats["connect_error"] = str(exc)[:300]
                    return None
            bucket.take()
            started = outbox.mark_sending(row.id, token, clock())
            db.session.commit()  # `sending` is durable before any byte goes out
            if not started:
                break  # our reservation lapsed and another worker owns it now
            result = mailer.transmit(smtp, trigger.from_email, rcpts, data)
            if result.reconnect:
                mailer.close_quietly(smtp)
                smtp = None
            if result.kind == "not_sent":
                outbox.mark_not_sent(row.id, token, clock())
                continue
            _record(row, trigger, token, result, clock(), stats, comms)
            break
        else:
            # The server keeps dropping us before the data: give the batch back for later.
            db.session.commit()
            outbox.release_claim(token, clock(), retry_after=CONNECT_RETRY)
            stats["connect_error"] = "connection lost twice before the message data"
            return None
    db.session.commit()
    outbox.release_claim(token, clock())  # anything left unstarted goes back to the pool
    return smtp


def _record(row, trigger, token, result, now, stats, comms):
    if result.kind == "sent":
        if outbox.mark_sent(row.id, token, result.reply, now):
            comms.record_sent(row.account_id, trigger, now)
            stats["sent"] += 1
    elif result.kind == "retry":
        outcome = outbox.mark_retry(row.id, token, result.reply, now)
        stats["retry" if outcome == "retry" else "failed"] += 1
    elif result.kind == "failed":
        outbox.mark_failed(row.id, token, result.reply, now, reply=result.reply)
        stats["failed"] += 1
    else:
        outbox.mark_uncertain(row.id, token, result.reply, now)
        stats["uncertain"] += 1


def _ring_later(now):
    """A retry is due after its backoff; schedule a job for then (the sweep also finds it)."""
    try:
        enqueue_send_jobs(1, now + max(outbox.retry_delay(1), CONNECT_RETRY), now)
    except Exception:  # noqa: BLE001 - the sweep is the safety net
        log.warning("could not schedule the retry job; the tick's sweep will pick it up")
