"""The send path of the outbox state machine: claiming, and the marks a worker
makes around each SMTP transaction (engine/outbox/__init__.py re-exports the
ones other code calls; the staff-facing transitions live there).

Sending is two-step so a killed worker leaves at most ONE message in doubt:
``claim_due_batch`` reserves approved rows for a worker (claim token, state
stays ``approved``; a reservation lapses after SENDING_LEASE_SECONDS), then
``mark_sending`` flips one reserved row to ``sending`` right before its SMTP
transaction. Only a row in ``sending`` can have reached the receiver, and a
``sending`` row whose lease ran out becomes ``uncertain``, never re-sent
silently.

The marks (mark_*) do not commit: the send loop commits each at its exact
point (engine/sending/loop.py). They take an optional `conn`: the send loop
runs them on one connection of its own for a whole batch (a session gives
its connection back to the pool -- and pings it again -- on every commit);
without it they run in the Flask-SQLAlchemy session.
"""
import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import (BigInteger, DateTime, String, Text, and_, any_, bindparam, insert,
                        literal, literal_column, or_, select, update)
from sqlalchemy.dialects.postgresql import ARRAY

from extensions import db
from models import DeliveryEvent, OutboxMessage, Trigger

T = OutboxMessage.__table__
M = T.c
TRIGGER_INACTIVE = "its trigger was not active when it was due to be sent"


def _cfg(name, default=None):
    return current_app.config.get(name, default)


def _lease(now: datetime) -> datetime:
    return now - timedelta(seconds=int(_cfg("SENDING_LEASE_SECONDS", 600)))


def due_condition(now: datetime):
    """Approved, hold over, send time come, backoff over, not reserved by a live claim.
    'approved' is written into the SQL so that a prepared statement's plan can
    still use the partial index ix_outbox_approved."""
    return and_(
        M.state == literal_column("'approved'"),
        or_(M.hold_until.is_(None), M.hold_until <= now),
        or_(M.send_after.is_(None), M.send_after <= now),
        or_(M.next_attempt_at.is_(None), M.next_attempt_at <= now),
        or_(M.claim_token.is_(None), M.claimed_at <= _lease(now)),
    )


def id_in(ids):
    """OutboxMessage.id IN (ids). On PostgreSQL one array parameter: an IN list
    of 200 placeholders is a new statement for every batch, parsed by the
    driver and planned by the server each time."""
    ids = [int(i) for i in ids]
    if db.engine.dialect.name == "postgresql":
        return M.id == any_(literal(ids, ARRAY(BigInteger)))
    return M.id.in_(ids)


def _exec(stmt, params=None, conn=None):
    """Core execution (no ORM bookkeeping) on `conn`, or on the session's connection/transaction."""
    return (conn if conn is not None else db.session.connection()).execute(stmt, params)


def _trigger_sends():
    """The message's trigger is active, or staff deactivated it and kept its emails.
    A correlated EXISTS, not "trigger_id IN (...)": with the IN list SQLite scans
    the whole outbox instead of the index of approved rows."""
    return (select(Trigger.id)
            .where(Trigger.id == M.trigger_id,
                   or_(Trigger.status == "active", Trigger.keep_queued_when_inactive.is_(True)))
            .exists())


def due_pick(now: datetime, limit: int):
    """The ids of the first `limit` due messages whose trigger sends, in id order
    (what a claim takes)."""
    return select(M.id).where(due_condition(now), _trigger_sends()).order_by(M.id).limit(limit)


def cancel_for_stopped_triggers(now: datetime) -> int:
    """Approved, unreserved messages of a trigger that is not active (and whose
    emails staff did not keep) -> cancelled "trigger_inactive": a trigger
    deactivated by the API, or one stopped while its tick was still writing.
    Caller commits."""
    stmt = (update(T).where(M.state == literal_column("'approved'"),
                            or_(M.claim_token.is_(None), M.claimed_at <= _lease(now)),
                            ~_trigger_sends())
            .values(state="cancelled", reason_code="trigger_inactive", reason=TRIGGER_INACTIVE,
                    claim_token=None, updated_at=now))
    return _exec(stmt).rowcount


def claim_due_batch(now: datetime, limit: int) -> tuple[str, list[int]]:
    """Reserve up to `limit` due messages for this worker; commits.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` inside one UPDATE, so
    concurrent workers take disjoint batches without waiting. SQLite (one
    writer at a time): a conditional ``UPDATE ... WHERE state='approved' AND
    id IN (...)`` stamped with a fresh token, then read back by token.
    Only messages whose trigger is active (or was deactivated with its
    emails kept) are claimed; the others are cancelled first.
    Returns (claim_token, ids in id order); ids is empty when nothing is due.
    """
    token = uuid.uuid4().hex
    cancel_for_stopped_triggers(now)  # refused at claim time, in the same transaction
    due = and_(due_condition(now), _trigger_sends())
    pick = due_pick(now, limit)
    values = dict(claim_token=token, claimed_at=now, updated_at=now)
    if db.engine.dialect.name == "postgresql":
        # A CTE, not "id IN (subquery)": PostgreSQL may re-run an IN subquery
        # and update more than `limit` rows; a locking CTE is evaluated once.
        picked = pick.with_for_update(skip_locked=True).cte("picked")
        stmt = update(T).where(M.id == picked.c.id)
        ids = _exec(stmt.values(**values).returning(M.id)).scalars().all()
    else:
        stmt = update(T).where(M.id.in_(pick.scalar_subquery()), due).values(**values)
        if db.engine.dialect.update_returning:
            ids = _exec(stmt.returning(M.id)).scalars().all()
        else:  # SQLite before 3.35
            _exec(stmt)
            ids = db.session.execute(select(M.id).where(M.claim_token == token)).scalars().all()
    db.session.commit()
    return token, sorted(ids)


def fail_unrendered(failures, now: datetime) -> None:
    """Waiting messages whose rendering failed for their recipient -> failed with
    the error (those messages only, never the run). `failures`: (trigger id,
    message id, reason) tuples, one statement for all; trigger_id lets PostgreSQL
    seek ix_outbox_unrendered (see engine/render/messages.py). Caller commits."""
    if not failures:
        return
    # or_ not IN: an expanding IN cannot run as executemany.
    stmt = (update(T).where(M.trigger_id == bindparam("_trigger_id"), M.id == bindparam("_id"),
                            or_(M.state == "pending_approval", M.state == "approved"),
                            M.subject.is_(None))
            .values(state="failed", failed_at=now, reason=bindparam("_reason"),
                    last_error=bindparam("_reason"), claim_token=None, updated_at=now))
    db.session.connection().execute(stmt, [
        {"_trigger_id": trigger_id, "_id": message_id, "_reason": reason[:2000]}
        for trigger_id, message_id, reason in failures])


# The statements every message runs are built once (with bind parameters):
# building and cache-keying a statement costs more than SQLite running it.
_MINE = and_(M.id == bindparam("message_id"), M.claim_token == bindparam("token"))
_TO_SENDING = (update(T).where(_MINE, M.state == "approved")
               .values(state="sending", claimed_at=bindparam("now"), updated_at=bindparam("now")))
_TO_SENT = (update(T).where(_MINE, M.state.in_(("sending", "uncertain")))
            .values(state="sent", sent_at=bindparam("now"), smtp_reply=bindparam("reply"),
                    updated_at=bindparam("now")))
_DELIVERY_EVENT = insert(DeliveryEvent.__table__).from_select(
    ["message_id", "trigger_id", "contact_id", "kind", "at", "detail"],
    select(M.id, M.trigger_id, M.contact_id, bindparam("kind", type_=String),
           bindparam("now", type_=DateTime), bindparam("detail", type_=Text))
    .where(M.id == bindparam("message_id")))


def mark_sending(message_id, claim_token, now: datetime, conn=None) -> bool:
    """Reserved approved -> sending, right before its SMTP transaction (caller commits).
    False when the reservation was lost (lease ran out and another worker took it)."""
    params = dict(message_id=message_id, token=claim_token, now=now)
    return _exec(_TO_SENDING, params, conn).rowcount == 1


def _delivery_event(message_id, kind, now, detail, conn=None):
    _exec(_DELIVERY_EVENT, dict(message_id=message_id, kind=kind, now=now, detail=detail), conn)


def mark_sent(message_id, claim_token, reply: str, now: datetime, conn=None) -> bool:
    """sending -> sent with the server's reply, plus a "delivered" event (caller commits).
    Also from `uncertain` with our token: a worker slower than the lease still
    knows the truth when the 250 reply comes (and staff have not acted yet)."""
    params = dict(message_id=message_id, token=claim_token, now=now, reply=reply[:2000])
    ok = _exec(_TO_SENT, params, conn).rowcount == 1
    if ok:
        _delivery_event(message_id, "delivered", now, reply[:2000], conn)
    return ok


def mark_failed(message_id, claim_token, reason: str, now: datetime, reply: str | None = None,
                conn=None) -> bool:
    """sending (or still-reserved approved, e.g. the message cannot be built) ->
    failed with the reason, plus a "failed" event (caller commits)."""
    stmt = (update(T)
            .where(M.id == message_id, M.claim_token == claim_token,
                   M.state.in_(("sending", "approved")))
            .values(state="failed", failed_at=now, reason=reason[:2000], last_error=reason[:2000],
                    smtp_reply=reply, updated_at=now))
    ok = _exec(stmt, None, conn).rowcount == 1
    if ok:
        _delivery_event(message_id, "failed", now, reason[:2000], conn)
    return ok


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the n-th temporary failure: 1, 2, 4, 8 ... minutes, at most 1 hour."""
    return timedelta(seconds=min(3600, 60 * 2 ** max(0, attempts - 1)))


def mark_retry(message_id, claim_token, reply: str, now: datetime, conn=None) -> str:
    """A temporary (4xx) failure: sending -> approved with attempts + 1 and a
    backoff, or -> failed once SEND_MAX_ATTEMPTS is reached. Caller commits.
    Returns "retry", "failed" or "lost" (the row was not ours any more)."""
    mine = and_(M.id == message_id, M.claim_token == claim_token, M.state == "sending")
    row = _exec(select(M.attempts).where(mine), None, conn).first()
    if row is None:
        return "lost"
    attempts = row.attempts + 1
    if attempts >= int(_cfg("SEND_MAX_ATTEMPTS", 5)):
        reason = f"gave up after {attempts} attempts: {reply}"
        _exec(update(T).where(mine).values(attempts=attempts), None, conn)
        return "failed" if mark_failed(message_id, claim_token, reason, now, reply, conn) else "lost"
    stmt = (update(T).where(mine)
            .values(state="approved", attempts=attempts, next_attempt_at=now + retry_delay(attempts),
                    last_error=reply[:2000], claim_token=None, updated_at=now))
    return "retry" if _exec(stmt, None, conn).rowcount == 1 else "lost"


def mark_not_sent(message_id, claim_token, now: datetime, conn=None) -> bool:
    """sending -> approved, still reserved by this worker: the connection was
    lost before the message content went out, so nothing was delivered and the
    worker may try it again on a new connection (caller commits)."""
    stmt = (update(T)
            .where(M.id == message_id, M.claim_token == claim_token, M.state == "sending")
            .values(state="approved", updated_at=now))
    return _exec(stmt, None, conn).rowcount == 1


def mark_uncertain(message_id, claim_token, reason: str, now: datetime, conn=None) -> bool:
    """sending -> uncertain: the connection was lost after the message data went
    out, so it may have been delivered. Staff decide (resend or dismiss)."""
    stmt = (update(T)
            .where(M.id == message_id, M.claim_token == claim_token, M.state == "sending")
            .values(state="uncertain", reason=reason[:2000], last_error=reason[:2000], updated_at=now))
    return _exec(stmt, None, conn).rowcount == 1


def release_claim(claim_token, ids, now: datetime, retry_after: timedelta | None = None) -> int:
    """Give back the rows of this claim (`ids`: the batch) that were never started
    (batch stopped early, or the connection failed before DATA). Optional
    retry_after delays them. Commits."""
    values = dict(claim_token=None, updated_at=now)
    if retry_after is not None:
        values["next_attempt_at"] = now + retry_after
    # By id: claim_token has no index, and a scan per batch grows with the outbox.
    stmt = (update(T).where(id_in(ids), M.claim_token == claim_token,
                            M.state == "approved").values(**values))
    changed = _exec(stmt).rowcount
    db.session.commit()
    return changed


def expire_stuck_sending(now: datetime) -> int:
    """sending rows older than SENDING_LEASE_SECONDS -> uncertain (their worker
    died mid-send). Never re-sent silently. Commits; returns how many."""
    lease = int(_cfg("SENDING_LEASE_SECONDS", 600))
    stmt = (update(T)
            .where(M.state == "sending", M.claimed_at <= now - timedelta(seconds=lease))
            .values(state="uncertain", updated_at=now,
                    reason=f"no outcome recorded within {lease} s of sending (worker stopped "
                           "mid-send); it may or may not have been delivered"))
    changed = _exec(stmt).rowcount
    db.session.commit()
    return changed
