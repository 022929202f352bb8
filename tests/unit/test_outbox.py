"""The outbox state machine: every transition is conditional, so races are safe."""
from datetime import datetime, timedelta

from engine import outbox
from extensions import db
from models import DeliveryEvent, OutboxMessage

NOW = datetime(2026, 1, 5, 9, 0, 0)


def _state(mid):
    db.session.expire_all()
    return db.session.get(OutboxMessage, mid)


def _messages(make, n, state="pending_approval", **kw):
    trigger = kw.pop("trigger", None) or make.trigger()
    return trigger, [make.outbox_message(trigger=trigger, state=state, **kw).id for _ in range(n)]


def test_approve_records_who_when_and_starts_the_hold(make):
    staff = make.staff(role="approver")
    _, ids = _messages(make, 2)
    assert outbox.approve(ids, staff.id, NOW) == 2
    msg = _state(ids[0])
    assert (msg.state, msg.approved_by_id, msg.approved_at) == ("approved", staff.id, NOW)
    assert msg.hold_until == NOW + timedelta(minutes=10)
    assert outbox.approve(ids, staff.id, NOW) == 0  # already approved: nothing changes


def test_approve_schedules_a_send_job_at_the_end_of_the_hold(app, make, doorbell):
    staff = make.staff()
    _, ids = _messages(make, 3)
    outbox.approve(ids, staff.id, NOW)
    assert doorbell.rings == []  # approving rings nothing: the orchestrator rings after its commit
    db.session.commit()
    outbox.ring_approved_sends(staff.id, NOW)
    assert doorbell.rings == [("send", {"messages": 3, "at": NOW + timedelta(minutes=10),
                                        "now": NOW, "as_of": None})]


def test_unapprove_only_while_the_hold_runs(make):
    staff = make.staff()
    _, ids = _messages(make, 2)
    outbox.approve(ids, staff.id, NOW)
    assert outbox.unapprove([ids[0]], NOW + timedelta(minutes=9)) == 1
    assert _state(ids[0]).state == "pending_approval"
    assert _state(ids[0]).approved_by_id is None
    assert outbox.unapprove([ids[1]], NOW + timedelta(minutes=10)) == 0
    assert _state(ids[1]).state == "approved"


def test_unapprove_loses_against_a_claim(app, make):
    staff = make.staff()
    _, ids = _messages(make, 1)
    outbox.approve(ids, staff.id, NOW)
    token, claimed = outbox.claim_due_batch(NOW + timedelta(minutes=10), 10)
    assert claimed == ids
    # Even with a clock that says the hold still runs, a reserved row stays approved.
    assert outbox.unapprove(ids, NOW + timedelta(minutes=5)) == 0
    assert outbox.mark_sending(ids[0], token, NOW + timedelta(minutes=10))


def test_auto_send_messages_cannot_be_unapproved(make):
    _, ids = _messages(make, 1, state="approved", approved_at=NOW)
    assert outbox.unapprove(ids, NOW) == 0


def test_reject_and_approve_all_and_cancel(make):
    staff = make.staff()
    trigger, ids = _messages(make, 4)
    assert outbox.reject([ids[0]], staff.id, NOW) == 1
    msg = _state(ids[0])
    assert (msg.state, msg.rejected_by_id, msg.rejected_at) == ("rejected", staff.id, NOW)
    assert outbox.approve([ids[0]], staff.id, NOW) == 0  # rejected is final
    assert outbox.approve_all_for_trigger(trigger.id, staff.id, NOW) == 3
    assert outbox.cancel_waiting_for_trigger(trigger.id, NOW) == 3
    assert {_state(i).state for i in ids[1:]} == {"cancelled"}
    assert _state(ids[0]).state == "rejected"


def test_claim_respects_hold_send_time_and_backoff(app, make):
    app.config["SENDING_LEASE_SECONDS"] = 7200  # the first claim stays reserved throughout
    staff = make.staff()
    _, held = _messages(make, 1)
    outbox.approve(held, staff.id, NOW)
    _, later = _messages(make, 1, state="approved", send_after=NOW + timedelta(hours=1))
    _, backoff = _messages(make, 1, state="approved", next_attempt_at=NOW + timedelta(minutes=2))
    _, due = _messages(make, 1, state="approved")
    _, waiting = _messages(make, 1)
    assert outbox.claim_due_batch(NOW, 10)[1] == due
    assert outbox.count_due(NOW + timedelta(minutes=10)) == 2  # held + backoff
    _, ids = outbox.claim_due_batch(NOW + timedelta(hours=1), 10)
    assert sorted(ids) == sorted(held + later + backoff)
    assert waiting[0] not in ids


def test_two_claims_take_disjoint_batches_and_a_lapsed_claim_is_claimable(app, make):
    _, ids = _messages(make, 5, state="approved")
    t1, first = outbox.claim_due_batch(NOW, 3)
    t2, second = outbox.claim_due_batch(NOW, 3)
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    assert outbox.claim_due_batch(NOW, 3)[1] == []
    lease = app.config["SENDING_LEASE_SECONDS"]
    t3, again = outbox.claim_due_batch(NOW + timedelta(seconds=lease), 10)
    assert sorted(again) == sorted(ids)
    # The first worker lost its reservation: it may not start sending.
    assert not outbox.mark_sending(first[0], t1, NOW + timedelta(seconds=lease))
    assert outbox.mark_sending(first[0], t3, NOW + timedelta(seconds=lease))


def test_send_marks(app, make):
    _, ids = _messages(make, 3, state="approved")
    token, claimed = outbox.claim_due_batch(NOW, 10)
    for mid in claimed:
        assert outbox.mark_sending(mid, token, NOW)
    assert outbox.mark_sent(ids[0], token, "250 OK", NOW)
    assert outbox.mark_failed(ids[1], token, "550 no such user", NOW, reply="550 no such user")
    assert outbox.mark_uncertain(ids[2], token, "connection lost", NOW)
    db.session.commit()
    assert [_state(i).state for i in ids] == ["sent", "failed", "uncertain"]
    assert _state(ids[0]).smtp_reply == "250 OK"
    kinds = sorted(k for (k,) in db.session.query(DeliveryEvent.kind))
    assert kinds == ["delivered", "failed"]
    assert not outbox.mark_sent(ids[0], token, "250 again", NOW)  # already sent: no-op


def test_retry_backs_off_then_gives_up(app, make):
    app.config["SEND_MAX_ATTEMPTS"] = 3
    _, ids = _messages(make, 1, state="approved")
    now = NOW
    for attempt in (1, 2):
        token, claimed = outbox.claim_due_batch(now, 10)
        assert claimed == ids
        outbox.mark_sending(ids[0], token, now)
        assert outbox.mark_retry(ids[0], token, "421 busy", now) == "retry"
        db.session.commit()
        msg = _state(ids[0])
        assert (msg.state, msg.attempts) == ("approved", attempt)
        assert msg.next_attempt_at == now + outbox.retry_delay(attempt)
        assert outbox.claim_due_batch(now, 10)[1] == []  # backing off
        now = msg.next_attempt_at
    token, _ = outbox.claim_due_batch(now, 10)
    outbox.mark_sending(ids[0], token, now)
    assert outbox.mark_retry(ids[0], token, "421 busy", now) == "failed"
    db.session.commit()
    msg = _state(ids[0])
    assert msg.state == "failed" and "3 attempts" in msg.reason and msg.attempts == 3


def test_stuck_sending_becomes_uncertain_and_staff_decide(app, make):
    staff = make.staff()
    _, ids = _messages(make, 3, state="approved")
    token, _ = outbox.claim_due_batch(NOW, 10)
    for mid in ids[:2]:
        outbox.mark_sending(mid, token, NOW)
    db.session.commit()
    lease = app.config["SENDING_LEASE_SECONDS"]
    assert outbox.expire_stuck_sending(NOW + timedelta(seconds=lease - 1)) == 0
    assert outbox.expire_stuck_sending(NOW + timedelta(seconds=lease)) == 2
    assert _state(ids[2]).state == "approved"  # never started: not in doubt
    assert outbox.resend_uncertain([ids[0]], staff.id, NOW) == 1
    assert outbox.dismiss_uncertain([ids[1]], staff.id, NOW) == 1
    assert _state(ids[0]).state == "approved" and _state(ids[0]).claim_token is None
    assert (_state(ids[1]).state, _state(ids[1]).reason) == ("failed", "dismissed by staff")
    assert outbox.dismiss_uncertain([ids[0]], staff.id, NOW) == 0


def test_counts_by_state(make):
    trigger, _ = _messages(make, 2)
    _messages(make, 1, state="sent")
    counts = outbox.counts_by_state()
    assert counts["pending_approval"] == 2 and counts["sent"] == 1 and counts["uncertain"] == 0
    assert outbox.counts_by_state({"trigger_id": trigger.id})["sent"] == 0


def test_a_late_reply_still_records_sent_unless_staff_acted(app, make):
    staff = make.staff()
    _, ids = _messages(make, 2, state="approved")
    token, _ = outbox.claim_due_batch(NOW, 10)
    for mid in ids:
        outbox.mark_sending(mid, token, NOW)
    db.session.commit()
    lease = app.config["SENDING_LEASE_SECONDS"]
    outbox.expire_stuck_sending(NOW + timedelta(seconds=lease))
    outbox.resend_uncertain([ids[1]], staff.id, NOW + timedelta(seconds=lease))
    assert outbox.mark_sent(ids[0], token, "250 OK", NOW + timedelta(seconds=lease + 1))
    assert not outbox.mark_sent(ids[1], token, "250 OK", NOW + timedelta(seconds=lease + 1))
    db.session.commit()
    assert [_state(i).state for i in ids] == ["sent", "approved"]


def test_a_claim_reads_the_approved_rows_not_the_sent_history(app, make):
    """The claim's plan starts from an index on approved rows: walking the
    primary key in id order would pass every sent row first, so each claim
    would grow with the outbox's history (found at 15,000 sent rows: 16 ms)."""
    from sqlalchemy import insert, text

    trigger, account = make.trigger(), make.account()
    contact = make.contact(account)
    rows = [dict(trigger_id=trigger.id, contact_id=contact.id, account_id=account.id,
                 occurrence_key=f"k{i}", to_email="a@example.com", state=state, attempts=0,
                 created_at=NOW, updated_at=NOW)
            for i, state in enumerate(["sent"] * 5000 + ["approved"] * 20)]
    db.session.execute(insert(OutboxMessage.__table__), rows)
    db.session.execute(text("ANALYZE outbox_messages" if db.engine.dialect.name == "postgresql"
                            else "ANALYZE"))
    pick = outbox.due_pick(NOW, 200).compile(db.engine, compile_kwargs={"literal_binds": True})
    if db.engine.dialect.name == "postgresql":
        plan = "\n".join(r[0] for r in db.session.execute(text(f"EXPLAIN {pick}")))
        assert "ix_outbox_approved" in plan or "ix_outbox_state_created" in plan, plan
    else:
        plan = [r[3] for r in db.session.execute(text(f"EXPLAIN QUERY PLAN {pick}"))]
        assert any("ix_outbox_approved" in step or "ix_outbox_state_created (state=" in step
                   for step in plan), plan
    assert len(outbox.claim_due_batch(NOW, 200)[1]) == 20
