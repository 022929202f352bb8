"""Each change-feed trigger kind end to end: a feed row -> the tick -> a burst
worker -> a real SMTP sink (auto-send triggers; approval is the same outbox
path as every other kind)."""
from datetime import timedelta

import pytest

from engine.contacts.changes import encode_value
from engine.tick import run_tick
from extensions import db
from models import OutboxMessage
from models.base import utcnow


def _setup(make, kind):
    """(trigger kwargs, a function recording the matching change for a contact)."""
    if kind == "contact_created":
        return {}, lambda c: make.contact_change(c, "created")
    if kind == "field_updated":
        return ({"field": "contact.attributes.plan", "from_value": encode_value("trial"),
                 "to_value": encode_value("pro")},
                lambda c: make.contact_change(c, "field", field="contact.attributes.plan",
                                              old="trial", new="pro"))
    webinar = make.contact_list("Webinar — March")
    return {"list_id": webinar.id}, lambda c: make.contact_change(c, kind, contact_list=webinar)


@pytest.mark.parametrize("kind", ["contact_created", "field_updated", "list_added", "list_removed"])
def test_a_feed_trigger_emails_the_contact_through_tick_and_worker(app, make, smtp_sink, run_jobs, kind):
    ann, bob = make.contact(), make.contact()
    extra, record = _setup(make, kind)
    trigger = make.trigger(kind=kind, rule=None, requires_approval=False, once_per_24h=True,
                           subject="Hi {{ contact.first_name }}", started_at=utcnow() - timedelta(hours=1),
                           **extra)
    record(ann)
    summary = run_tick(utcnow())
    assert summary["generate_step"][str(trigger.id)]["created"] == 1
    run_jobs()
    assert [m["rcpt_tos"] for m in smtp_sink.messages] == [[ann.email]]
    db.session.expire_all()
    [row] = db.session.query(OutboxMessage).filter_by(trigger_id=trigger.id).all()
    assert (row.contact_id, row.state, row.subject) == (ann.id, "sent", f"Hi {ann.first_name}")
    # A second change for Ann within 24 hours is held back; Bob's is sent.
    record(ann)
    record(bob)
    run_tick(utcnow())
    run_jobs()
    assert [m["rcpt_tos"] for m in smtp_sink.messages] == [[ann.email], [bob.email]]
    db.session.expire_all()
    states = [(m.contact_id, m.state, m.reason_code) for m in
              db.session.query(OutboxMessage).filter_by(trigger_id=trigger.id).order_by(OutboxMessage.id)]
    assert states == [(ann.id, "sent", None), (ann.id, "suppressed", "once_per_24h"),
                      (bob.id, "sent", None)]
