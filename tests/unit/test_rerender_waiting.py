"""Issue 15 defect 7 in the engine: re-rendering a trigger's waiting emails after
its message changed is one UPDATE plus the usual render step."""
from datetime import timedelta

from engine.outbox import mark_for_rerender
from engine.render.messages import rerender_waiting
from extensions import db
from models import OutboxMessage
from models.base import utcnow


def test_rerender_waiting_touches_only_waiting_unreserved_rows(app, make):
    now = utcnow()
    trigger = make.trigger(subject="New {{ contact.first_name }}", html="<p>New</p>")
    other = make.trigger()
    c = [make.contact(first_name=f"C{i}") for i in range(5)]
    pending = make.outbox_message(trigger, c[0], subject="Old")
    approved = make.outbox_message(trigger, c[1], state="approved", subject="Old", approved_at=now)
    reserved = make.outbox_message(trigger, c[2], state="approved", subject="Old", approved_at=now,
                                   claim_token="tok", claimed_at=now - timedelta(seconds=5))
    sent = make.outbox_message(trigger, c[3], state="sent", subject="Old", sent_at=now)
    elsewhere = make.outbox_message(other, c[4], subject="Old")
    db.session.commit()
    done = rerender_waiting(trigger.id, now)
    db.session.commit()
    assert done["marked"] == 2 and done["rendered"] == 2
    db.session.expire_all()
    got = {m.id: (m.state, m.subject) for m in db.session.scalars(db.select(OutboxMessage))}
    assert got[pending.id] == ("pending_approval", "New C0")
    assert got[approved.id] == ("approved", "New C1")
    assert got[reserved.id][1] == "Old" and got[sent.id][1] == "Old" and got[elsewhere.id][1] == "Old"
    assert db.session.get(OutboxMessage, approved.id).approved_at is not None
    # Nothing waiting: nothing to do.
    assert mark_for_rerender(make.trigger().id, now) == 0
