"""Event triggers fire once per event, even for an event that commits late with an id
below ids that have already fired (PostgreSQL hands out ids at INSERT, and ingest
transactions commit in another order)."""
from datetime import datetime, timedelta

from engine.triggers.generate import EVENT_SETTLE, generate_step, run_events
from extensions import db
from models import Event, OutboxMessage, Trigger

NOW = datetime(2026, 1, 5, 9, 0)


def _event(contact, event_id, received_at, name="export_failed"):
    """An event with a chosen id, as if its ingest transaction committed only now."""
    db.session.add(Event(id=event_id, contact_id=contact.id, name=name, occurred_at=received_at,
                         received_at=received_at, properties={}))
    db.session.commit()


def _fired(trigger):
    db.session.expire_all()
    return [m.occurrence_key for m in db.session.query(OutboxMessage)
            .filter_by(trigger_id=trigger.id).order_by(OutboxMessage.id)]


def _mark(trigger):
    db.session.expire_all()
    return db.session.get(Trigger, trigger.id).last_event_id


def _event_trigger(make, mark, **kw):
    kw.setdefault("rule", None)
    return make.trigger(kind="event", event_name="export_failed", last_event_id=mark, **kw)


def test_an_event_committed_late_below_fired_ids_fires_exactly_once(make):
    ann, bob = make.contact(), make.contact()
    _event(ann, 100, NOW - timedelta(hours=1))  # history: the trigger starts after it
    trigger = _event_trigger(make, mark=100)
    # Two ingest batches: 101-103 (Bob's, slow to commit) and 104 (Ann's, fast).
    _event(ann, 104, NOW - timedelta(seconds=20))
    assert generate_step(NOW)[str(trigger.id)]["created"] == 1
    assert _fired(trigger) == ["104"]
    # A plain high-water mark would now be 104. Bob's batch commits only now, below it:
    _event(bob, 102, NOW - timedelta(seconds=30))
    assert 102 < 104
    summary = generate_step(NOW + timedelta(minutes=1))[str(trigger.id)]
    assert (summary["candidates"], summary["created"]) == (1, 1)
    assert _fired(trigger) == ["104", "102"]
    # Later ticks create nothing: no run (and no write) at all.
    assert generate_step(NOW + timedelta(minutes=2)) == {}
    assert run_events(db.session.get(Trigger, trigger.id), NOW + timedelta(minutes=2)) is None
    assert _fired(trigger) == ["104", "102"]


def test_the_mark_trails_by_the_settle_window_then_quiet_ticks_write_nothing(make):
    ann = make.contact()
    trigger = _event_trigger(make, mark=0)
    _event(ann, 1, NOW - timedelta(minutes=1))
    _event(ann, 2, NOW - timedelta(seconds=5), name="login")  # another name: settles the mark too
    generate_step(NOW)
    assert _mark(trigger) == 0  # nothing settled yet: a lower id could still commit
    settled = NOW - timedelta(minutes=1) + EVENT_SETTLE  # event 1 settles, event 2 not yet
    assert generate_step(settled) == {}  # the mark moved, nothing fired again
    assert _mark(trigger) == 1
    assert generate_step(settled + timedelta(minutes=1)) == {}
    assert _mark(trigger) == 2
    assert _fired(trigger) == ["1"]
    # An event committing after its id settled is beyond the window (ingest
    # batches take seconds, the window is minutes); newer ones still fire.
    _event(ann, 3, settled + timedelta(minutes=2))
    generate_step(settled + timedelta(minutes=2))
    assert _fired(trigger) == ["1", "3"]


def test_two_ticks_at_once_fire_nothing_twice(make):
    ann, bob = make.contact(), make.contact()
    trigger = _event_trigger(make, mark=0)
    _event(ann, 1, NOW)
    _event(bob, 2, NOW)
    loaded = db.session.get(Trigger, trigger.id)
    assert run_events(loaded, NOW)["created"] == 2
    db.session.commit()  # as generate_step commits each run
    # A concurrent tick that read the same mark: the outbox already says these fired.
    assert run_events(loaded, NOW) is None
    assert _fired(trigger) == ["1", "2"]


def test_events_the_rule_filters_out_are_re_examined_only_until_they_settle(make):
    admin, user = make.contact(role="admin"), make.contact(role="user")
    trigger = _event_trigger(make, mark=0, rule={
        "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]})
    _event(user, 1, NOW)
    _event(admin, 2, NOW)
    assert generate_step(NOW)[str(trigger.id)]["created"] == 1
    # The user's event has no outbox row, so it is looked at again while unsettled...
    assert generate_step(NOW + timedelta(minutes=1))[str(trigger.id)]["created"] == 0
    # ...until the mark passes it (a tick that was down for a while still fires
    # settled events it has not seen yet), then never.
    assert generate_step(NOW + EVENT_SETTLE)[str(trigger.id)]["created"] == 0
    assert _mark(trigger) == 2
    assert generate_step(NOW + EVENT_SETTLE + timedelta(minutes=1)) == {}
    assert _fired(trigger) == ["2"]


def test_events_received_before_the_trigger_started_never_fire(make):
    ann = make.contact()
    trigger = _event_trigger(make, mark=0, started_at=NOW)
    _event(ann, 1, NOW - timedelta(minutes=3))  # history, still inside the settle window
    _event(ann, 2, NOW + timedelta(seconds=10))
    generate_step(NOW + timedelta(minutes=1))
    for minutes in (EVENT_SETTLE.seconds // 60 - 2, EVENT_SETTLE.seconds // 60 + 5):
        generate_step(NOW + timedelta(minutes=minutes))  # the mark settles past event 1
    assert _fired(trigger) == ["2"]


def test_reactivation_starts_from_the_newest_event(make):
    from engine.triggers import activate

    ann = make.contact()
    trigger = _event_trigger(make, mark=0, status="inactive", started_at=NOW - timedelta(days=1))
    _event(ann, 1, NOW - timedelta(minutes=2))  # while the trigger was inactive
    assert activate(trigger, NOW) == []
    db.session.commit()
    _event(ann, 2, NOW + timedelta(seconds=30))
    generate_step(NOW + timedelta(minutes=1))
    assert _fired(trigger) == ["2"]


def test_events_already_settled_when_first_seen_still_fire(make):
    """The scheduler was down for an hour: what came in meanwhile still fires, once."""
    ann, bob = make.contact(), make.contact()
    trigger = _event_trigger(make, mark=0)
    _event(ann, 1, NOW - timedelta(hours=1))
    _event(bob, 2, NOW - timedelta(minutes=30))
    assert generate_step(NOW)[str(trigger.id)]["created"] == 2
    assert _mark(trigger) == 2
    assert generate_step(NOW + timedelta(minutes=1)) == {}
    assert _fired(trigger) == ["1", "2"]


def test_an_event_trigger_with_a_persona_fires_only_for_its_members(make):
    from models import PersonaMember

    member, outsider = make.contact(), make.contact()
    persona = make.persona(name="Billing owners")
    db.session.add(PersonaMember(persona_id=persona.id, contact_id=member.id))
    db.session.commit()
    trigger = _event_trigger(make, mark=0, persona_id=persona.id)
    _event(member, 1, NOW - timedelta(seconds=30))
    _event(outsider, 2, NOW - timedelta(seconds=20))
    generate_step(NOW)
    assert _fired(trigger) == ["1"]
