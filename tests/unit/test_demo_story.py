"""The demo history is made by the real engine, so its numbers agree with the outbox."""
from sqlalchemy import func, select

from devtools.demo import ensure_demo_admin, generate
from devtools.demo_story import seed_story
from extensions import db
from models import DeliveryEvent, OutboxMessage, Trigger
from models.base import utcnow


def test_story_runs_the_engine_and_leaves_work_waiting(app):
    now = utcnow()
    generate(db.session, accounts=15, contacts=200, events=4000, seed=3, now=now)
    ensure_demo_admin()
    made = seed_story(app, now, days=3, seed=3)
    assert made["triggers"] == 4
    assert db.session.scalar(select(func.count()).select_from(Trigger).where(Trigger.status == "active")) == 4
    sent = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "sent"))
    delivered = db.session.scalar(select(func.count()).select_from(DeliveryEvent).where(DeliveryEvent.kind == "delivered"))
    assert sent > 0 and delivered == sent
    waiting = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.state == "pending_approval"))
    assert waiting > 0
    # Every open or click belongs to a message that was really sent.
    stray = db.session.scalar(select(func.count()).select_from(DeliveryEvent).join(
        OutboxMessage, OutboxMessage.id == DeliveryEvent.message_id).where(OutboxMessage.state != "sent"))
    assert stray == 0
