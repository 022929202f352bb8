"""Report figures: drill-down lists and daily status (the daily figures: test_report_fold.py)."""
from datetime import date, datetime, time

from engine import reports
from engine.reports.fold import fold_pending
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
    fold_pending(datetime(2026, 5, 2))
    day = reports.daily_trends(trigger, date(2026, 5, 1), date(2026, 5, 1))[0]
    assert day["clicked"] == len(rows)
