"""Reason codes (models.outbox.REASON_LABELS): set by every control and every
stop, and what pages, filters and reports group and label by -- never the text."""
from datetime import datetime

from engine import outbox, tracking
from engine.triggers import deactivate, delete_trigger
from engine.triggers.generate import generate_step
from extensions import db
from models import Event, OutboxMessage, TriggerRun
from models.outbox import REASON_CODES, REASON_LABELS, reason_label

TICK = datetime(2026, 1, 5, 8, 0, 30)


def _codes(trigger_id):
    db.session.expire_all()
    return sorted((m.state, m.reason_code) for m in
                  db.session.query(OutboxMessage).filter_by(trigger_id=trigger_id))


def test_every_code_has_a_label():
    assert set(REASON_CODES) == set(REASON_LABELS) and all(REASON_LABELS.values())
    assert reason_label("global_delay") == "Global delay"
    assert reason_label(None) == "No reason recorded"
    assert reason_label("bounced") == "Bounced"  # a code from a later version still reads


def test_no_email_and_same_run_duplicates_get_their_codes(make):
    make.contact(email="")
    trigger = make.trigger()
    generate_step(TICK)
    assert _codes(trigger.id) == [("suppressed", "no_email")]

    ann = make.contact()
    for code, controls in (("global_delay", dict(global_delay_days=1)),
                           ("retrigger_delay", dict(retrigger_delay_days=1)),
                           ("never_retrigger", dict(never_retrigger=True))):
        events = make.trigger(kind="event", event_name=f"e-{code}", rule=None, last_event_id=0,
                              **controls)
        for _ in range(2):  # two events of one contact in one run
            db.session.add(Event(contact_id=ann.id, name=f"e-{code}", occurred_at=TICK,
                                 received_at=TICK, properties={}))
        db.session.commit()
        generate_step(TICK)
        assert _codes(events.id) == [("pending_approval", None), ("suppressed", code)], code


def test_stops_by_staff_unsubscribe_and_the_trigger_lifecycle(make):
    staff = make.staff(role="approver")
    trigger = make.trigger()
    rejected, cancelled, uncertain = (make.outbox_message(trigger=trigger) for _ in range(3))
    outbox.reject([rejected.id], staff.id, TICK)
    db.session.get(OutboxMessage, uncertain.id).state = "uncertain"
    db.session.flush()
    outbox.dismiss_uncertain([uncertain.id], staff.id, TICK)
    deactivate(db.session.get(type(trigger), trigger.id), TICK)
    db.session.commit()
    assert {m: c for m, c in db.session.query(OutboxMessage.id, OutboxMessage.reason_code)} == {
        rejected.id: "rejected", cancelled.id: "trigger_deactivated", uncertain.id: "dismissed"}

    sent = make.outbox_message(trigger=make.trigger(), state="sent")
    later = make.outbox_message(trigger=sent.trigger, contact=sent.contact)
    tracking.unsubscribe(sent.id, TICK)
    db.session.commit()
    assert db.session.get(OutboxMessage, later.id).reason_code == "unsubscribed"


def test_deleting_a_trigger_cancels_its_waiting_messages_as_trigger_deleted(make, monkeypatch):
    import engine.triggers as triggers_engine

    doomed = make.trigger()
    waiting = make.outbox_message(trigger=doomed)
    seen = []

    def cancel_and_look(trigger_id, now, code):
        n = outbox.cancel_waiting_for_trigger(trigger_id, now, code)
        seen.append(db.session.query(OutboxMessage.reason_code).filter_by(id=waiting.id).scalar())
        return n

    monkeypatch.setattr(triggers_engine, "cancel_waiting_for_trigger", cancel_and_look)
    assert delete_trigger(doomed, TICK, cancel_waiting=True) == 1
    assert seen == ["trigger_deleted"]  # then the rows go with the trigger


def _suppressed(make, trigger, code, text, n=1):
    return [make.outbox_message(trigger=trigger, state="suppressed", reason_code=code, reason=text,
                                subject=None, html=None, text=None) for _ in range(n)]


def test_the_outbox_page_groups_and_labels_by_the_code(login, make):
    client = login("viewer")
    trigger = make.trigger(name="Weekly")
    _suppressed(make, trigger, "global_delay", "global delay: emailed by “A” today (2-day delay)", 2)
    # The text says "global delay" but the code says unsubscribed: the page believes the code.
    unsub = _suppressed(make, trigger, "unsubscribed", "global delay: misleading old text")[0]
    body = client.get("/outbox/?tab=suppressed").get_data(as_text=True)
    assert 'data-reason-chips' in body
    assert '<span class="badge badge-neutral" data-reason="unsubscribed">Unsubscribed</span>' in body
    assert body.count('data-reason="global_delay">Global delay</span>') == 2
    chips = body[body.index("data-reason-chips"):body.index("</div>", body.index("data-reason-chips"))]
    assert chips.index("Global delay") < chips.index("Unsubscribed")  # most first
    assert '<span class="count">2</span>' in chips and '<span class="count">1</span>' in chips
    only = client.get("/outbox/?tab=suppressed&reason=unsubscribed").get_data(as_text=True)
    assert unsub.to_email in only and only.count('data-reason="global_delay">Global delay</span>') == 0
    # A code that does not belong to the tab is ignored, not an error.
    assert client.get("/outbox/?tab=suppressed&reason=rejected").status_code == 200


def test_the_trigger_report_counts_held_back_messages_by_code(login, make):
    trigger = make.trigger(name="Weekly")
    db.session.add(TriggerRun(trigger_id=trigger.id, occurrence_key="2026-01-05", generated_at=TICK,
                              candidates=5, created=1, suppressed=4))
    db.session.commit()
    for code, n in (("global_delay", 3), ("never_retrigger", 1)):
        for m in _suppressed(make, trigger, code, "whatever text", n):
            m.occurrence_key = "2026-01-05"
    make.outbox_message(trigger=trigger, occurrence_key="2026-01-05")
    db.session.commit()
    from engine.reports import daily_status

    status = daily_status(trigger)
    assert status[0]["reasons"] == [{"code": "global_delay", "count": 3},
                                    {"code": "never_retrigger", "count": 1}]
    body = login("viewer").get(f"/reports/triggers/{trigger.id}").get_data(as_text=True)
    assert 'data-reason="global_delay">Global delay: 3</span>' in body
    assert 'data-reason="never_retrigger">Never re-trigger: 1</span>' in body
    assert "whatever text" not in body


def test_message_history_reads_the_dismissal_from_the_code(make):
    from blueprints.outbox.history import message_history

    m = make.outbox_message(state="failed", reason_code="dismissed", reason="dismissed by staff",
                            failed_at=TICK)
    assert any(s.title.startswith("Dismissed by") for s in message_history(m))
    m2 = make.outbox_message(state="failed", reason="dismissed by staff", failed_at=TICK)
    titles = [s.title for s in message_history(m2)]
    assert "Failed" in titles and not any(t.startswith("Dismissed") for t in titles)  # no code
