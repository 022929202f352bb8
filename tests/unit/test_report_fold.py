"""The report aggregates: folded incrementally, rebuilt from events, and equal to
a plain-Python count of the events (Natero's definitions, local days)."""
import random
from collections import defaultdict
from datetime import date, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select, update

from engine import reports
from engine.reports.fold import KIND_METRICS, fold_pending
from engine.reports.rebuild import rebuild
from engine.clock import local_date
from engine.tick import run_tick
from extensions import db
from models import DeliveryEvent, ReportDay, ReportDayContact, ReportRecipient
from models.report import METRICS

NOW = datetime(2026, 4, 20, 12)


def _events(make, trigger, contacts, n, seed, start=datetime(2026, 3, 1)):
    """n random events over ~7 weeks (across the 8 March DST change)."""
    rng = random.Random(seed)
    messages = {c.id: make.outbox_message(trigger=trigger, contact=c, state="sent") for c in contacts}
    kinds = list(KIND_METRICS)
    rows = []
    for _ in range(n):
        c = rng.choice(contacts)
        at = start + timedelta(minutes=rng.randrange(0, 50 * 24 * 60))
        rows.append(DeliveryEvent(message_id=messages[c.id].id, trigger_id=trigger.id, contact_id=c.id,
                                  kind=rng.choice(kinds), at=at))
    db.session.add_all(rows)
    db.session.commit()


def _expected(triggers):
    """From the events, in plain Python: {(trigger, day): {metric: n}} and 30-day recipients."""
    tz = {t.id: t.timezone for t in triggers}
    seen = set()
    for e in db.session.scalars(select(DeliveryEvent)):
        for metric in KIND_METRICS[e.kind]:
            seen.add((e.trigger_id, local_date(e.at, tz[e.trigger_id]), metric, e.contact_id))
    days = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    recent = defaultdict(set)
    for t, day, metric, contact in seen:
        days[(t, day)][metric] += 1
        if metric == "delivered" and day >= local_date(NOW, tz[t]) - timedelta(days=29):
            recent[t].add(contact)
    return dict(days), {t.id: len(recent[t.id]) for t in triggers}


def _stored():
    days = {(r.trigger_id, r.day): {m: getattr(r, m) for m in METRICS}
            for r in db.session.scalars(select(ReportDay))}
    return {k: v for k, v in days.items() if any(v.values())}


def _snapshot():
    def rows(model, *cols):
        return sorted(tuple(getattr(r, c) for c in cols) for r in db.session.scalars(select(model)))
    return (rows(ReportDayContact, "trigger_id", "day", "metric", "contact_id"),
            rows(ReportDay, "trigger_id", "day", *METRICS, "latest_delivered"),
            rows(ReportRecipient, "trigger_id", "contact_id", "last_day"))


def test_folds_in_steps_equal_the_events_and_the_rebuild(app, make):
    triggers = [make.trigger(timezone="America/New_York"), make.trigger(timezone="Asia/Kolkata"),
                make.trigger(timezone="UTC")]
    contacts = [make.contact() for _ in range(12)]
    for step in range(3):  # events arrive between folds, as in production
        for i, t in enumerate(triggers):
            _events(make, t, contacts[i * 3:i * 3 + 8], 120, seed=step * 10 + i)
        fold_pending(NOW)
        assert not db.session.scalar(select(DeliveryEvent.id).where(DeliveryEvent.counted.is_(False)))
    days, recent = _expected(triggers)
    assert _stored() == days
    assert reports.recipients_30d([t.id for t in triggers], NOW) == recent
    assert any(recent.values())
    folded = _snapshot()
    rebuild(NOW)
    assert _snapshot() == folded
    # Folding every event again (as after a crash between fold and mark) changes nothing.
    db.session.execute(update(DeliveryEvent).values(counted=False))
    db.session.commit()
    fold_pending(NOW)
    assert _snapshot() == folded


def test_daily_trends_count_distinct_contacts_per_local_day(app, make):
    trigger = make.trigger(timezone="America/New_York")
    a, b, c = make.contact(), make.contact(), make.contact()
    ma, mb, mc = (make.outbox_message(trigger=trigger, contact=x, state="sent") for x in (a, b, c))

    def event(m, kind, at):
        db.session.add(DeliveryEvent(message_id=m.id, trigger_id=trigger.id, contact_id=m.contact_id,
                                     kind=kind, at=at))
    # 2026-03-10 in New York (UTC-4 after the 8 March DST change) runs 04:00Z..04:00Z next day.
    event(ma, "delivered", datetime(2026, 3, 10, 13))
    event(mb, "delivered", datetime(2026, 3, 10, 13))
    event(mc, "failed", datetime(2026, 3, 10, 13))
    event(ma, "opened", datetime(2026, 3, 10, 14))
    db.session.commit()
    fold_pending(NOW)
    event(ma, "opened", datetime(2026, 3, 10, 15))  # the same user twice counts once, fold or not
    event(mb, "opened", datetime(2026, 3, 11, 3, 30))  # 23:30 on the 10th in New York
    event(ma, "clicked", datetime(2026, 3, 10, 16))
    event(mb, "unsubscribed", datetime(2026, 3, 11, 5))  # the 11th locally
    db.session.commit()
    fold_pending(NOW)
    by_day = {r["day"]: r for r in reports.daily_trends(trigger, date(2026, 3, 9), date(2026, 3, 11))}
    day = by_day[date(2026, 3, 10)]
    assert (day["recipients"], day["delivered"], day["opened"], day["clicked"], day["failed"]) == (3, 2, 2, 1, 1)
    assert day["ctr"] == 0.5
    assert by_day[date(2026, 3, 11)]["unsubscribed"] == 1
    assert by_day[date(2026, 3, 9)]["recipients"] == 0 and by_day[date(2026, 3, 9)]["ctr"] is None


def test_thirty_day_recipients_count_each_contact_once(app, make):
    trigger = make.trigger(timezone="UTC")
    a, b = make.contact(), make.contact()
    for contact, days_ago in ((a, 40), (a, 3), (a, 1), (b, 31)):
        m = make.outbox_message(trigger=trigger, contact=contact, state="sent")
        db.session.add(DeliveryEvent(message_id=m.id, trigger_id=trigger.id, contact_id=contact.id,
                                     kind="delivered", at=NOW - timedelta(days=days_ago)))
        db.session.commit()
        fold_pending(NOW)
    assert reports.recipients_30d([trigger.id], NOW) == {trigger.id: 1}
    assert reports.recipients_30d([trigger.id], NOW + timedelta(days=28)) == {trigger.id: 1}
    assert reports.recipients_30d([trigger.id], NOW + timedelta(days=29)) == {trigger.id: 0}


def _one_event(make, kind, at, **trigger_fields):
    trigger = make.trigger(**trigger_fields)
    contact = make.contact()
    m = make.outbox_message(trigger=trigger, contact=contact, state="sent")
    db.session.add(DeliveryEvent(message_id=m.id, trigger_id=trigger.id, contact_id=contact.id,
                                 kind=kind, at=at))
    db.session.commit()
    return trigger


def test_the_tick_folds_and_the_command_rebuilds(app, make):
    trigger = _one_event(make, "opened", datetime(2026, 4, 19, 9), timezone="UTC", status="paused")
    assert run_tick(NOW)["report_fold_step"] == {"folded": 1}
    assert _stored()[(trigger.id, date(2026, 4, 19))]["opened"] == 1
    db.session.execute(ReportDay.__table__.delete())  # aggregates lost or wrong: the command mends them
    db.session.commit()
    result = CliRunner().invoke(app.cli, ["nudge", "rebuild-reports"], catch_exceptions=False)
    assert "Reports rebuilt" in result.output
    db.session.expire_all()
    assert _stored()[(trigger.id, date(2026, 4, 19))]["opened"] == 1


def test_editing_the_timezone_refolds_and_deleting_the_trigger_drops_its_rows(app, make):
    from engine.triggers import apply_trigger, delete_trigger

    trigger = _one_event(make, "delivered", datetime(2026, 4, 10, 2), timezone="UTC")
    fold_pending(NOW)
    assert _stored() == {(trigger.id, date(2026, 4, 10)): {**dict.fromkeys(METRICS, 0), "recipients": 1,
                                                           "delivered": 1}}
    # 02:00Z is the evening before in Los Angeles.
    apply_trigger(trigger, {"timezone": "America/Los_Angeles", "name": "Renamed"})
    db.session.commit()
    fold_pending(NOW)
    assert list(_stored()) == [(trigger.id, date(2026, 4, 9))]
    apply_trigger(trigger, {"timezone": "America/Los_Angeles", "name": "Same zone"})  # no refold
    db.session.commit()
    assert not db.session.scalar(select(DeliveryEvent.id).where(DeliveryEvent.counted.is_(False)))
    delete_trigger(trigger, NOW)
    db.session.commit()
    assert _snapshot() == ([], [], [])
