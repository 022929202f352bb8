"""The send-time rule: engine.outbox's Python twins (sends_at, is_due, can_unapprove,
sends_at_order) say what the claim's SQL (due_condition) and unapprove() will do."""
from datetime import datetime, timedelta

from sqlalchemy import select

from engine import outbox
from extensions import db
from models import OutboxMessage

NOW = datetime(2026, 1, 5, 9, 0, 0)
MIN = timedelta(minutes=1)


def _cases(make, app):
    lease = timedelta(seconds=int(app.config.get("SENDING_LEASE_SECONDS", 600)))
    trigger = make.trigger()
    rows = {
        "no times": dict(),
        "hold over": dict(hold_until=NOW - MIN),
        "hold ends now": dict(hold_until=NOW),
        "hold running": dict(hold_until=NOW + MIN),
        "send time not come": dict(hold_until=NOW - MIN, send_after=NOW + MIN),
        "send time come": dict(hold_until=NOW - 2 * MIN, send_after=NOW - MIN),
        "backoff running": dict(next_attempt_at=NOW + MIN),
        "backoff over": dict(send_after=NOW - MIN, next_attempt_at=NOW - MIN),
        "reserved by a live claim": dict(claim_token="t", claimed_at=NOW - MIN),
        "claim lease ran out": dict(claim_token="t", claimed_at=NOW - lease - MIN),
        "auto-send, nothing set": dict(approved_at=NOW),
    }
    ids = {name: make.outbox_message(trigger=trigger, state="approved", **kw).id
           for name, kw in rows.items()}
    for state in ("pending_approval", "sending", "sent", "suppressed"):
        ids[state] = make.outbox_message(trigger=trigger, state=state).id
    return ids


def test_is_due_agrees_with_the_claims_due_condition(app, make):
    ids = _cases(make, app)
    due_in_sql = set(db.session.scalars(select(OutboxMessage.id).where(outbox.due_condition(NOW))))
    messages = {name: db.session.get(OutboxMessage, i) for name, i in ids.items()}
    due_in_python = {m.id for m in messages.values() if outbox.is_due(m, NOW)}
    assert due_in_python == due_in_sql
    names = {name for name, m in messages.items() if m.id in due_in_sql}
    assert names == {"no times", "hold over", "hold ends now", "send time come", "backoff over",
                     "claim lease ran out", "auto-send, nothing set"}


def test_sends_at_is_the_latest_of_hold_send_time_and_backoff(app, make):
    ids = _cases(make, app)
    m = {name: db.session.get(OutboxMessage, i) for name, i in ids.items()}
    assert outbox.sends_at(m["no times"]) is None
    assert outbox.sends_at(m["send time not come"]) == NOW + MIN
    assert outbox.sends_at(m["backoff over"]) == NOW - MIN
    # For an unreserved approved message, "due" is exactly "its send time has come".
    for name, message in m.items():
        if message.state == "approved" and message.claim_token is None:
            at = outbox.sends_at(message)
            assert outbox.is_due(message, NOW) == (at is None or at <= NOW), name


def test_the_approved_list_is_ordered_by_sends_at(app, make):
    trigger = make.trigger()
    made = [make.outbox_message(trigger=trigger, state="approved", created_at=NOW - 5 * MIN, **kw)
            for kw in (dict(send_after=NOW + 3 * MIN), dict(hold_until=NOW + MIN),
                       dict(next_attempt_at=NOW + 2 * MIN, hold_until=NOW - MIN), dict())]
    ordered = db.session.scalars(select(OutboxMessage).where(OutboxMessage.trigger_id == trigger.id)
                                 .order_by(outbox.sends_at_order(), OutboxMessage.id)).all()
    assert [m.id for m in ordered] == [made[3].id, made[1].id, made[2].id, made[0].id]
    assert [outbox.sends_at(m) for m in ordered] == [None, NOW + MIN, NOW + 2 * MIN, NOW + 3 * MIN]


def test_can_unapprove_agrees_with_unapprove(app, make):
    ids = _cases(make, app)
    messages = [db.session.get(OutboxMessage, i) for i in ids.values()]
    shown = {m.id for m in messages if outbox.can_unapprove(m, NOW)}
    changed = {i for i in ids.values() if outbox.unapprove([i], NOW)}
    assert shown == changed == {ids["hold running"]}
