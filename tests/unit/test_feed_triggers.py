"""Change-feed triggers (contact_created, field_updated, list_added, list_removed)
fire once per feed row from the tick, by a settled high-water mark like event
triggers, and the once-per-24-hours control (reason "once_per_24h") works on
every kind, on by default only for the feed kinds."""
from datetime import datetime, timedelta

from engine.contacts.changes import encode_value
from engine.triggers.generate import EVENT_SETTLE, generate_step, run_changes
from extensions import db
from models import OutboxMessage, Trigger

NOW = datetime(2026, 1, 5, 9, 0)
PLAN = "contact.attributes.plan"


def _rows(trigger):
    db.session.expire_all()
    return (db.session.query(OutboxMessage).filter_by(trigger_id=trigger.id)
            .order_by(OutboxMessage.id).all())


def _fired(trigger):
    return [(m.contact_id, m.occurrence_key) for m in _rows(trigger)]


def _feed_trigger(make, kind, **kw):
    kw.setdefault("rule", None)
    kw.setdefault("started_at", NOW - timedelta(days=1))
    return make.trigger(kind=kind, **kw)


def _field(make, contact, old, new, field=PLAN, at=None, **kw):
    return make.contact_change(contact, "field", field=field, old=old, new=new,
                               at=at or NOW - timedelta(minutes=1), **kw)


def test_contact_created_fires_once_per_created_contact(make):
    ann, bob = make.contact(), make.contact()
    trigger = _feed_trigger(make, "contact_created")
    a = make.contact_change(ann, "created", at=NOW - timedelta(minutes=2))
    _field(make, ann, None, "trial")  # another kind of change: not this trigger's
    b = make.contact_change(bob, "created", at=NOW - timedelta(minutes=1))
    summary = generate_step(NOW)[str(trigger.id)]
    assert (summary["candidates"], summary["created"]) == (2, 2)
    assert _fired(trigger) == [(ann.id, str(a.id)), (bob.id, str(b.id))]
    assert generate_step(NOW + timedelta(minutes=1)) == {}
    assert len(_rows(trigger)) == 2


def test_field_updated_matches_field_and_optional_from_and_to(make):
    ann, bob, cy, dee = (make.contact() for _ in range(4))
    any_change = _feed_trigger(make, "field_updated", field=PLAN)
    to_pro = _feed_trigger(make, "field_updated", field=PLAN, to_value=encode_value("pro"))
    trial_to_pro = _feed_trigger(make, "field_updated", field=PLAN, from_value=encode_value("trial"),
                                 to_value=encode_value("pro"))
    from_trial = _feed_trigger(make, "field_updated", field=PLAN, from_value=encode_value("trial"))
    a = _field(make, ann, "trial", "pro")
    b = _field(make, bob, None, "pro")  # first set: the old value is NULL
    c = _field(make, cy, "trial", "free")
    _field(make, dee, "trial", "pro", field="contact.role")  # another field
    _field(make, dee, "pro", 3)  # the number 3, not the text "pro"
    generate_step(NOW)
    assert {k for _, k in _fired(any_change)} == {str(a.id), str(b.id), str(c.id),
                                                   str(a.id + 4)}
    assert {k for _, k in _fired(to_pro)} == {str(a.id), str(b.id)}
    assert _fired(trial_to_pro) == [(ann.id, str(a.id))]
    assert {k for _, k in _fired(from_trial)} == {str(a.id), str(c.id)}


def test_a_typed_value_matches_only_the_same_type(make):
    ann = make.contact()
    seats = _feed_trigger(make, "field_updated", field="contact.attributes.seats",
                          to_value=encode_value(10))
    _field(make, ann, 5, "10", field="contact.attributes.seats")  # the text "10"
    tens = _field(make, ann, 5, 10, field="contact.attributes.seats")
    generate_step(NOW)
    assert _fired(seats) == [(ann.id, str(tens.id))]


def test_list_kinds_fire_for_their_list_only(make):
    ann, bob = make.contact(), make.contact()
    webinar, beta = make.contact_list("Webinar — March"), make.contact_list("Beta")
    added = _feed_trigger(make, "list_added", list_id=webinar.id)
    removed = _feed_trigger(make, "list_removed", list_id=webinar.id)
    a = make.contact_change(ann, "list_added", contact_list=webinar, at=NOW - timedelta(minutes=3))
    make.contact_change(bob, "list_added", contact_list=beta, at=NOW - timedelta(minutes=3))
    r = make.contact_change(ann, "list_removed", contact_list=webinar, at=NOW - timedelta(minutes=2))
    make.contact_change(bob, "list_removed", contact_list=beta, at=NOW - timedelta(minutes=2))
    generate_step(NOW)
    assert _fired(added) == [(ann.id, str(a.id))]
    assert _fired(removed) == [(ann.id, str(r.id))]


def test_an_incomplete_feed_trigger_fires_nothing(make):
    ann = make.contact()
    no_field = _feed_trigger(make, "field_updated", field=None)
    no_list = _feed_trigger(make, "list_added", list_id=None)
    _field(make, ann, "a", "b")
    assert run_changes(no_field, NOW) is None and run_changes(no_list, NOW) is None
    assert _rows(no_field) == [] and _rows(no_list) == []


def test_the_rule_and_the_persona_narrow_who_qualifies(make):
    from engine.personas import refresh_persona

    admin, user = make.contact(role="admin"), make.contact(role="user")
    ruled = _feed_trigger(make, "contact_created",
                          rule={"all": [{"field": "contact.role", "op": "eq", "value": "admin"}]})
    persona = make.persona(rule={"all": [{"field": "contact.role", "op": "eq", "value": "user"}]})
    refresh_persona(persona.id, NOW - timedelta(hours=1))
    db.session.commit()
    by_persona = _feed_trigger(make, "contact_created", persona_id=persona.id)
    a = make.contact_change(admin, "created", at=NOW - timedelta(minutes=1))
    u = make.contact_change(user, "created", at=NOW - timedelta(minutes=1))
    generate_step(NOW)
    assert _fired(ruled) == [(admin.id, str(a.id))]
    assert _fired(by_persona) == [(user.id, str(u.id))]


def test_no_fire_for_changes_recorded_before_activation(make):
    from engine.triggers import activate

    ann, bob = make.contact(), make.contact()
    trigger = make.trigger(kind="field_updated", field=PLAN, rule=None, status="draft")
    _field(make, ann, "trial", "pro", at=NOW - timedelta(hours=2))  # history
    assert activate(trigger, NOW - timedelta(hours=1)) == []
    db.session.commit()
    assert trigger.last_change_id > 0  # starts from the newest change
    # A change recorded before activation, committing only now with a higher id:
    _field(make, bob, "trial", "pro", at=NOW - timedelta(hours=1, minutes=5))
    after = _field(make, bob, "pro", "enterprise", at=NOW - timedelta(minutes=30))
    generate_step(NOW)
    assert _fired(trigger) == [(bob.id, str(after.id))]


def test_a_change_committed_late_below_fired_ids_fires_exactly_once(make):
    ann, bob = make.contact(), make.contact()
    first = _field(make, ann, "trial", "pro", at=NOW - timedelta(hours=1))
    trigger = _feed_trigger(make, "field_updated", field=PLAN, last_change_id=first.id)
    base = first.id
    late_id, fast_id = base + 2, base + 4
    _field(make, ann, "pro", "trial", at=NOW - timedelta(seconds=20), id=fast_id)
    assert generate_step(NOW)[str(trigger.id)]["created"] == 1
    # The slow transaction's row commits now, with an id below the fired one.
    _field(make, bob, "trial", "pro", at=NOW - timedelta(seconds=30), id=late_id)
    summary = generate_step(NOW + timedelta(minutes=1))[str(trigger.id)]
    assert (summary["candidates"], summary["created"]) == (1, 1)
    assert [k for _, k in _fired(trigger)] == [str(fast_id), str(late_id)]
    assert generate_step(NOW + timedelta(minutes=2)) == {}
    assert run_changes(db.session.get(Trigger, trigger.id), NOW + timedelta(minutes=2)) is None


def test_the_mark_trails_by_the_settle_window_and_quiet_ticks_write_nothing(make, monkeypatch):
    ann = make.contact()
    trigger = _feed_trigger(make, "contact_created")
    c = make.contact_change(ann, "created", at=NOW - timedelta(minutes=1))
    generate_step(NOW)
    db.session.expire_all()
    assert db.session.get(Trigger, trigger.id).last_change_id == 0  # not settled yet
    settled = NOW - timedelta(minutes=1) + EVENT_SETTLE
    assert generate_step(settled) == {}  # the mark moves, nothing fires again
    db.session.expire_all()
    assert db.session.get(Trigger, trigger.id).last_change_id == c.id
    # Now quiet: the run returns before writing anything at all.
    from engine.triggers import generate as gen

    def no_write(*a, **k):
        raise AssertionError("a quiet tick must not write")

    monkeypatch.setattr(gen, "_advance_mark", no_write)
    monkeypatch.setattr(gen, "generate", no_write)
    assert run_changes(db.session.get(Trigger, trigger.id), settled + timedelta(minutes=1)) is None
    assert _fired(trigger) == [(ann.id, str(c.id))]


def test_two_changes_of_one_contact_in_one_run(make):
    """As for events: both are candidates; with a control the second is held back."""
    ann = make.contact()
    no_controls = _feed_trigger(make, "field_updated", field=PLAN, once_per_24h=False)
    once = _feed_trigger(make, "field_updated", field=PLAN, once_per_24h=True)
    _field(make, ann, "trial", "pro")
    _field(make, ann, "pro", "enterprise")
    generate_step(NOW)
    assert [m.state for m in _rows(no_controls)] == ["pending_approval", "pending_approval"]
    assert [(m.state, m.reason_code) for m in _rows(once)] == [
        ("pending_approval", None), ("suppressed", "once_per_24h")]
    assert _rows(once)[1].reason == "at most once in 24 hours: emailed by this trigger today"


def test_once_per_24h_holds_back_for_24_hours_from_this_trigger_only(make):
    ann = make.contact()
    trigger = _feed_trigger(make, "field_updated", field=PLAN, once_per_24h=True)
    other = _feed_trigger(make, "field_updated", field=PLAN, once_per_24h=False)
    _field(make, ann, "trial", "pro", at=NOW - timedelta(minutes=1))
    generate_step(NOW)
    assert [m.state for m in _rows(trigger)] == ["pending_approval"]
    # 23 hours later: held back by this trigger's own email, not by the other's.
    later = NOW + timedelta(hours=23)
    _field(make, ann, "pro", "trial", at=later - timedelta(minutes=1))
    generate_step(later)
    held = _rows(trigger)[-1]
    assert (held.state, held.reason_code) == ("suppressed", "once_per_24h")
    assert held.reason == "at most once in 24 hours: emailed by this trigger 1 day ago"
    assert [m.state for m in _rows(other)] == ["pending_approval", "pending_approval"]
    # 24 hours after the first email the contact may get it again.
    again = NOW + timedelta(hours=24, minutes=1)
    _field(make, ann, "trial", "pro", at=again - timedelta(minutes=1))
    generate_step(again)
    assert _rows(trigger)[-1].state == "pending_approval"


def test_once_per_24h_works_on_schedule_triggers_and_old_kinds_are_unchanged(make):
    from models.outbox import REASON_LABELS, SUPPRESSION_CODES

    ann = make.contact()
    daily_once = make.trigger(once_per_24h=True, generate_at=NOW.time(), send_at=NOW.time())
    daily = make.trigger(generate_at=NOW.time(), send_at=NOW.time())
    assert daily.once_per_24h is False  # the old kinds' default: off
    make.outbox_message(trigger=daily_once, contact=ann, state="sent",
                        sent_at=NOW - timedelta(hours=20), created_at=NOW - timedelta(hours=20))
    make.outbox_message(trigger=daily, contact=ann, state="sent",
                        sent_at=NOW - timedelta(hours=20), created_at=NOW - timedelta(hours=20))
    generate_step(NOW)
    held = [m for m in _rows(daily_once) if m.state != "sent"]
    assert [(m.state, m.reason_code, m.reason) for m in held] == [
        ("suppressed", "once_per_24h", "at most once in 24 hours: sent by this trigger 1 day ago")]
    assert [m.state for m in _rows(daily) if m.state != "sent"] == ["pending_approval"]
    assert REASON_LABELS["once_per_24h"] == "Once in 24 hours" and "once_per_24h" in SUPPRESSION_CODES


def test_the_retrigger_delay_code_wins_over_once_per_24h(make):
    ann = make.contact()
    trigger = _feed_trigger(make, "contact_created", once_per_24h=True, retrigger_delay_days=3)
    make.outbox_message(trigger=trigger, contact=ann, state="sent",
                        sent_at=NOW - timedelta(hours=2), created_at=NOW - timedelta(hours=2))
    make.contact_change(ann, "created", at=NOW - timedelta(minutes=1))
    generate_step(NOW)
    assert _rows(trigger)[-1].reason_code == "retrigger_delay"
