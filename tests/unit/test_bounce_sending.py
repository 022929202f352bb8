"""With BOUNCE_DOMAIN set each message's envelope sender (MAIL FROM) is its VERP
return path, checked on a real SMTP sink; the BCC copy keeps a plain sender."""
from engine.bounces import verp
from engine.sending.loop import send_due


def test_envelope_sender_is_the_verp_return_path(app, make, smtp_sink):
    app.config.update(BOUNCE_DOMAIN="bounces.example.com")
    trigger = make.trigger(bcc="audit@acme.io", from_email="success@acme.io")
    message = make.outbox_message(trigger=trigger, state="approved")
    assert send_due()["sent"] == 1
    contact_copy, bcc_copy = smtp_sink.messages
    assert contact_copy["mail_from"] == verp.return_path(
        message.id, domain="bounces.example.com", secret=app.config["SECRET_KEY"])
    assert verp.message_id_from_address(contact_copy["mail_from"],
                                        secret=app.config["SECRET_KEY"]) == message.id
    assert contact_copy["message"]["From"] == "success@acme.io"  # the header is unchanged
    assert bcc_copy["mail_from"] == "success@acme.io"


def test_without_bounce_domain_the_sender_is_the_from_address(app, make, smtp_sink):
    app.config.update(BOUNCE_DOMAIN="")
    trigger = make.trigger(from_email="success@acme.io")
    make.outbox_message(trigger=trigger, state="approved")
    assert send_due()["sent"] == 1
    assert smtp_sink.messages[0]["mail_from"] == "success@acme.io"
