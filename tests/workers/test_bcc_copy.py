"""Issue 14 item 11: a BCC address gets its own copy, never the contact's bytes
(DESIGN.md "Email headers"); item 12: a text-only trigger goes out as one text/plain part."""
import logging

from engine.sending.loop import send_due
from extensions import db
from models import DeliveryEvent, OutboxMessage

UNSUB_HTML = ('<p>Hello Ada</p><p><a href="https://example.com/docs">Read the docs</a></p>'
              '<p><a href="{unsub}">Unsubscribe</a></p>')


def _message(make, app, trigger):
    from engine.tracking import unsubscribe_url

    message = make.outbox_message(trigger=trigger, state="approved")
    unsub = unsubscribe_url(message.id, app.config["PUBLIC_BASE_URL"])
    message.html = UNSUB_HTML.format(unsub=unsub)
    message.text = f"Hello Ada\n\nUnsubscribe: {unsub}"
    db.session.commit()
    return message, unsub


def test_bcc_gets_a_separate_untracked_copy_without_the_contacts_unsubscribe(app, make, smtp_sink):
    trigger = make.trigger(bcc="audit@acme.io", from_email="success@acme.io")
    message, unsub = _message(make, app, trigger)
    assert send_due()["sent"] == 1
    contact_copy, bcc_copy = smtp_sink.messages
    # The contact's message: to the contact only, tracked, with its unsubscribe.
    assert contact_copy["rcpt_tos"] == [message.to_email]
    sent = contact_copy["message"]
    assert sent["Message-ID"] == message.message_id and sent["List-Unsubscribe"]
    html = sent.get_body(("html",)).get_content()
    assert "/t/c/" in html and "/t/o/" in html
    # The BCC's: its own transaction, Message-ID and bytes, marked as a copy.
    assert bcc_copy["rcpt_tos"] == ["audit@acme.io"]
    copy = bcc_copy["message"]
    assert copy["Message-ID"] != message.message_id
    assert copy["X-Nudge-Copy-Of"] == message.message_id
    assert copy["Subject"] == f"[Copy for {message.to_email}] {message.subject}"
    assert copy["List-Unsubscribe"] is None and copy["List-Unsubscribe-Post"] is None
    raw = bcc_copy["raw"].decode()
    assert "/t/c/" not in raw and "/t/o/" not in raw and "/u/" not in raw
    copy_html = copy.get_body(("html",)).get_content()
    assert 'href="https://example.com/docs"' in copy_html  # plain link
    assert f"Copy of the email sent to {message.to_email}" in copy_html
    assert copy.get_body(("plain",)).get_content().startswith(f"Copy of the email sent to {message.to_email}")
    assert unsub not in raw
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).state == "sent"
    assert DeliveryEvent.query.filter_by(kind="delivered").count() == 1  # the copy is not a delivery


def test_a_refused_or_lost_copy_does_not_change_the_contacts_message(app, make, smtp_sink, caplog):
    from tests.smtp_sink import DROP

    trigger = make.trigger(bcc="audit@acme.io")
    first, _ = _message(make, app, trigger)
    second, _ = _message(make, app, trigger)
    smtp_sink.rcpt_reply = lambda addr: "550 5.1.1 no such user" if addr == "audit@acme.io" else None
    with caplog.at_level(logging.WARNING, logger="engine.sending.loop"):
        stats = send_due()
    assert stats["sent"] == 2 and stats["failed"] == 0
    assert [m["rcpt_tos"] for m in smtp_sink.messages] == [[first.to_email], [second.to_email]]
    assert "BCC copy of message" in caplog.text and "550" in caplog.text
    # A connection lost during the copy: the next message goes out on a new one.
    third, _ = _message(make, app, trigger)
    fourth, _ = _message(make, app, trigger)
    smtp_sink.rcpt_reply = lambda addr: None
    smtp_sink.data_reply = lambda env: DROP if env.rcpt_tos == ["audit@acme.io"] else None
    assert send_due()["sent"] == 2
    db.session.expire_all()
    assert {db.session.get(OutboxMessage, m.id).state for m in (first, second, third, fourth)} == {"sent"}


def test_a_text_only_trigger_goes_out_as_one_text_plain_part(app, make, smtp_sink):
    from engine.render.messages import ensure_rendered
    from models.base import utcnow

    trigger = make.trigger(html=None, text="Hello {{ contact.first_name }}, your report is ready.")
    message = make.outbox_message(trigger=trigger, state="approved", subject=None, html=None, text=None)
    ensure_rendered([message.id], utcnow())
    db.session.commit()
    assert send_due()["sent"] == 1
    [got] = smtp_sink.messages
    msg = got["message"]
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    assert "your report is ready" in msg.get_content()
