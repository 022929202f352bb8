"""The outbox state machine: the ONLY code that changes OutboxMessage.state.

Every transition is one conditional UPDATE (``WHERE state = <expected>``), so
two staff members, two workers or a worker and a staff member racing on the
same message cannot both win: the loser's UPDATE matches no row.

Sending is two-step so a killed worker leaves at most ONE message in doubt:
``claim_due_batch`` reserves approved rows for a worker (claim token, state
stays ``approved``; a reservation lapses after SENDING_LEASE_SECONDS), then
``mark_sending`` flips one reserved row to ``sending`` right before its SMTP
transaction. Only a row in ``sending`` can have reached the receiver, and a
``sending`` row whose lease ran out becomes ``uncertain``, never re-sent
silently.

UI-facing transitions commit; the send-path marks (mark_*) do not, so the
worker can record one message's outcome and start the next in one commit.
"""
import logging
import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import DateTime, String, Text, and_, bindparam, func, insert, or_, select, update

from extensions import db
from models import DeliveryEvent, OutboxMessage
from models.outbox import STATES

log = logging.getLogger(__name__)
T = OutboxMessage.__table__
M = T.c

# States that count as "this contact was (or is about to be) emailed" for the
# frequency controls. Failed messages never reached the person, so they do not
# hold the next one back; suppressed/rejected/cancelled never went out.
COUNTED_STATES = ("pending_approval", "approved", "sending", "sent", "uncertain")
WAITING_STATES = ("pending_approval", "approved")
_CHUNK = 5000  # ids per IN (...) list; well under every driver's parameter limit


def _chunks(ids):
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _cfg(name, default=None):
    return current_app.config.get(name, default)


def _lease(now: datetime) -> datetime:
    return now - timedelta(seconds=int(_cfg("SENDING_LEASE_SECONDS", 600)))


def due_condition(now: datetime):
    """Approved, hold over, send time come, backoff over, not reserved by a live claim."""
    return and_(
        M.state == "approved",
        or_(M.hold_until.is_(None), M.hold_until <= now),
        or_(M.send_after.is_(None), M.send_after <= now),
        or_(M.next_attempt_at.is_(None), M.next_attempt_at <= now),
        or_(M.claim_token.is_(None), M.claimed_at <= _lease(now)),
    )


def _exec(stmt, params=None):
    """Core execution on the session's connection/transaction (no ORM bookkeeping)."""
    return db.session.connection().execute(stmt, params)


def _update_many(ids, where, values) -> int:
    changed = 0
    for chunk in _chunks(ids):
        stmt = update(T).where(M.id.in_(chunk), where).values(**values)
        changed += _exec(stmt).rowcount
    return changed


def suppress_for_unsubscribe(contact_id: int, now: datetime) -> int:
    """Waiting or approved (not yet sending) emails of a contact who just unsubscribed
    -> suppressed "unsubscribed"; a claimed one then fails mark_sending and is not sent.
    The caller commits."""
    stmt = (update(T)
            .where(M.contact_id == contact_id, M.state.in_(("pending_approval", "approved")))
            .values(state="suppressed", reason="unsubscribed", claim_token=None, updated_at=now))
    return _exec(stmt).rowcount


# --------------------------------------------------------------- staff actions
def approve(message_ids, staff_id, now: datetime) -> int:
    """pending_approval -> approved, recording who and when; the send is held for
    APPROVAL_HOLD_MINUTES (unapprove works until then). Schedules the send with
    RQ at max(hold_until, send_after); the tick's sweep is the safety net.
    Returns how many messages changed state."""
    hold_until = now + timedelta(minutes=int(_cfg("APPROVAL_HOLD_MINUTES", 10)))
    values = dict(state="approved", approved_by_id=staff_id, approved_at=now,
                  hold_until=hold_until, claim_token=None, updated_at=now)
    changed = _update_many(message_ids, M.state == "pending_approval", values)
    db.session.commit()
    if changed:
        _schedule_sends(and_(M.approved_at == now, M.approved_by_id == staff_id), now)
    return changed


def approve_all_for_trigger(trigger_id, staff_id, now: datetime) -> int:
    """Approve every message of one trigger that waits for approval."""
    hold_until = now + timedelta(minutes=int(_cfg("APPROVAL_HOLD_MINUTES", 10)))
    stmt = (update(T)
            .where(M.trigger_id == trigger_id, M.state == "pending_approval")
            .values(state="approved", approved_by_id=staff_id, approved_at=now,
                    hold_until=hold_until, claim_token=None, updated_at=now))
    changed = _exec(stmt).rowcount
    db.session.commit()
    if changed:
        _schedule_sends(and_(M.trigger_id == trigger_id, M.approved_at == now), now)
    return changed


def unapprove(message_ids, now: datetime) -> int:
    """approved -> pending_approval, only while the hold runs and no worker has
    reserved the message. A claim that committed first wins; this then changes 0."""
    values = dict(state="pending_approval", approved_by_id=None, approved_at=None,
                  hold_until=None, updated_at=now)
    where = and_(M.state == "approved", M.hold_until.is_not(None), M.hold_until > now,
                 M.claim_token.is_(None))
    changed = _update_many(message_ids, where, values)
    db.session.commit()
    return changed


def reject(message_ids, staff_id, now: datetime) -> int:
    """pending_approval -> rejected (who and when are recorded)."""
    values = dict(state="rejected", rejected_at=now, rejected_by_id=staff_id,
                  reason="rejected by staff", updated_at=now)
    changed = _update_many(message_ids, M.state == "pending_approval", values)
    db.session.commit()
    return changed


def cancel_waiting_for_trigger(trigger_id, now: datetime, reason: str = "trigger deactivated") -> int:
    """pending_approval / unreserved approved -> cancelled (trigger deleted or
    deactivated with "cancel waiting messages"). Reserved rows are already
    being sent and are left alone."""
    stmt = (update(T)
            .where(M.trigger_id == trigger_id,
                   or_(M.state == "pending_approval",
                       and_(M.state == "approved",
                            or_(M.claim_token.is_(None), M.claimed_at <= _lease(now)))))
            .values(state="cancelled", reason=reason, claim_token=None, updated_at=now))
    changed = _exec(stmt).rowcount
    db.session.commit()
    return changed


def resend_uncertain(message_ids, staff_id, now: datetime) -> int:
    """uncertain -> approved (staff decided a possible duplicate is acceptable).
    No hold: staff just made the decision explicitly. Sends right away."""
    values = dict(state="approved", approved_by_id=staff_id, approved_at=now, hold_until=None,
                  claim_token=None, claimed_at=None, next_attempt_at=None,
                  reason=None, updated_at=now)
    changed = _update_many(message_ids, M.state == "uncertain", values)
    db.session.commit()
    if changed:
        _schedule_sends(and_(M.approved_at == now, M.approved_by_id == staff_id), now)
    return changed


def dismiss_uncertain(message_ids, staff_id, now: datetime) -> int:
    """uncertain -> failed with reason "dismissed by staff" (never sent again)."""
    values = dict(state="failed", failed_at=now, rejected_by_id=staff_id,
                  reason="dismissed by staff", claim_token=None, updated_at=now)
    changed = _update_many(message_ids, M.state == "uncertain", values)
    db.session.commit()
    return changed


# ------------------------------------------------------------------ send path
def claim_due_batch(now: datetime, limit: int) -> tuple[str, list[int]]:
    """Reserve up to `limit` due messages for this worker; commits.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` inside one UPDATE, so
    concurrent workers take disjoint batches without waiting. SQLite (one
    writer at a time): a conditional ``UPDATE ... WHERE state='approved' AND
    id IN (...)`` stamped with a fresh token, then read back by token.
    Returns (claim_token, ids in id order); ids is empty when nothing is due.
    """
    token = uuid.uuid4().hex
    due = due_condition(now)
    pick = select(M.id).where(due).order_by(M.id).limit(limit)
    values = dict(claim_token=token, claimed_at=now, updated_at=now)
    if db.engine.dialect.name == "postgresql":
        # A CTE, not "id IN (subquery)": PostgreSQL may re-run an IN subquery
        # and update more than `limit` rows; a locking CTE is evaluated once.
        picked = pick.with_for_update(skip_locked=True).cte("picked")
        stmt = update(T).where(M.id == picked.c.id)
        ids = _exec(stmt.values(**values).returning(M.id)).scalars().all()
    else:
        stmt = update(T).where(M.id.in_(pick.scalar_subquery()), due).values(**values)
        _exec(stmt)
        ids = db.session.execute(select(M.id).where(M.claim_token == token)).scalars().all()
    db.session.commit()
    return token, sorted(ids)


def fail_unrendered(message_id, reason: str, now: datetime) -> bool:
    """A waiting message whose rendering failed for its recipient -> failed
    with the error (that message only, never the run). Caller commits."""
    stmt = (update(T).where(M.id == message_id, M.state.in_(WAITING_STATES), M.subject.is_(None))
            .values(state="failed", failed_at=now, reason=reason[:2000], last_error=reason[:2000],
                    claim_token=None, updated_at=now))
    return _exec(stmt).rowcount == 1


# The send path runs these once per message: built once, executed with parameters
# (statement construction would cost as much as the database round trip).
_MARK_SENDING = (update(T).where(M.id == bindparam("p_id"), M.claim_token == bindparam("p_token"),
                                 M.state == "approved")
                 .values(state="sending", claimed_at=bindparam("p_now"), updated_at=bindparam("p_now")))
# Also from `uncertain` with our token: a worker slower than the lease still
# knows the truth when the 250 reply comes (and staff have not acted yet).
_MARK_SENT = (update(T).where(M.id == bindparam("p_id"), M.claim_token == bindparam("p_token"),
                              M.state.in_(("sending", "uncertain")))
              .values(state="sent", sent_at=bindparam("p_now"), smtp_reply=bindparam("p_reply"),
                      updated_at=bindparam("p_now")))
_EVENT = insert(DeliveryEvent.__table__).from_select(
    ["message_id", "trigger_id", "contact_id", "kind", "at", "detail"],
    select(M.id, M.trigger_id, M.contact_id, bindparam("p_kind", type_=String),
           bindparam("p_now", type_=DateTime), bindparam("p_detail", type_=Text))
    .where(M.id == bindparam("p_id")))


def mark_sending(message_id, claim_token, now: datetime) -> bool:
    """Reserved approved -> sending, right before its SMTP transaction (caller commits).
    False when the reservation was lost (lease ran out and another worker took it)."""
    params = {"p_id": message_id, "p_token": claim_token, "p_now": now}
    return _exec(_MARK_SENDING, params).rowcount == 1


def _delivery_event(message_id, kind, now, detail):
    _exec(_EVENT, {"p_id": message_id, "p_kind": kind, "p_now": now, "p_detail": detail})


def mark_sent(message_id, claim_token, reply: str, now: datetime) -> bool:
    """sending -> sent with the server's reply, plus a "delivered" event (caller commits)."""
    params = {"p_id": message_id, "p_token": claim_token, "p_now": now, "p_reply": reply[:2000]}
    ok = _exec(_MARK_SENT, params).rowcount == 1
    if ok:
        _delivery_event(message_id, "delivered", now, reply[:2000])
    return ok


def mark_failed(message_id, claim_token, reason: str, now: datetime, reply: str | None = None) -> bool:
    """sending (or still-reserved approved, e.g. the message cannot be built) ->
    failed with the reason, plus a "failed" event (caller commits)."""
    stmt = (update(T)
            .where(M.id == message_id, M.claim_token == claim_token,
                   M.state.in_(("sending", "approved")))
            .values(state="failed", failed_at=now, reason=reason[:2000], last_error=reason[:2000],
                    smtp_reply=reply, updated_at=now))
    ok = _exec(stmt).rowcount == 1
    if ok:
        _delivery_event(message_id, "failed", now, reason[:2000])
    return ok


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the n-th temporary failure: 1, 2, 4, 8 ... minutes, at most 1 hour."""
    return timedelta(seconds=min(3600, 60 * 2 ** max(0, attempts - 1)))


def mark_retry(message_id, claim_token, reply: str, now: datetime) -> str:
    """A temporary (4xx) failure: sending -> approved with attempts + 1 and a
    backoff, or -> failed once SEND_MAX_ATTEMPTS is reached. Caller commits.
    Returns "retry", "failed" or "lost" (the row was not ours any more)."""
    row = db.session.execute(
        select(M.attempts).where(M.id == message_id, M.claim_token == claim_token,
                                 M.state == "sending")).first()
    if row is None:
        return "lost"
    attempts = row.attempts + 1
    if attempts >= int(_cfg("SEND_MAX_ATTEMPTS", 5)):
        reason = f"gave up after {attempts} attempts: {reply}"
        stmt = (update(T)
                .where(M.id == message_id, M.claim_token == claim_token, M.state == "sending")
                .values(attempts=attempts))
        _exec(stmt)
        return "failed" if mark_failed(message_id, claim_token, reason, now, reply) else "lost"
    stmt = (update(T)
            .where(M.id == message_id, M.claim_token == claim_token, M.state == "sending")
            .values(state="approved", attempts=attempts, next_attempt_at=now + retry_delay(attempts),
                    last_error=reply[:2000], claim_token=None, updated_at=now))
    changed = _exec(stmt).rowcount
    return "retry" if changed == 1 else "lost"


def mark_not_sent(message_id, claim_token, now: datetime) -> bool:
    """sending -> approved, still reserved by this worker: the connection was
    lost before the message content went out, so nothing was delivered and the
    worker may try it again on a new connection (caller commits)."""
    stmt = (update(T)
            .where(M.id == message_id, M.claim_token == claim_token, M.state == "sending")
            .values(state="approved", updated_at=now))
    return _exec(stmt).rowcount == 1


def mark_uncertain(message_id, claim_token, reason: str, now: datetime) -> bool:
    """sending -> uncertain: the connection was lost after the message data went
    out, so it may have been delivered. Staff decide (resend or dismiss)."""
    stmt = (update(T)
            .where(M.id == message_id, M.claim_token == claim_token, M.state == "sending")
            .values(state="uncertain", reason=reason[:2000], last_error=reason[:2000], updated_at=now))
    return _exec(stmt).rowcount == 1


def release_claim(claim_token, now: datetime, retry_after: timedelta | None = None) -> int:
    """Give back reserved rows that were never started (batch stopped early, or
    the connection failed before DATA). Optional retry_after delays them. Commits."""
    values = dict(claim_token=None, updated_at=now)
    if retry_after is not None:
        values["next_attempt_at"] = now + retry_after
    stmt = (update(T)
            .where(M.claim_token == claim_token, M.state == "approved").values(**values))
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


# ------------------------------------------------------------------- queries
def counts_by_state(filters: dict | None = None) -> dict:
    """{state: count} for every state (zeros included). filters: trigger_id, account_id."""
    filters = filters or {}
    stmt = select(M.state, func.count()).group_by(M.state)
    if filters.get("trigger_id"):
        stmt = stmt.where(M.trigger_id == int(filters["trigger_id"]))
    if filters.get("account_id"):
        stmt = stmt.where(M.account_id == int(filters["account_id"]))
    counts = dict.fromkeys(STATES, 0)
    counts.update({state: n for state, n in db.session.execute(stmt)})
    return counts


def count_due(now: datetime) -> int:
    """How many messages could be claimed right now (the sweep's doorbell count)."""
    return db.session.execute(select(func.count()).where(due_condition(now))).scalar_one()


def schedule_auto_sends(trigger_id, now: datetime) -> None:
    """Ring the doorbell for the auto-approved messages a generation run just made."""
    _schedule_sends(and_(M.trigger_id == trigger_id, M.approved_at == now,
                         M.approved_by_id.is_(None)), now)


def _schedule_sends(where, now: datetime) -> None:
    """Ring the doorbell: enqueue send jobs for the approved rows matching
    `where`, at max(hold_until, send_after, next_attempt_at). Redis trouble is
    logged, never raised: the tick's sweep finds due rows from the database."""
    from engine.sending import enqueue_send_jobs

    stmt = (select(M.hold_until, M.send_after, M.next_attempt_at, func.count())
            .where(where, M.state == "approved")
            .group_by(M.hold_until, M.send_after, M.next_attempt_at))
    try:
        for hold_until, send_after, next_attempt_at, n in db.session.execute(stmt).all():
            when = max(t for t in (hold_until, send_after, next_attempt_at, now) if t is not None)
            enqueue_send_jobs(n, when, now)
    except Exception:  # noqa: BLE001 - the database stays the source of truth
        log.exception("could not schedule send jobs; the tick's sweep will send them")
