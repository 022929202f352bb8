"""Generating outbox messages: schedule, persona and event triggers; idempotent runs."""
import time as time_module
from datetime import datetime, time, timedelta

import pytest

from engine.triggers.generate import generate_step
from extensions import db
from models import OutboxMessage, Persona, PersonaMember, PersonaTransition, TriggerRun

MONDAY = datetime(2026, 1, 5)


def _rows(**filters):
    db.session.expire_all()
    return db.session.query(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.id).all()


def test_schedule_trigger_generates_once_at_its_local_generate_time(make):
    contacts = [make.contact() for _ in range(3)]
    trigger = make.trigger(timezone="Europe/Berlin", generate_at=time(8, 0), send_at=time(9, 30))
    assert generate_step(MONDAY.replace(hour=6, minute=59)) == {}  # 07:59 in Berlin
    summary = generate_step(MONDAY.replace(hour=7, minute=0))
    assert summary[str(trigger.id)]["created"] == 3
    rows = _rows(trigger_id=trigger.id)
    assert {r.contact_id for r in rows} == {c.id for c in contacts}
    assert {(r.state, r.occurrence_key, r.send_after) for r in rows} == {
        ("pending_approval", "2026-01-05", MONDAY.replace(hour=8, minute=30))}
    assert rows[0].subject == f"Hello {contacts[0].first_name}"
    assert rows[0].to_email == contacts[0].email
    assert generate_step(MONDAY.replace(hour=7, minute=1)) == {}  # the same day: nothing again
    run = db.session.query(TriggerRun).one()
    assert (run.candidates, run.created, run.suppressed) == (3, 3, 0)
    generate_step(MONDAY.replace(hour=7) + timedelta(days=1))
    assert len(_rows(trigger_id=trigger.id)) == 6


def test_a_trigger_activated_after_todays_generate_time_starts_tomorrow(make):
    make.contact()
    trigger = make.trigger(started_at=MONDAY.replace(hour=10))
    assert generate_step(MONDAY.replace(hour=10, minute=5)) == {}
    assert generate_step(MONDAY.replace(hour=8) + timedelta(days=1))[str(trigger.id)]["created"] == 1


def test_inactive_triggers_and_nonmatching_contacts_get_nothing(make):
    make.contact(is_product_user=False, is_crm_contact=True)
    make.trigger(status="paused")
    crm_only = make.trigger(rule={"user_types": ["product_user"], "all": []})
    nobody = make.trigger(rule={"user_types": [], "all": []})
    summary = generate_step(MONDAY.replace(hour=8))
    assert summary[str(crm_only.id)]["candidates"] == 0
    assert summary[str(nobody.id)]["candidates"] == 0
    assert _rows() == []


def test_auto_send_triggers_are_approved_without_hold(make):
    make.contact()
    trigger = make.trigger(requires_approval=False)
    generate_step(MONDAY.replace(hour=8))
    [row] = _rows(trigger_id=trigger.id)
    assert (row.state, row.hold_until, row.approved_at) == ("approved", None, MONDAY.replace(hour=8))


def test_a_render_error_fails_that_message_not_the_run(make):
    ok = make.contact(first_name="Ada")
    bad = make.contact(first_name="Eve\r\nBcc: everyone@example.com")
    trigger = make.trigger()
    summary = generate_step(MONDAY.replace(hour=8))[str(trigger.id)]
    assert (summary["created"], summary["rendered"], summary["render_failed"]) == (2, 1, 1)
    rows = {r.contact_id: r for r in _rows(trigger_id=trigger.id)}
    assert rows[ok.id].state == "pending_approval"
    assert rows[bad.id].state == "failed"
    assert "line break" in rows[bad.id].reason


def test_a_recipient_whose_data_blows_the_render_budget_fails_only_that_message(make):
    # Saved fine (the trial render has no such data); one contact's attributes make the
    # same template build a 1500 x 1500 list by |sum: that message fails, fast, the rest go on.
    html = "<p>{{ ([contact.attributes.row] * contact.attributes.n)|sum(start=[])|length }}</p>"
    ok = make.contact(attributes={"row": [1, 2], "n": 2})
    bad = make.contact(attributes={"row": list(range(1500)), "n": 1500})
    trigger = make.trigger(html=html)
    start = time_module.thread_time()
    summary = generate_step(MONDAY.replace(hour=8))[str(trigger.id)]
    assert time_module.thread_time() - start < 5
    assert (summary["created"], summary["rendered"], summary["render_failed"]) == (2, 1, 1)
    rows = {r.contact_id: r for r in _rows(trigger_id=trigger.id)}
    assert (rows[ok.id].state, rows[ok.id].html) == ("pending_approval", "<p>4</p>")
    assert rows[bad.id].state == "failed"
    assert "blocked: a text or list built by adding is too large" in rows[bad.id].reason


def test_a_contact_holding_a_lone_surrogate_renders_with_a_replacement_character(make):
    # Stored on SQLite (inside JSON) before the API refused it: rendering it must not make
    # the batch's UPDATE fail (sqlite3/psycopg cannot encode it) on every tick.
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL cannot store a lone surrogate at all")
    ok = make.contact(attributes={"nick": "Ada"})
    odd = make.contact(attributes={"nick": "Eve\ud800"})
    trigger = make.trigger(subject="Hi {{ contact.attributes.nick }}", html="<p>{{ contact.attributes.nick }}</p>")
    summary = generate_step(MONDAY.replace(hour=8))[str(trigger.id)]
    assert (summary["created"], summary["rendered"], summary["render_failed"]) == (2, 2, 0)
    rows = {r.contact_id: r for r in _rows(trigger_id=trigger.id)}
    assert (rows[ok.id].subject, rows[odd.id].subject) == ("Hi Ada", "Hi Eve\ufffd")
    assert rows[odd.id].html == "<p>Eve\ufffd</p>" and rows[odd.id].state == "pending_approval"


def test_the_body_carries_the_messages_own_unsubscribe_link(make):
    from engine.tracking import read_unsubscribe_token

    make.contact()
    make.contact()
    trigger = make.trigger(html='<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>')
    generate_step(MONDAY.replace(hour=8))
    for row in _rows(trigger_id=trigger.id):
        token = row.html.split("/u/")[1].split('"')[0]
        assert read_unsubscribe_token(token) == row.id


def _admin_and_user_in_a_persona(make, name):
    """An admin and a user who are members of a new persona, and an admin who is not."""
    admin, user = make.contact(role="admin"), make.contact(role="user")
    make.contact(role="admin")  # not a member
    persona = Persona(name=name, rule={})
    db.session.add(persona)
    db.session.flush()
    db.session.add_all([PersonaMember(persona_id=persona.id, contact_id=c.id) for c in (admin, user)])
    db.session.commit()
    return admin, user, persona


def test_persona_based_schedule_trigger_narrowed_by_its_rule(make):
    admin, user, persona = _admin_and_user_in_a_persona(make, "Champions")
    trigger = make.trigger(persona_id=persona.id,
                           rule={"all": [{"field": "contact.role", "op": "eq", "value": "admin"}]})
    generate_step(MONDAY.replace(hour=8))
    assert [r.contact_id for r in _rows(trigger_id=trigger.id)] == [admin.id]


def _transition(persona, contact, kind):
    t = PersonaTransition(persona_id=persona.id, contact_id=contact.id, kind=kind, at=MONDAY)
    db.session.add(t)
    db.session.commit()
    return t


def test_persona_enter_trigger_fires_once_per_new_transition(make):
    persona = Persona(name="At risk", rule={})
    db.session.add(persona)
    db.session.commit()
    a, b = make.contact(), make.contact()
    old = _transition(persona, a, "enter")
    trigger = make.trigger(kind="persona_enter", persona_id=persona.id, rule=None,
                           last_transition_id=old.id, requires_approval=False)
    leave_trigger = make.trigger(kind="persona_leave", persona_id=persona.id, rule=None,
                                 last_transition_id=old.id)
    enter_b = _transition(persona, b, "enter")
    leave_a = _transition(persona, a, "leave")
    generate_step(MONDAY)
    [row] = _rows(trigger_id=trigger.id)
    assert (row.contact_id, row.occurrence_key, row.send_after) == (b.id, str(enter_b.id), None)
    [left] = _rows(trigger_id=leave_trigger.id)
    assert (left.contact_id, left.occurrence_key) == (a.id, str(leave_a.id))
    generate_step(MONDAY + timedelta(minutes=1))
    assert len(_rows()) == 2
    again = _transition(persona, b, "enter")
    generate_step(MONDAY + timedelta(minutes=2))
    assert [r.occurrence_key for r in _rows(trigger_id=trigger.id)] == [str(enter_b.id), str(again.id)]


def test_event_trigger_fires_per_new_event_with_rule_filter(make):
    admin, user = make.contact(role="admin"), make.contact(role="user")
    before = make.event(admin, name="export_failed")
    trigger = make.trigger(kind="event", event_name="export_failed", last_event_id=before.id,
                           rule={"all": [{"field": "contact.role", "op": "eq", "value": "admin"}]},
                           subject="Export failed: {{ event.properties.file }}", retrigger_delay_days=1)
    first = make.event(admin, name="export_failed", properties={"file": "q1.csv"})
    make.event(user, name="export_failed")  # filtered out by the rule
    make.event(admin, name="login")  # another event name
    second = make.event(admin, name="export_failed", properties={"file": "q2.csv"})
    generate_step(MONDAY)
    rows = _rows(trigger_id=trigger.id)
    assert [(r.occurrence_key, r.state) for r in rows] == [
        (str(first.id), "pending_approval"), (str(second.id), "suppressed")]
    assert rows[0].subject == "Export failed: q1.csv"
    assert rows[1].reason.startswith("re-trigger delay")
    generate_step(MONDAY + timedelta(minutes=1))
    assert len(_rows(trigger_id=trigger.id)) == 2


def test_big_runs_are_rendered_by_jobs_and_the_send_path_never_waits(app, make, monkeypatch,
                                                                    doorbell, smtp_sink):
    from engine.render import messages as outbox_render
    from engine.sending.loop import send_due

    monkeypatch.setattr(outbox_render, "SYNC_RENDER_LIMIT", 2)
    monkeypatch.setattr(outbox_render, "BATCH", 2)
    for _ in range(5):
        make.contact()
    trigger = make.trigger(requires_approval=False)
    summary = generate_step(MONDAY.replace(hour=8))[str(trigger.id)]
    assert (summary["created"], summary["render_queued"]) == (5, 5)
    assert doorbell.of("render_run") == [{"trigger_id": trigger.id, "shards": 1}]
    assert [ring["messages"] for ring in doorbell.of("send")] == [5]  # auto-send: rung at once
    unrendered = [r.id for r in _rows(trigger_id=trigger.id) if r.subject is None]
    assert len(unrendered) == 5
    # Sending does not wait for the render jobs: it renders what it claims.
    stats = send_due(clock=lambda: MONDAY.replace(hour=9))
    assert stats["sent"] == 5 and len(smtp_sink.messages) == 5
    assert all(r.subject and r.html for r in _rows(trigger_id=trigger.id))
    # The render job rung for, when it runs, finds nothing left to do.
    assert outbox_render.render_pending(MONDAY.replace(hour=9), trigger_id=trigger.id,
                                        shard=(0, 1)) == {"rendered": 0, "failed": 0, "after": 0}


def test_render_jobs_and_the_render_sweep(app, make, monkeypatch, doorbell):
    from engine.render import messages as outbox_render

    monkeypatch.setattr(outbox_render, "SYNC_RENDER_LIMIT", 1)
    for _ in range(4):
        make.contact()
    trigger = make.trigger()
    generate_step(MONDAY.replace(hour=8))
    assert doorbell.of("render_run") == [{"trigger_id": trigger.id, "shards": 1}]
    doorbell.clear_waiting()  # the render jobs are lost
    sweep = outbox_render.render_sweep_step(MONDAY.replace(hour=8, minute=1))
    assert (sweep["unrendered"], sweep["rendered"], sweep["jobs"]) == (4, 1, 1)
    assert len(doorbell.of("render_run")) == 2
    # While that render work may still be waiting, the sweep renders a little and rings no more.
    sweep = outbox_render.render_sweep_step(MONDAY.replace(hour=8, minute=2))
    assert (sweep["unrendered"], sweep["rendered"], sweep["jobs"]) == (3, 1, 0)
    outbox_render.render_pending(MONDAY.replace(hour=8, minute=3), trigger_id=trigger.id,
                                 shard=(0, 1))  # what the rung job does
    assert all(r.subject for r in _rows(trigger_id=trigger.id))
    assert outbox_render.render_sweep_step(MONDAY.replace(hour=8, minute=4)) == {"unrendered": 0}


def test_the_audience_staff_see_is_what_a_run_generates(make):
    """One definition (engine.triggers.audience.audience_select) for the wizard's review,
    the details page's "matching now" and a schedule run's candidates."""
    from engine.triggers.audience import audience_sample

    admin, user, persona = _admin_and_user_in_a_persona(make, "Members")
    admins = {"all": [{"field": "contact.role", "op": "eq", "value": "admin"}]}
    triggers = [make.trigger(persona_id=persona.id, rule=admins), make.trigger(persona_id=persona.id, rule=None),
                make.trigger(rule=admins), make.trigger(rule=None)]
    now = MONDAY.replace(hour=8)
    expected = {t.id: audience_sample(t, now, limit=50) for t in triggers}
    assert [expected[t.id]["count"] for t in triggers] == [1, 2, 2, 0]
    generate_step(now)
    for t in triggers:
        assert sorted(r.contact_id for r in _rows(trigger_id=t.id)) == \
            [s["contact_id"] for s in expected[t.id]["sample"]]
