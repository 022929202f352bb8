"""Sending through RQ on real Redis to a real SMTP sink."""
from datetime import timedelta

from engine import outbox
from engine.sending.loop import send_due
from engine.outbox.sweeps import send_sweep_step
from extensions import db
from models import Communication, DeliveryEvent, OutboxMessage
from models.base import utcnow


def _approved(make, n, **kw):
    trigger = kw.pop("trigger", None) or make.trigger()
    account = make.account()
    return trigger, [make.outbox_message(trigger=trigger, contact=make.contact(account=account),
                                         state="approved", **kw).id for _ in range(n)]


def _states(ids):
    db.session.expire_all()
    return [db.session.get(OutboxMessage, i).state for i in ids]


def test_sweep_enqueues_and_a_worker_sends_the_batch(app, make, smtp_sink, run_jobs):
    trigger, ids = _approved(make, 5)
    summary = send_sweep_step(utcnow())
    assert summary == {"due": 5, "enqueued": 1}
    assert send_sweep_step(utcnow())["enqueued"] == 0  # a job already waits: no pile-up
    run_jobs()
    assert _states(ids) == ["sent"] * 5
    assert sorted(smtp_sink.message_ids) == sorted(f"<nudge-{i}@nudge.local>" for i in ids)
    msg = db.session.get(OutboxMessage, ids[0])
    assert msg.smtp_reply.startswith("250") and msg.sent_at is not None
    assert DeliveryEvent.query.filter_by(kind="delivered").count() == 5
    # Five users of one account on one day are one line in the account's log.
    [log] = Communication.query.all()
    assert (log.trigger_id, log.type, log.subject) == (trigger.id, "Trigger", trigger.subject)


def test_sending_is_committed_before_the_content_and_one_message_at_a_time(app, make, smtp_sink):
    from sqlalchemy import select

    _, ids = _approved(make, 3)
    engine, seen = db.engine, []

    def data_reply(envelope):  # the sink has the content: what does the database say now?
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxMessage.id, OutboxMessage.state)
                                .where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
            seen.append([state for _, state in rows])

    smtp_sink.data_reply = data_reply
    assert send_due()["sent"] == 3
    # Each message is `sending` (committed) when its content arrives, together with
    # the previous one's `sent`; never two in `sending` at once.
    assert seen == [["sending", "approved", "approved"], ["sent", "sending", "approved"],
                    ["sent", "sent", "sending"]]
    assert _states(ids) == ["sent"] * 3
    assert DeliveryEvent.query.filter_by(kind="delivered").count() == 3


def test_approval_to_sent_honours_the_hold(app, make, smtp_sink):
    staff = make.staff()
    _, ids = _approved(make, 2)
    for mid in ids:
        db.session.get(OutboxMessage, mid).state = "pending_approval"
    db.session.commit()
    now = utcnow()
    outbox.approve(ids, staff.id, now)
    assert send_due(clock=lambda: now + timedelta(minutes=9))["sent"] == 0
    assert send_due(clock=lambda: now + timedelta(minutes=10))["sent"] == 2
    assert len(smtp_sink.messages) == 2


def test_one_refused_recipient_fails_alone(app, make, smtp_sink):
    _, ids = _approved(make, 4)
    bad = db.session.get(OutboxMessage, ids[1]).to_email
    smtp_sink.rcpt_reply = lambda addr: "550 5.1.1 mailbox unavailable" if addr == bad else None
    stats = send_due()
    assert (stats["sent"], stats["failed"]) == (3, 1)
    assert _states(ids) == ["sent", "failed", "sent", "sent"]
    failed = db.session.get(OutboxMessage, ids[1])
    assert failed.reason == "RCPT TO: 550 5.1.1 mailbox unavailable"
    assert DeliveryEvent.query.filter_by(kind="failed").count() == 1


def test_temporary_failure_is_retried_after_backoff(app, make, smtp_sink):
    _, ids = _approved(make, 3)
    seen = []

    def data_reply(envelope):
        seen.append(envelope.rcpt_tos[0])
        return "421 4.7.0 too busy, come back later" if len(seen) == 1 else None

    smtp_sink.data_reply = data_reply
    now = utcnow()
    stats = send_due(clock=lambda: now)
    assert (stats["sent"], stats["retry"]) == (2, 1)
    first = db.session.get(OutboxMessage, ids[0])
    assert (first.state, first.attempts) == ("approved", 1)
    assert first.next_attempt_at == now + timedelta(minutes=1)
    assert send_due(clock=lambda: now + timedelta(seconds=30))["sent"] == 0
    assert send_due(clock=lambda: now + timedelta(seconds=61))["sent"] == 1
    assert _states(ids) == ["sent"] * 3
    assert len(smtp_sink.messages) == 3


def test_connection_lost_after_data_is_uncertain_and_the_batch_goes_on(app, make, smtp_sink):
    _, ids = _approved(make, 4)
    victim = db.session.get(OutboxMessage, ids[2]).to_email
    smtp_sink.data_reply = lambda env: "DROP" if env.rcpt_tos[0] == victim else None
    stats = send_due()
    assert (stats["sent"], stats["uncertain"]) == (3, 1)
    assert _states(ids) == ["sent", "sent", "uncertain", "sent"]
    assert "after the message data" in db.session.get(OutboxMessage, ids[2]).reason


def test_connection_lost_before_the_data_is_sent_again_on_a_new_connection(app, make, smtp_sink):
    from tests.smtp_sink import DROP

    _, ids = _approved(make, 3)
    victim, dropped = db.session.get(OutboxMessage, ids[1]).to_email, []

    def rcpt_reply(address):  # hang up on the victim's first RCPT only
        if address == victim and not dropped:
            dropped.append(address)
            return DROP
        return None

    smtp_sink.rcpt_reply = rcpt_reply
    stats = send_due()
    assert (stats["sent"], stats["uncertain"], dropped) == (3, 0, [victim])
    assert _states(ids) == ["sent"] * 3
    assert [m["rcpt_tos"] for m in smtp_sink.messages].count([victim]) == 1  # delivered once


def test_connection_lost_before_the_data_every_time_gives_the_batch_back(app, make, smtp_sink):
    from tests.smtp_sink import DROP

    _, ids = _approved(make, 3)
    victim = db.session.get(OutboxMessage, ids[1]).to_email
    smtp_sink.rcpt_reply = lambda address: DROP if address == victim else None
    now = utcnow()
    stats = send_due(clock=lambda: now)
    assert (stats["sent"], stats["uncertain"]) == (1, 0)
    assert "connection lost twice" in stats["connect_error"]
    db.session.expire_all()
    rest = [db.session.get(OutboxMessage, i) for i in ids[1:]]
    # Nothing of the victim went out: approved, not reserved, tried again after a minute.
    assert [(m.state, m.claim_token, m.next_attempt_at) for m in rest] == \
        [("approved", None, now + timedelta(seconds=60))] * 2


def test_server_down_leaves_messages_approved_for_later(app, make):
    from tests.smtp_sink import unused_port

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=unused_port())
    _, ids = _approved(make, 2)
    now = utcnow()
    stats = send_due(clock=lambda: now)
    assert stats["sent"] == 0 and "connect_error" in stats
    db.session.expire_all()
    msg = db.session.get(OutboxMessage, ids[0])
    assert (msg.state, msg.claim_token, msg.attempts) == ("approved", None, 0)
    assert msg.next_attempt_at == now + timedelta(seconds=60)


def test_a_message_that_cannot_be_built_fails_alone(app, make, smtp_sink):
    _, ids = _approved(make, 2)
    db.session.get(OutboxMessage, ids[0]).subject = "Hi\r\nBcc: everyone@example.com"
    db.session.commit()
    stats = send_due()
    assert (stats["sent"], stats["failed"]) == (1, 1)
    assert "line break" in db.session.get(OutboxMessage, ids[0]).reason
    assert len(smtp_sink.messages) == 1


def test_a_tick_ahead_of_real_time_sends_on_its_clock(app, make, smtp_sink, run_jobs):
    """`flask nudge tick --now <later>`: the send jobs it enqueues run on that clock."""
    from engine.tick import run_tick

    later = utcnow() + timedelta(days=2)
    _, ids = _approved(make, 2, send_after=later - timedelta(minutes=1))
    run_tick(utcnow())
    run_jobs()
    assert _states(ids) == ["approved", "approved"]  # not due in real time
    run_tick(later)
    run_jobs()
    assert _states(ids) == ["sent", "sent"]


def test_cli_send_due_and_outbox_counts(app, make, smtp_sink):
    from commands import nudge_group

    _approved(make, 3)
    runner = app.test_cli_runner()
    result = runner.invoke(nudge_group, ["send-due"])
    assert result.exit_code == 0, result.output
    assert "Sent 3, failed 0" in result.output
    counts = runner.invoke(nudge_group, ["outbox"])
    assert "sent  3" in counts.output


def test_only_the_rows_a_batch_never_started_are_given_back(app, make, smtp_sink, monkeypatch):
    from engine.outbox import send_states as outbox_send
    released = []
    real_release = outbox_send.release_claim
    monkeypatch.setattr(outbox_send, "release_claim",
                        lambda token, ids, now, **kw: released.append(list(ids))
                        or real_release(token, ids, now, **kw))
    _, ids = _approved(make, 3)
    assert send_due()["sent"] == 3
    assert released == []  # all sent: no statement to give anything back

    _, ids = _approved(make, 3)
    engine = db.engine

    def unapprove_the_last(envelope):  # staff take the third one back mid-batch
        if f"<nudge-{ids[0]}@" in envelope.content.decode():
            with engine.begin() as conn:
                conn.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == ids[2])
                             .values(state="pending_approval"))

    smtp_sink.data_reply = unapprove_the_last
    assert send_due()["sent"] == 2
    assert released == [[ids[2]]]
    assert _states(ids) == ["sent", "sent", "pending_approval"]


def test_an_inactive_triggers_emails_are_cancelled_at_claim_time_unless_kept(app, make, smtp_sink):
    """Issue 15: an email approved after its trigger was deactivated went out."""
    stopped, stopped_ids = _approved(make, 2)
    kept, kept_ids = _approved(make, 1)
    live, live_ids = _approved(make, 1)
    stopped.status = "inactive"  # as the API left it before, or a tick still writing
    kept.status, kept.keep_queued_when_inactive = "inactive", True
    db.session.commit()
    stats = send_due()
    assert stats["sent"] == 2
    assert _states(stopped_ids) == ["cancelled", "cancelled"]
    assert _states(kept_ids + live_ids) == ["sent", "sent"]
    cancelled = db.session.get(OutboxMessage, stopped_ids[0])
    assert cancelled.reason_code == "trigger_inactive" and "not active" in cancelled.reason
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == sorted(
        db.session.get(OutboxMessage, i).to_email for i in kept_ids + live_ids)
