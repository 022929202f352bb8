"""Sending under faults: killed workers, a flushed Redis, misbehaving SMTP servers.

Real `flask nudge worker` processes, real Redis, an aiosmtpd sink that records
every Message-ID it accepts. The invariant everywhere: no Message-ID twice.
"""
import time
from collections import Counter

from engine.outbox.sweeps import send_sweep_step
from extensions import db
from models import OutboxMessage
from models.base import utcnow
from tests.faults.conftest import bulk_approved, play_ticks_until_settled, states

KILLS = 6


def _no_duplicates(sink):
    ids = sink.message_ids
    dupes = {mid: n for mid, n in Counter(ids).items() if n > 1}
    assert not dupes, f"delivered twice: {dupes}"
    return set(ids)


def _sent_ids():
    db.session.expire_all()
    return {f"<nudge-{i}@nudge.local>" for (i,) in
            db.session.query(OutboxMessage.id).filter_by(state="sent")}


def test_kill_9_workers_while_2000_messages_go_out(app, smtp_sink, workers):
    ids = bulk_approved(2000)
    workers.start(2)
    send_sweep_step(utcnow())
    for _ in range(KILLS):
        if not workers.kill_one():
            break  # everything was sent before we got to kill again
        workers.start(1)
    counts = play_ticks_until_settled(300, workers=workers, keep=2)
    print(f"after {workers.kills} kills: {counts}")
    received = _no_duplicates(smtp_sink)
    assert sum(counts.values()) == 2000 and set(counts) <= {"sent", "uncertain", "failed"}
    assert counts.get("uncertain", 0) <= workers.kills
    assert counts.get("failed", 0) == 0
    sent = _sent_ids()
    assert sent <= received  # every message we call sent really arrived
    uncertain = {f"<nudge-{i}@nudge.local>" for (i,) in
                 db.session.query(OutboxMessage.id).filter_by(state="uncertain")}
    assert received <= sent | uncertain  # and nothing arrived that we don't know about
    assert len(ids) == 2000


def test_flushing_redis_mid_run_loses_no_message(app, smtp_sink, workers):
    from workers.queues import get_redis

    ids = bulk_approved(600)
    workers.start(2)
    send_sweep_step(utcnow())
    deadline = time.monotonic() + 30
    while states(ids).get("sent", 0) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    get_redis().flushdb()  # every queued and scheduled job is gone
    counts = play_ticks_until_settled(180, workers=workers, keep=2)
    assert counts == {"sent": 600}
    received = _no_duplicates(smtp_sink)
    assert received == _sent_ids() and len(received) == 600


def test_smtp_faults_affect_only_their_message(app, smtp_sink, workers):
    ids = bulk_approved(60)
    rows = {m.id: m.to_email for m in db.session.query(OutboxMessage).filter(OutboxMessage.id.in_(ids))}
    busy, refused, dropped = rows[ids[5]], rows[ids[20]], rows[ids[40]]
    answered_busy = []

    def data_reply(envelope):
        rcpt = envelope.rcpt_tos[0]
        if rcpt == busy and not answered_busy:
            answered_busy.append(rcpt)
            return "421 4.3.2 service busy, try again"
        if rcpt == dropped:
            return "DROP"
        return None

    smtp_sink.data_reply = data_reply
    smtp_sink.rcpt_reply = lambda addr: "550 5.1.1 user unknown" if addr == refused else None
    workers.start(1)
    send_sweep_step(utcnow())
    # The 421 backs off for a minute: let the tick's clock run ahead so it is retried now.
    counts = play_ticks_until_settled(90, workers=None, on_round=lambda: _skip_backoff())
    assert counts == {"sent": 58, "failed": 1, "uncertain": 1}
    by_id = {m.id: m for m in db.session.query(OutboxMessage).filter(OutboxMessage.id.in_(ids))}
    assert by_id[ids[5]].state == "sent" and by_id[ids[5]].attempts == 1
    assert by_id[ids[20]].reason == "RCPT TO: 550 5.1.1 user unknown"
    assert by_id[ids[40]].state == "uncertain"
    received = _no_duplicates(smtp_sink)
    assert received == _sent_ids()


def _skip_backoff():
    """Make backed-off retries due now (instead of waiting out the 1-minute backoff)."""
    db.session.query(OutboxMessage).filter(OutboxMessage.state == "approved",
                                           OutboxMessage.next_attempt_at.is_not(None)).update(
        {"next_attempt_at": utcnow()}, synchronize_session=False)
    db.session.commit()
