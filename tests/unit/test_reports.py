"""Report figures from delivery events: Natero's definitions, days in the trigger's timezone."""
from datetime import date, datetime, time

from engine import reports
from extensions import db
from models import DeliveryEvent, OutboxMessage, Trigger


def _trigger(tz="America/New_York"):
    t = Trigger(name="Nudge", kind="schedule", status="active", timezone=tz,
                generate_at=time(8), send_at=time(9))
    db.session.add(t)
    db.session.commit()
    return t


def _message(trigger, contact, key="k"):
    m = OutboxMessage(trigger_id=trigger.id, contact_id=contact.id, account_id=contact.account_id,
                      occurrence_key=key, state="sent", to_email=contact.email)
    db.session.add(m)
    db.session.commit()
    return m


def _event(message, kind, at, detail=None):
    db.session.add(DeliveryEvent(message_id=message.id, trigger_id=message.trigger_id,
                                 contact_id=message.contact_id, kind=kind, at=at, detail=detail))
    db.session.commit()


def test_daily_trends_count_distinct_contacts_per_local_day(app, make):
    trigger = _trigger()
    a, b, c = make.contact(), make.contact(), make.contact()
    ma, mb, mc = _message(trigger, a), _message(trigger, b), _message(trigger, c)
    # 2026-03-10 in New York (UTC-4 after the 8 March DST change) runs 04:00Z..04:00Z next day.
    _event(ma, "delivered", datetime(2026, 3, 10, 13))
    _event(mb, "delivered", datetime(2026, 3, 10, 13))
    _event(mc, "failed", datetime(2026, 3, 10, 13), "550 no such user")
    _event(ma, "opened", datetime(2026, 3, 10, 14))
    _event(ma, "opened", datetime(2026, 3, 10, 15))  # the same user twice counts once
    _event(mb, "opened", datetime(2026, 3, 11, 3, 30))  # 23:30 on the 10th in New York
    _event(ma, "clicked", datetime(2026, 3, 10, 16), "https://example.com/a")
    _event(mb, "unsubscribed", datetime(2026, 3, 11, 5))  # the 11th locally
    rows = reports.daily_trends(trigger, date(2026, 3, 9), date(2026, 3, 11))
    by_day = {r["day"]: r for r in rows}
    day = by_day[date(2026, 3, 10)]
    assert (day["recipients"], day["delivered"], day["opened"], day["clicked"], day["failed"]) == (3, 2, 2, 1, 1)
    assert day["ctr"] == 0.5
    assert by_day[date(2026, 3, 11)]["unsubscribed"] == 1
    assert by_day[date(2026, 3, 9)]["recipients"] == 0 and by_day[date(2026, 3, 9)]["ctr"] is None
    assert [r["day"] for r in rows] == [date(2026, 3, 11), date(2026, 3, 10), date(2026, 3, 9)]


def test_dst_day_ranges_are_23_and_25_hours(app):
    spring = reports.day_ranges(date(2026, 3, 8), date(2026, 3, 8), "America/New_York")[0]
    autumn = reports.day_ranges(date(2026, 11, 1), date(2026, 11, 1), "America/New_York")[0]
    assert (spring[2] - spring[1]).total_seconds() == 23 * 3600
    assert (autumn[2] - autumn[1]).total_seconds() == 25 * 3600


def test_recipients_drill_down_matches_the_number(app, make):
    trigger = _trigger("UTC")
    contacts = [make.contact() for _ in range(3)]
    for c in contacts:
        m = _message(trigger, c)
        _event(m, "clicked", datetime(2026, 5, 1, 10), "https://example.com/x")
        _event(m, "clicked", datetime(2026, 5, 1, 11), "https://example.com/y")
    rows = db.session.execute(reports.recipients_query(trigger, date(2026, 5, 1), "clicked")).all()
    assert len(rows) == 3
    assert {r.contact_id for r in rows} == {c.id for c in contacts}
    assert all(r.detail == "https://example.com/x" for r in rows)  # the first event of each contact
    day = reports.daily_trends(trigger, date(2026, 5, 1), date(2026, 5, 1))[0]
    assert day["clicked"] == len(rows)
