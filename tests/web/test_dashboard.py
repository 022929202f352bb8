from datetime import time, timedelta

from extensions import db
from models import DeliveryEvent, OutboxMessage, Trigger
from models.base import utcnow


def test_home_shows_real_counts(login, make):
    client = login("viewer")
    now = utcnow()
    good = Trigger(name="Great trigger", status="active", timezone="UTC", generate_at=time(8), send_at=time(9))
    db.session.add(good)
    db.session.commit()
    c = make.contact()
    waiting = OutboxMessage(trigger_id=good.id, contact_id=c.id, account_id=c.account_id, occurrence_key="a",
                            state="pending_approval", to_email=c.email)
    failed = OutboxMessage(trigger_id=good.id, contact_id=c.id, account_id=c.account_id, occurrence_key="b",
                           state="failed", to_email=c.email, reason="550 mailbox unavailable", failed_at=now)
    sent = OutboxMessage(trigger_id=good.id, contact_id=c.id, account_id=c.account_id, occurrence_key="c",
                         state="sent", to_email=c.email, sent_at=now)
    db.session.add_all([waiting, failed, sent])
    db.session.flush()
    for kind in ("delivered", "opened", "clicked"):
        db.session.add(DeliveryEvent(message_id=sent.id, trigger_id=good.id, contact_id=c.id, kind=kind,
                                     at=now - timedelta(hours=1)))
    db.session.commit()
    page = client.get("/").data.decode()
    assert "Waiting for approval" in page
    assert "550 mailbox unavailable" in page
    assert "Great trigger" in page and "100.0%" in page
