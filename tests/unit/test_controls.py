"""Frequency controls with Natero semantics; every "no" is stored with its reason."""
from datetime import datetime, time, timedelta

from engine.triggers.generate import generate_step
from extensions import db
from models import OutboxMessage

TICK = datetime(2026, 1, 5, 8, 0, 30)  # a Monday, just after the 08:00 generate time


def _rows(trigger):
    db.session.expire_all()
    return {m.contact_id: m for m in db.session.query(OutboxMessage).filter_by(
        trigger_id=trigger.id, occurrence_key=TICK.date().isoformat())}


def _previous(make, trigger, contact, state="sent", days_ago=1, **kw):
    at = TICK - timedelta(days=days_ago)
    kw.setdefault("sent_at", at if state == "sent" else None)
    kw.setdefault("occurrence_key", at.date().isoformat())
    return make.outbox_message(trigger=trigger, contact=contact, state=state, created_at=at,
                               send_after=at, **kw)


def test_unsubscribed_contacts_are_never_emailed(make):
    kept = make.contact()
    gone = make.contact(unsubscribed_at=TICK - timedelta(days=40))
    trigger = make.trigger()
    generate_step(TICK)
    rows = _rows(trigger)
    assert rows[kept.id].state == "pending_approval"
    assert (rows[gone.id].state, rows[gone.id].reason) == ("suppressed", "unsubscribed")
    assert rows[gone.id].reason_code == "unsubscribed" and rows[kept.id].reason_code is None
    assert rows[gone.id].html is None  # suppressed rows are not rendered


def test_never_retrigger(make):
    emailed, fresh = make.contact(), make.contact()
    trigger = make.trigger(never_retrigger=True)
    _previous(make, trigger, emailed, days_ago=300)
    generate_step(TICK)
    rows = _rows(trigger)
    assert rows[fresh.id].state == "pending_approval"
    assert rows[emailed.id].state == "suppressed"
    expected = (TICK - timedelta(days=300)).date().isoformat()
    assert rows[emailed.id].reason == f"never re-trigger: already sent on {expected}"
    assert rows[emailed.id].reason_code == "never_retrigger"


def test_never_retrigger_ignores_messages_that_never_went_out(make):
    contact = make.contact()
    trigger = make.trigger(never_retrigger=True)
    _previous(make, trigger, contact, state="rejected", days_ago=3)
    _previous(make, trigger, contact, state="failed", days_ago=2)
    generate_step(TICK)
    assert _rows(trigger)[contact.id].state == "pending_approval"


def test_retrigger_delay_counts_calendar_days(make):
    two_days, seven_days = make.contact(), make.contact()
    trigger = make.trigger(retrigger_delay_days=7)
    _previous(make, trigger, two_days, days_ago=2)
    # Sent a week ago a few seconds LATER in the day than this tick: still allowed.
    _previous(make, trigger, seven_days, days_ago=7, sent_at=TICK - timedelta(days=7) + timedelta(hours=1))
    generate_step(TICK)
    rows = _rows(trigger)
    assert rows[two_days.id].reason == "re-trigger delay: sent 2 days ago (7-day delay)"
    assert rows[two_days.id].reason_code == "retrigger_delay"
    assert rows[seven_days.id].state == "pending_approval"


def test_global_delay_names_the_trigger_that_emailed(make):
    contact, other = make.contact(), make.contact()
    welcome = make.trigger(name="Welcome", status="inactive")
    trigger = make.trigger(global_delay_days=3)
    _previous(make, welcome, contact, days_ago=1)
    _previous(make, welcome, other, days_ago=3)
    generate_step(TICK)
    rows = _rows(trigger)
    assert rows[contact.id].reason == "global delay: emailed by “Welcome” 1 day ago (3-day delay)"
    assert rows[contact.id].reason_code == "global_delay"
    assert rows[other.id].state == "pending_approval"


def test_triggers_due_together_run_by_priority_and_see_each_other(make):
    contact = make.contact()
    low = make.trigger(name="Low", priority=1, global_delay_days=2)
    high = make.trigger(name="High", priority=5, global_delay_days=2)
    summary = generate_step(TICK)
    assert list(summary) == [str(high.id), str(low.id)]  # highest priority first
    assert _rows(high)[contact.id].state == "pending_approval"
    low_row = _rows(low)[contact.id]
    assert low_row.state == "suppressed"
    assert low_row.reason == "global delay: emailed by “High” today (2-day delay)"


def test_global_delay_counts_pending_but_not_rejected_or_suppressed(make):
    pending, rejected = make.contact(), make.contact()
    other = make.trigger(name="Other", status="inactive")
    trigger = make.trigger(global_delay_days=5)
    _previous(make, other, pending, state="pending_approval", days_ago=1)
    _previous(make, other, rejected, state="rejected", days_ago=1)
    _previous(make, other, rejected, state="suppressed", days_ago=1, occurrence_key="x")
    generate_step(TICK)
    rows = _rows(trigger)
    assert rows[pending.id].state == "suppressed"
    assert rows[pending.id].reason.startswith("global delay: emailed by “Other” 1 day ago")
    assert rows[rejected.id].state == "pending_approval"


def test_controls_use_the_trigger_timezone_for_days(make):
    contact = make.contact()
    # 23:30 UTC on Jan 3 is already Jan 4 in Tokyo; at 08:00 Tokyo on Jan 5 that is "1 day ago".
    trigger = make.trigger(timezone="Asia/Tokyo", generate_at=time(8, 0), send_at=time(9, 0),
                           retrigger_delay_days=2)
    at = datetime(2026, 1, 3, 23, 30)
    make.outbox_message(trigger=trigger, contact=contact, state="sent", sent_at=at, created_at=at,
                        occurrence_key="2026-01-04")
    tick = datetime(2026, 1, 4, 23, 5)  # 08:05 on Jan 5 in Tokyo
    generate_step(tick)
    db.session.expire_all()
    row = db.session.query(OutboxMessage).filter_by(occurrence_key="2026-01-05").one()
    assert row.reason == "re-trigger delay: sent 1 day ago (2-day delay)"


def test_precedence_between_this_triggers_rules_and_the_global_delay(make):
    """One looked-up row decides; the reason names the rule it met, in order."""
    recent, older, both, only_other, not_counted = (make.contact() for _ in range(5))
    other = make.trigger(name="Other", status="inactive")
    trigger = make.trigger(name="Weekly", retrigger_delay_days=2, global_delay_days=7)
    _previous(make, trigger, recent, days_ago=1)
    # Outside the 2-day re-trigger window but inside the 7-day global one: the
    # global delay holds it back, naming this very trigger.
    _previous(make, trigger, older, days_ago=4)
    _previous(make, trigger, both, days_ago=5)
    _previous(make, other, both, state="approved", days_ago=3, sent_at=None, occurrence_key="o")
    _previous(make, other, only_other, days_ago=6)
    _previous(make, trigger, not_counted, state="failed", days_ago=1)
    _previous(make, other, not_counted, state="suppressed", days_ago=1, occurrence_key="o")
    generate_step(TICK)
    rows = _rows(trigger)
    assert rows[recent.id].reason == "re-trigger delay: sent 1 day ago (2-day delay)"
    assert rows[older.id].reason == "global delay: emailed by “Weekly” 4 days ago (7-day delay)"
    assert rows[both.id].reason == "global delay: emailed by “Other” 3 days ago (7-day delay)"
    assert rows[only_other.id].reason == "global delay: emailed by “Other” 6 days ago (7-day delay)"
    assert (rows[not_counted.id].state, rows[not_counted.id].reason) == ("pending_approval", None)
    codes = {c.id: rows[c.id].reason_code for c in (recent, older, both, only_other, not_counted)}
    assert codes == {recent.id: "retrigger_delay", older.id: "global_delay", both.id: "global_delay",
                     only_other.id: "global_delay", not_counted.id: None}


def test_never_retrigger_wins_over_the_global_delay(make):
    old_mine, pending_mine, only_other = make.contact(), make.contact(), make.contact()
    other = make.trigger(name="Other", status="inactive")
    trigger = make.trigger(never_retrigger=True, retrigger_delay_days=3, global_delay_days=3)
    _previous(make, trigger, old_mine, days_ago=300)
    _previous(make, other, old_mine, days_ago=1)
    _previous(make, trigger, pending_mine, state="pending_approval", days_ago=2, sent_at=None)
    _previous(make, other, only_other, days_ago=1)
    generate_step(TICK)
    rows = _rows(trigger)
    day = (TICK - timedelta(days=300)).date().isoformat()
    assert rows[old_mine.id].reason == f"never re-trigger: already sent on {day}"
    day = (TICK - timedelta(days=2)).date().isoformat()
    assert rows[pending_mine.id].reason == (
        f"never re-trigger: already emailed on {day} (pending approval)")
    assert rows[only_other.id].reason == "global delay: emailed by “Other” 1 day ago (3-day delay)"
    assert all(row.state == "suppressed" for row in rows.values())
    assert [rows[c.id].reason_code for c in (old_mine, pending_mine, only_other)] == [
        "never_retrigger", "never_retrigger", "global_delay"]
