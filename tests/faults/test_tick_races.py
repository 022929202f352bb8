"""Races: concurrent ticks in separate processes, and unapprove against a claim."""
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, time, timedelta

from sqlalchemy import func, insert, select

from engine import outbox
from engine.sending.loop import send_due
from extensions import db
from models import Account, Contact, Event, OutboxMessage, Trigger, TriggerRun
from models.base import utcnow
from tests.faults.conftest import REPO, bulk_approved

TICK_AT = "2026-01-05T08:00:30Z"


def _contacts(n):
    now = utcnow()
    account_id = db.session.execute(insert(Account.__table__).values(
        external_id="race-acc", name="Race Co", status="active", attributes={},
        created_at=now).returning(Account.id)).scalar_one()
    db.session.execute(insert(Contact.__table__), [
        dict(external_id=f"race-{i}", account_id=account_id, email=f"race{i}@example.com",
             first_name=f"R{i}", is_crm_contact=False, is_product_user=True, created_at=now,
             attributes={}, role="admin" if i % 2 else "user") for i in range(n)])
    db.session.commit()
    return db.session.execute(select(Contact.id).order_by(Contact.id)).scalars().all()


def test_two_ticks_at_once_in_two_processes_create_nothing_twice(app, make, process_env):
    contact_ids = _contacts(400)
    rule = {"user_types": ["product_user"], "all": []}
    high = make.trigger(name="High", priority=9, global_delay_days=3, rule=rule)
    low = make.trigger(name="Low", priority=1, global_delay_days=3, rule=rule)
    admins = make.trigger(name="Admins", priority=5, rule={
        "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]})
    event_trigger = make.trigger(name="On export", kind="event", event_name="export", rule=None)
    db.session.execute(insert(Event.__table__), [
        dict(contact_id=cid, name="export", occurred_at=utcnow(), properties={},
             received_at=utcnow()) for cid in contact_ids[:50]])
    db.session.commit()

    command = [sys.executable, "-m", "flask", "nudge", "tick", "--now", TICK_AT]
    procs = [subprocess.Popen(command, cwd=REPO, env=process_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs

    db.session.expire_all()
    keys = db.session.execute(select(OutboxMessage.trigger_id, OutboxMessage.contact_id,
                                     OutboxMessage.occurrence_key)).all()
    assert not [k for k, n in Counter(keys).items() if n > 1]
    per_trigger = dict(db.session.execute(select(OutboxMessage.trigger_id, func.count())
                                          .group_by(OutboxMessage.trigger_id)).all())
    assert per_trigger == {high.id: 400, low.id: 400, admins.id: 200, event_trigger.id: 50}
    assert db.session.query(TriggerRun).count() == 3  # one run per schedule trigger
    # Priority order held in every process: High emailed everyone, so Low is all suppressed.
    low_states = Counter(s for (s,) in db.session.query(OutboxMessage.state).filter_by(trigger_id=low.id))
    assert low_states == {"suppressed": 400}
    # And a fourth tick for the same minute adds nothing.
    again = subprocess.run(command, cwd=REPO, env=process_env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert db.session.query(OutboxMessage).count() == len(keys)


def test_unapprove_racing_the_claim_at_the_end_of_the_hold(app, make, smtp_sink):
    app.config["SEND_BATCH_SIZE"] = 1
    staff = make.staff()
    ids = bulk_approved(40)
    db.session.query(OutboxMessage).update({"state": "pending_approval"}, synchronize_session=False)
    db.session.commit()
    approved_at = utcnow() - timedelta(minutes=10)  # the hold ends right now
    outbox.approve(ids, staff.id, approved_at)
    db.session.commit()  # the engine does not commit: the caller (here the test) does
    hold_end = approved_at + timedelta(minutes=10)
    results = {}
    start = threading.Barrier(2)

    def claimer():
        with app.app_context():
            start.wait()
            # One message per claim, so claims and unapprovals interleave.
            results["stats"] = send_due(clock=lambda: hold_end)
            db.session.remove()

    def unapprover():
        with app.app_context():
            start.wait()
            # This staff member's clock still shows one millisecond of hold left;
            # each unapproval commits on its own, as the view does.
            results["unapproved"] = 0
            for i in reversed(ids):
                results["unapproved"] += outbox.unapprove([i], hold_end - timedelta(milliseconds=1))
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=claimer), threading.Thread(target=unapprover)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    print("race:", results["stats"]["sent"], "sent,", results["unapproved"], "unapproved")
    assert results["stats"]["sent"] + results["unapproved"] == 40  # every message went one way
    db.session.expire_all()
    by_state = Counter()
    sent = []
    for m in db.session.query(OutboxMessage).filter(OutboxMessage.id.in_(ids)):
        by_state[m.state] += 1
        if m.state == "sent":
            sent.append(m.id)
    assert by_state == {"sent": results["stats"]["sent"], "pending_approval": results["unapproved"]}
    # Exactly the messages still approved when their claim committed went out.
    assert sorted(smtp_sink.message_ids) == sorted(f"<nudge-{i}@nudge.local>" for i in sent)
