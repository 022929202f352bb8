"""The outbox state machine (with engine/outbox/send_states.py): the ONLY code that
changes OutboxMessage.state.

Every transition is one conditional UPDATE (``WHERE state = <expected>``), so
two staff members, two workers or a worker and a staff member racing on the
same message cannot both win: the loser's UPDATE matches no row.

The send path (claiming, mark_sending/sent/failed/retry/..., the sweep of
stuck `sending` rows) lives in send_states.py; its transitions are re-exported here;
together the two modules are the state machine. The transitions here do not
commit (engine/__init__.py): the orchestrator commits, then rings the
doorbell for what it approved (ring_approved_sends), so a worker woken by
the ring finds the rows committed.

A stopped message carries a reason code (models.outbox.REASON_LABELS) and,
in `reason`, the detail staff read.
"""
import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from engine.outbox.send_states import TRIGGER_INACTIVE, M, T, _cfg, _exec, _lease, due_condition
from engine.outbox.send_states import (  # noqa: F401 - the send path's transitions, re-exported
    claim_due_batch, due_pick, expire_stuck_sending, fail_unrendered, mark_failed, mark_retry,
    mark_sending, mark_sent, mark_uncertain, retry_delay)
from engine.ports import doorbell
from extensions import db
from models.outbox import STATES

log = logging.getLogger(__name__)

# States that count as "this contact was (or is about to be) emailed" for the
# frequency controls. Failed messages never reached the person, so they do not
# hold the next one back; suppressed/rejected/cancelled never went out.
COUNTED_STATES = ("pending_approval", "approved", "sending", "sent", "uncertain")
# Waiting in the outbox: for approval, or approved and not yet being sent.
WAITING_STATES = ("pending_approval", "approved")
# Why a trigger's waiting messages were cancelled: code -> detail.
CANCEL_REASONS = {"trigger_deactivated": "trigger deactivated", "trigger_deleted": "trigger deleted",
                  "trigger_inactive": TRIGGER_INACTIVE}
_CHUNK = 5000  # ids per IN (...) list; well under every driver's parameter limit


def _chunks(ids):
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _update_many(ids, where, values) -> int:
    changed = 0
    for chunk in _chunks(ids):
        stmt = update(T).where(M.id.in_(chunk), where).values(**values)
        changed += _exec(stmt).rowcount
    return changed


def suppress_for_unsubscribe(contact_id: int, now: datetime) -> int:
    """Waiting or approved (not yet sending) emails of a contact who just unsubscribed
    -> suppressed "unsubscribed"; a claimed one then fails mark_sending and is not sent."""
    stmt = (update(T)
            .where(M.contact_id == contact_id, M.state.in_(WAITING_STATES))
            .values(state="suppressed", reason_code="unsubscribed", reason="unsubscribed",
                    claim_token=None, updated_at=now))
    return _exec(stmt).rowcount


# Built once: a burst of webhook bounces runs it per record.
_SUPPRESS_FOR_BOUNCE = (
    update(T).where(M.contact_id == bindparam("bounced_contact"), M.state.in_(WAITING_STATES))
    .values(state="suppressed", reason_code="bounced", reason="address bounced",
            claim_token=None, updated_at=bindparam("bounced_at")))


def suppress_for_bounce(contact_id: int, now: datetime) -> int:
    """Waiting or approved (not yet sending) emails of a contact whose address just
    bounced (engine/bounces/records.py) -> suppressed "bounced"."""
    return _exec(_SUPPRESS_FOR_BOUNCE, {"bounced_contact": contact_id, "bounced_at": now}).rowcount


# ------------------------------------------------------------ the send time
# When an approved message may go (DESIGN.md): the hold has passed, the
# trigger's send time has come and a 4xx backoff is over -- and no live claim
# reserves it. due_condition (send_states.py) is the claim's SQL; these are
# its twins for one loaded row and for ordering a list, so pages say exactly
# what the claim will do.
def sends_at(message) -> datetime | None:
    """The instant an approved message becomes due: the latest of its hold,
    send time and backoff; None when none is set (due as soon as approved)."""
    times = [t for t in (message.hold_until, message.send_after, message.next_attempt_at) if t]
    return max(times) if times else None


def is_due(message, now: datetime) -> bool:
    """due_condition for one loaded message: approved, sends_at come, not
    reserved by a claim whose lease still runs."""
    at = sends_at(message)
    return (message.state == "approved" and (at is None or at <= now)
            and (message.claim_token is None
                 or (message.claimed_at is not None and message.claimed_at <= _lease(now))))


def sends_at_order():
    """sends_at as SQL, for ordering a list (a NULL time counts as created_at)."""
    hold = func.coalesce(M.hold_until, M.created_at)
    after = func.coalesce(M.send_after, M.created_at)
    retry = func.coalesce(M.next_attempt_at, M.created_at)
    return case((and_(hold >= after, hold >= retry), hold), (after >= retry, after), else_=retry)


def _unapprovable(now: datetime):
    """Approved by staff, the hold still running, not reserved by a worker."""
    return and_(M.state == "approved", M.hold_until.is_not(None), M.hold_until > now,
                M.claim_token.is_(None))


def can_unapprove(message, now: datetime) -> bool:
    """_unapprovable for one loaded message (the Unapprove button)."""
    return (message.state == "approved" and message.hold_until is not None
            and message.hold_until > now and message.claim_token is None)


# --------------------------------------------------------------- staff actions
def _approval(staff_id, now: datetime) -> dict:
    """The values an approval writes: who and when, and the hold that unapprove works in."""
    hold_until = now + timedelta(minutes=int(_cfg("APPROVAL_HOLD_MINUTES", 10)))
    return dict(state="approved", approved_by_id=staff_id, approved_at=now,
                hold_until=hold_until, claim_token=None, updated_at=now)


def approve(message_ids, staff_id, now: datetime) -> int:
    """pending_approval -> approved, held for APPROVAL_HOLD_MINUTES. After committing,
    the caller rings ring_approved_sends(staff_id, now); the tick's sweep is the
    safety net. Returns how many messages changed state."""
    return _update_many(message_ids, M.state == "pending_approval", _approval(staff_id, now))


def approve_all_for_trigger(trigger_id, staff_id, now: datetime) -> int:
    """Approve every message of one trigger that waits for approval (ring as for approve)."""
    stmt = (update(T).where(M.trigger_id == trigger_id, M.state == "pending_approval")
            .values(**_approval(staff_id, now)))
    return _exec(stmt).rowcount


def unapprove(message_ids, now: datetime) -> int:
    """approved -> pending_approval, only while the hold runs and no worker has
    reserved the message. A claim that committed first wins; this then changes 0."""
    values = dict(state="pending_approval", approved_by_id=None, approved_at=None,
                  hold_until=None, updated_at=now)
    return _update_many(message_ids, _unapprovable(now), values)


def reject(message_ids, staff_id, now: datetime) -> int:
    """pending_approval -> rejected (who and when are recorded)."""
    values = dict(state="rejected", rejected_at=now, rejected_by_id=staff_id,
                  reason_code="rejected", reason="rejected by staff", updated_at=now)
    return _update_many(message_ids, M.state == "pending_approval", values)


def _cancellable(now: datetime):
    """Waiting for approval, or approved and not reserved by a live claim."""
    return or_(M.state == "pending_approval",
               and_(M.state == "approved", or_(M.claim_token.is_(None), M.claimed_at <= _lease(now))))


def waiting_by_state(trigger_id, now: datetime) -> dict:
    """{"pending_approval": n, "approved": m}: the messages of one trigger that
    deactivating or deleting it would cancel."""
    rows = db.session.execute(select(M.state, func.count()).where(
        M.trigger_id == trigger_id, _cancellable(now)).group_by(M.state)).all()
    return {"pending_approval": 0, "approved": 0, **dict(rows)}


def cancel_waiting_for_trigger(trigger_id, now: datetime, code: str = "trigger_deactivated") -> int:
    """pending_approval / unreserved approved -> cancelled (trigger deleted or
    deactivated with "cancel waiting messages"; `code` says which, a key of
    CANCEL_REASONS). Reserved rows are already being sent and are left alone."""
    stmt = (update(T)
            .where(M.trigger_id == trigger_id, _cancellable(now))
            .values(state="cancelled", reason_code=code, reason=CANCEL_REASONS[code],
                    claim_token=None, updated_at=now))
    return _exec(stmt).rowcount


def resend_uncertain(message_ids, staff_id, now: datetime) -> int:
    """uncertain -> approved (staff decided a possible duplicate is acceptable).
    No hold: staff just made the decision explicitly; ring as for approve."""
    values = dict(state="approved", approved_by_id=staff_id, approved_at=now, hold_until=None,
                  claim_token=None, claimed_at=None, next_attempt_at=None,
                  reason_code=None, reason=None, updated_at=now)
    return _update_many(message_ids, M.state == "uncertain", values)


def dismiss_uncertain(message_ids, staff_id, now: datetime) -> int:
    """uncertain -> failed, code "dismissed" (never sent again)."""
    values = dict(state="failed", failed_at=now, rejected_by_id=staff_id,
                  reason_code="dismissed", reason="dismissed by staff", claim_token=None,
                  updated_at=now)
    return _update_many(message_ids, M.state == "uncertain", values)


def ring_approved_sends(staff_id, now: datetime) -> None:
    """Once the orchestrator has committed what approve / approve_all_for_trigger /
    resend_uncertain did for this staff member at `now`: ring for their send jobs."""
    _schedule_sends(and_(M.approved_at == now, M.approved_by_id == staff_id), now)


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


def waiting_count(trigger_id=None) -> int:
    """Messages waiting in the outbox: for approval, or approved and not yet being sent."""
    return _count(M.state.in_(WAITING_STATES), trigger_id)


def awaiting_approval_count(trigger_id=None) -> int:
    """Messages waiting for a person to approve them (the outbox's first tab, the nav badge)."""
    return _count(M.state == "pending_approval", trigger_id)


def waiting_or_sending_count(trigger_id) -> int:
    """Waiting messages plus the ones a worker is sending right now."""
    return _count(M.state.in_(WAITING_STATES + ("sending",)), trigger_id)


def _count(where, trigger_id=None) -> int:
    stmt = select(func.count()).select_from(T).where(where)
    if trigger_id is not None:
        stmt = stmt.where(M.trigger_id == trigger_id)
    return db.session.execute(stmt).scalar_one()


def count_due(now: datetime) -> int:
    """How many messages could be claimed right now (the sweep's doorbell count)."""
    return db.session.execute(select(func.count()).where(due_condition(now))).scalar_one()


def schedule_auto_sends(trigger_id, now: datetime) -> None:
    """Ring the doorbell for the auto-approved messages a generation run made
    (and committed) at `now`."""
    _schedule_sends(and_(M.trigger_id == trigger_id, M.approved_at == now,
                         M.approved_by_id.is_(None)), now)


def _schedule_sends(where, now: datetime) -> None:
    """Ring the doorbell: enqueue send jobs for the approved rows matching
    `where`, at max(hold_until, send_after, next_attempt_at). Redis trouble is
    logged, never raised: the tick's sweep finds due rows from the database."""
    stmt = (select(M.hold_until, M.send_after, M.next_attempt_at, func.count())
            .where(where, M.state == "approved")
            .group_by(M.hold_until, M.send_after, M.next_attempt_at))
    try:
        for hold_until, send_after, next_attempt_at, n in db.session.execute(stmt).all():
            when = max(t for t in (hold_until, send_after, next_attempt_at, now) if t is not None)
            doorbell().send(n, when, now)
    except Exception:  # noqa: BLE001 - the database stays the source of truth
        log.exception("could not schedule send jobs; the tick's sweep will send them")


def mark_for_rerender(trigger_id, now: datetime) -> int:
    """The trigger's message changed and staff chose to re-render what waits:
    its pending_approval / unreserved approved rows lose their rendered
    subject, html and text (one UPDATE), so the render step renders them again
    from the trigger's new content (engine.render.messages.rerender_waiting).
    States, approvals and holds are left as they are; rows a worker has
    reserved for sending are not touched. Returns how many rows."""
    stmt = (update(T)
            .where(M.trigger_id == trigger_id, _cancellable(now), M.subject.is_not(None))
            .values(subject=None, html=None, text=None, updated_at=now))
    return db.session.execute(stmt).rowcount or 0
