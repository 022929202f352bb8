"""Hostile input reaching the engine: nothing is sent or changed that should not be."""
from datetime import datetime

from engine.triggers.generate import generate_step
from engine.sending.loop import send_due
from engine.tracking import click_token, unsubscribe_token
from extensions import db
from models import Contact, DeliveryEvent, OutboxMessage
from models.base import utcnow
from tests.faults.conftest import bulk_approved

GENERATE = datetime(2026, 1, 5, 8, 0)


def _approve_all_and_send():
    from datetime import timedelta

    from engine import outbox
    from tests import factories

    waiting = [i for (i,) in db.session.query(OutboxMessage.id).filter_by(state="pending_approval")]
    now = utcnow()
    outbox.approve(waiting, factories.staff(role="approver").id, now)
    return send_due(clock=lambda: now + timedelta(minutes=10))


def test_ssti_in_a_template_never_reaches_the_wire(app, make, smtp_sink):
    make.contact()
    evil = make.trigger(name="Evil", html="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    generate_step(GENERATE)
    [row] = db.session.query(OutboxMessage).filter_by(trigger_id=evil.id).all()
    assert row.state == "failed" and row.html is None
    assert _approve_all_and_send()["sent"] == 0
    assert smtp_sink.messages == []


def test_template_syntax_in_contact_data_is_text_not_code(app, make, smtp_sink):
    make.contact(first_name="{{ config.SECRET_KEY }}<script>x</script>")
    make.trigger(subject="Hi {{ contact.first_name }}", html="<p>Hi {{ contact.first_name }}</p>")
    generate_step(GENERATE)
    assert _approve_all_and_send()["sent"] == 1
    got = smtp_sink.messages[0]["message"]
    assert got["Subject"] == "Hi {{ config.SECRET_KEY }}<script>x</script>"
    html = got.get_body(("html",)).get_content()
    assert "{{ config.SECRET_KEY }}&lt;script&gt;" in html
    assert app.config["SECRET_KEY"] not in smtp_sink.messages[0]["raw"].decode()


def test_crlf_in_a_subject_is_never_sent(app, make, smtp_sink):
    make.contact(first_name="Eve\r\nBcc: everyone@example.com")
    make.trigger()
    generate_step(GENERATE)
    # And a stored subject that somehow holds a line break is refused at send time too.
    bulk_approved(2, subject="Report\r\nBcc: everyone@example.com")
    stats = _approve_all_and_send()
    assert stats["sent"] == 0
    assert smtp_sink.messages == []
    failed = db.session.query(OutboxMessage).filter_by(state="failed").all()
    assert len(failed) == 3 and all("line break" in m.reason for m in failed)


def _sent_message(make, html):
    contact = make.contact()
    trigger = make.trigger()
    return make.outbox_message(trigger=trigger, contact=contact, state="sent", html=html,
                               sent_at=utcnow())


def test_click_targets_only_lead_to_real_web_links(app, make, client):
    html = ('<a href="//evil.com/x">a</a> <a href="javascript:alert(1)">b</a> '
            '<a href="java\tscript:alert(1)">c</a> <a href="https://example.com/ok">d</a>')
    msg = _sent_message(make, html)
    for index in (0, 1, 2, 7):
        assert client.get(f"/t/c/{click_token(msg.id, index)}").status_code == 404
    ok = client.get(f"/t/c/{click_token(msg.id, 3)}")
    assert ok.status_code == 302 and ok.headers["Location"] == "https://example.com/ok"
    assert DeliveryEvent.query.filter_by(kind="clicked").count() == 1


def test_forged_tokens_and_get_on_unsubscribe_change_nothing(app, make, client):
    msg = _sent_message(make, "<p>hi</p>")
    good = unsubscribe_token(msg.id)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_purpose = click_token(msg.id, 0)  # a valid signature, but for clicks
    assert client.get(f"/t/c/{forged}").status_code == 404
    assert client.post(f"/u/{forged}").status_code == 400
    assert client.post(f"/u/{other_purpose}").status_code == 400
    assert client.get(f"/u/{good}").status_code == 200  # the confirmation page only
    assert db.session.get(Contact, msg.contact_id).unsubscribed_at is None
    assert client.post(f"/u/{good}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Contact, msg.contact_id).unsubscribed_at is not None
    # And the next generation holds the unsubscribed contact back.
    generate_step(GENERATE)
    reasons = {m.reason for m in db.session.query(OutboxMessage).filter_by(contact_id=msg.contact_id)
               .filter(OutboxMessage.state == "suppressed")}
    assert reasons == {"unsubscribed"}
