"""Persona refresh: set-based enter/leave diffs, restricted refreshes, idempotence,
concurrency, the tick step and the jobs."""
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine import personas as engine
from engine.rules import RuleError
from extensions import db
from models import Persona, PersonaMember, PersonaTransition

NOW = datetime(2026, 3, 10, 12, 0)
ADMINS = {"user_types": ["product_user", "crm_contact"],
          "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]}


def members(persona_id):
    return set(db.session.scalars(select(PersonaMember.contact_id)
                                  .where(PersonaMember.persona_id == persona_id)))


def transitions(persona_id):
    return sorted(db.session.execute(
        select(PersonaTransition.contact_id, PersonaTransition.kind, PersonaTransition.at)
        .where(PersonaTransition.persona_id == persona_id)
    ).all())


@pytest.fixture
def people(make):
    acc = make.account(arr=60000)
    return [make.contact(acc, role=r, last_seen_at=NOW - timedelta(days=1))
            for r in ("admin", "admin", "user")]


def test_first_refresh_records_enters_and_members(app, make, people):
    p = make.persona(rule=ADMINS)
    assert engine.refresh_persona(p.id, NOW) == {"entered": 2, "left": 0}
    assert members(p.id) == {people[0].id, people[1].id}
    assert transitions(p.id) == sorted([(people[0].id, "enter", NOW), (people[1].id, "enter", NOW)])
    db.session.expire_all()
    persona = db.session.get(Persona, p.id)
    assert persona.member_count == 2 and persona.last_refreshed_at == NOW
    entered = db.session.scalars(select(PersonaMember.entered_at)).all()
    assert entered == [NOW, NOW]


def test_leavers_and_newcomers_are_diffed(app, make, people):
    p = make.persona(rule=ADMINS)
    engine.refresh_persona(p.id, NOW)
    people[0].role, people[2].role = "user", "admin"
    db.session.commit()
    later = NOW + timedelta(hours=1)
    assert engine.refresh_persona(p.id, later) == {"entered": 1, "left": 1}
    assert members(p.id) == {people[1].id, people[2].id}
    assert (people[0].id, "leave", later) in transitions(p.id)
    assert (people[2].id, "enter", later) in transitions(p.id)
    assert db.session.get(Persona, p.id).member_count == 2


def test_refresh_is_idempotent(app, make, people):
    p = make.persona(rule=ADMINS)
    engine.refresh_persona(p.id, NOW)
    assert engine.refresh_persona(p.id, NOW + timedelta(minutes=5)) == {"entered": 0, "left": 0}
    assert len(transitions(p.id)) == 2


def test_restricted_refresh_touches_only_those_contacts(app, make, people):
    p = make.persona(rule=ADMINS)
    engine.refresh_persona(p.id, NOW)
    people[0].role, people[2].role = "user", "admin"
    db.session.commit()
    later = NOW + timedelta(hours=1)
    assert engine.refresh_persona(p.id, later, [people[2].id]) == {"entered": 1, "left": 0}
    assert members(p.id) == {people[0].id, people[1].id, people[2].id}
    persona = db.session.get(Persona, p.id)
    db.session.refresh(persona)
    assert persona.member_count == 3
    assert persona.last_refreshed_at == NOW  # only a full refresh counts as "refreshed"
    assert engine.refresh_persona(p.id, later, [people[0].id, 999999]) == {"entered": 0, "left": 1}
    assert engine.refresh_persona(p.id, later, []) == {"entered": 0, "left": 0}


def test_time_conditions_use_the_given_now(app, make):
    c = make.contact(last_seen_at=NOW - timedelta(days=10))
    p = make.persona(rule={"user_types": ["product_user"], "all": [
        {"field": "contact.last_seen_at", "op": "older_than_days", "value": 14}]})
    assert engine.refresh_persona(p.id, NOW) == {"entered": 0, "left": 0}
    assert engine.refresh_persona(p.id, NOW + timedelta(days=5)) == {"entered": 1, "left": 0}
    assert members(p.id) == {c.id}


def test_event_rule_and_contact_refresh(app, make, people):
    p = make.persona(rule={"user_types": ["product_user"], "all": [
        {"event": "report_created", "op": "count_gte", "value": 1, "within_days": 7}]})
    engine.refresh_persona(p.id, NOW)
    assert members(p.id) == set()
    make.event(people[2], "report_created", occurred_at=NOW - timedelta(hours=2))
    make.event(people[1], "report_created", occurred_at=NOW - timedelta(hours=2))
    result = engine.refresh_personas_for_contacts([people[2].id], NOW)
    assert result == {p.id: {"entered": 1, "left": 0}}
    assert members(p.id) == {people[2].id}


def test_invalid_rule_raises_and_refresh_all_goes_on(app, make, people):
    bad = make.persona(rule={"all": [{"field": "contact.nope", "op": "eq", "value": 1}]})
    good = make.persona(rule=ADMINS)
    with pytest.raises(RuleError):
        engine.refresh_persona(bad.id, NOW)
    results = engine.refresh_all_personas(NOW)
    assert "error" in results[bad.id]
    assert results[good.id] == {"entered": 2, "left": 0}
    with pytest.raises(LookupError):
        engine.refresh_persona(123456, NOW)


def test_concurrent_refreshes_do_not_duplicate(app, make, people):
    p = make.persona(rule=ADMINS)
    pid = p.id  # threads must not touch the test's session (or its objects)
    barrier = threading.Barrier(3)
    results, errors = [], []

    def worker():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results.append(engine.refresh_persona(pid, NOW))
                db.session.commit()  # as the refresh job does: the persona stays locked until then
            except Exception as exc:  # surfaced below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sum(r["entered"] for r in results) == 2
    assert members(p.id) == {people[0].id, people[1].id}
    assert len(transitions(p.id)) == 2


def test_tick_step_enqueues_due_personas_once(app, make, people, doorbell):
    p = make.persona(rule=ADMINS)
    assert engine.personas_refresh_step(NOW) == {"enqueued": 1, "already_queued": 0}
    assert engine.personas_refresh_step(NOW) == {"enqueued": 0, "already_queued": 1}
    assert doorbell.of("refresh_persona") == [{"persona_id": p.id, "as_of": NOW}] * 2
    engine.refresh_persona(p.id, NOW)  # what the rung job does
    doorbell.clear_waiting()
    db.session.expire_all()
    assert members(p.id) == {people[0].id, people[1].id}
    assert db.session.get(Persona, p.id).last_refreshed_at == NOW
    # Refreshed a minute ago: not due again until PERSONA_REFRESH_MINUTES have passed.
    assert engine.personas_refresh_step(NOW + timedelta(minutes=1))["enqueued"] == 0
    later = NOW + timedelta(minutes=engine.DEFAULT_REFRESH_MINUTES)
    assert engine.personas_refresh_step(later)["enqueued"] == 1


def test_run_tick_includes_the_persona_step(app, make, people, doorbell):
    from engine.tick import run_tick

    p = make.persona(rule=ADMINS)
    summary = run_tick(NOW)
    assert summary["personas_refresh_step"]["enqueued"] == 1
    assert doorbell.of("refresh_persona") == [{"persona_id": p.id, "as_of": NOW}]


def test_ring_refresh_for_contacts_rings_once_for_the_contacts(app, make, people, doorbell):
    engine.ring_refresh_for_contacts([people[0].id])  # no personas: nothing rung
    assert doorbell.rings == []
    p = make.persona(rule=ADMINS)
    engine.ring_refresh_for_contacts([people[0].id, people[0].id])
    assert doorbell.rings == [("refresh_personas_for_contacts", {"contact_ids": [people[0].id]})]
    engine.refresh_personas_for_contacts([people[0].id], NOW)  # what the rung job does
    assert members(p.id) == {people[0].id}


def test_daily_and_weekly_counts(app, make, people):
    p = make.persona(rule=ADMINS)
    engine.refresh_persona(p.id, NOW - timedelta(days=2))
    people[0].role = "user"
    db.session.commit()
    engine.refresh_persona(p.id, NOW)
    counts = engine.transition_counts([p.id], NOW - timedelta(days=7))
    assert counts == {p.id: {"enter": 2, "leave": 1}}
    daily = engine.daily_transitions(p.id, NOW, 30)
    assert len(daily) == 30 and daily[-1]["day"] == NOW.date()
    assert (daily[-1]["enter"], daily[-1]["leave"]) == (0, 1)
    assert (daily[-3]["enter"], daily[-3]["leave"]) == (2, 0)
    assert db.session.scalar(select(func.count()).select_from(PersonaTransition)) == 3


# --- saving and deleting (engine.personas.editing) -----------------------------------

def test_save_persona_normalises_validates_and_says_when_to_refresh(app, make):
    from engine.personas.editing import PersonaInvalid, save_persona

    p = Persona()
    assert save_persona(p, "  Dormant \n admins ", "  ", ADMINS) is True  # new: refresh
    assert (p.id is not None, p.name, p.description) == (True, "Dormant admins", None)
    assert save_persona(p, "Dormant admins", "Who we miss", ADMINS) is False  # same rule
    assert save_persona(p, "Dormant admins", None, {"user_types": [], "all": []}) is True
    with pytest.raises(PersonaInvalid) as exc:
        save_persona(Persona(), "DORMANT ADMINS", None, ADMINS)
    assert exc.value.errors == {"name": ["Another persona already has this name."]}
    with pytest.raises(PersonaInvalid) as exc:
        save_persona(Persona(), " ", "x" * 2001, {"all": [{"field": "account.arr", "op": "gt",
                                                           "value": "lots"}]})
    assert set(exc.value.errors) == {"name", "description", "rule"}
    assert exc.value.errors["rule"][0].startswith("all[0].value: ")
    db.session.rollback()  # nothing was committed: the caller decides
    assert db.session.scalar(select(func.count()).select_from(Persona)) == 0


def test_delete_persona_refuses_while_a_trigger_uses_it(app, make, people):
    from engine.personas.editing import PersonaInUse, delete_persona

    p = make.persona(rule=ADMINS)
    engine.refresh_persona(p.id, NOW)
    make.trigger(name="Zed", kind="persona_enter", persona_id=p.id)
    make.trigger(name="Alpha", kind="persona_enter", persona_id=p.id)
    with pytest.raises(PersonaInUse) as exc:
        delete_persona(p)
    assert exc.value.trigger_names == ["Alpha", "Zed"]
    assert members(p.id) == {people[0].id, people[1].id}


def test_delete_persona_takes_its_members_and_transitions(app, make, people):
    from engine.personas.editing import delete_persona

    p = make.persona(rule=ADMINS)
    engine.refresh_persona(p.id, NOW)
    db.session.commit()
    pid = p.id
    delete_persona(p)
    assert members(pid) == set() and transitions(pid) == [] and db.session.get(Persona, pid) is None
    db.session.rollback()  # the caller commits; until then nothing is gone
    assert len(members(pid)) == 2
