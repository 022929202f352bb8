"""`flask nudge bounce-listener`'s server end to end over a real SMTP connection:
mail only for the bounce domain, each DSN recorded (once), non-bounces and
forged VERP tokens ignored; and a contact bounced on day 1 gets nothing on day 2."""
import smtplib
from datetime import datetime
from pathlib import Path

import pytest

from engine.bounces import verp
from engine.bounces.listener import start_listener
from engine.sending.mime import message_id_for
from engine.triggers.generate import generate_step
from extensions import db
from models import Contact, OutboxMessage
from models.bounce import BounceRecord

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"
DOMAIN = "bounces.acme.io"
RCPT = "ann.example@example.net"


@pytest.fixture
def listener(app):
    app.config.update(BOUNCE_DOMAIN=DOMAIN)
    controller = start_listener(app, "127.0.0.1", 0)
    yield controller
    controller.stop()


def _dsn(name, message, app, *, secret=None):
    text = (CORPUS / name).read_text()
    address = verp.return_path(message.id, domain=DOMAIN, secret=secret or app.config["SECRET_KEY"])
    text = (text.replace("{{VERP}}", address).replace("{{RCPT}}", RCPT)
            .replace("{{MESSAGE_ID}}", message_id_for(message.id, app.config)))
    return address, text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _send(listener, rcpt, data):
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as smtp:
        return smtp.sendmail("", [rcpt], data)


def test_a_dsn_over_smtp_is_recorded_once_and_bounces_the_contact(app, make, listener):
    contact = make.contact(email=RCPT)
    message = make.outbox_message(contact=contact, state="sent", sent_at=datetime(2026, 12, 3, 9))
    address, data = _dsn("postfix_user_unknown.eml", message, app)
    assert _send(listener, address, data) == {}
    assert _send(listener, address, data) == {}  # the MTA sent it twice
    db.session.expire_all()
    [record] = db.session.query(BounceRecord).all()
    assert (record.message_id, record.kind, record.source, record.status) == (
        message.id, "hard", "dsn", "5.1.1")
    assert db.session.get(Contact, contact.id).email_bounced_at is not None


def test_mail_for_another_domain_is_refused(app, listener):
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("")
        code, reply = smtp.rcpt("someone@acme.io")
        assert code == 550 and b"only mail for @bounces.acme.io" in reply
        smtp.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("", ["postmaster@elsewhere.example"], b"Subject: x\r\n\r\nx\r\n")


def test_auto_replies_and_forged_tokens_are_accepted_and_ignored(app, make, listener, caplog):
    contact = make.contact(email=RCPT)
    message = make.outbox_message(contact=contact, state="sent", sent_at=datetime(2026, 12, 3, 9))
    address, data = _dsn("autoreply_out_of_office.eml", message, app)
    assert _send(listener, address, data) == {}
    forged, data = _dsn("postfix_user_unknown.eml", message, app, secret="not-the-key")
    assert _send(listener, forged, data) == {}
    assert db.session.query(BounceRecord).count() == 0
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email_bounced_at is None
    assert "forged or malformed VERP" in caplog.text


def test_a_contact_bounced_on_day_1_gets_nothing_on_day_2(app, make, listener):
    contact = make.contact(email=RCPT)
    trigger = make.trigger()  # daily at 08:00 UTC for every product user
    generate_step(datetime(2026, 12, 3, 8, 0, 30))
    [day1] = db.session.query(OutboxMessage).filter_by(trigger_id=trigger.id).all()
    assert day1.state == "pending_approval"
    day1.state, day1.sent_at = "sent", datetime(2026, 12, 3, 9)
    db.session.commit()
    address, data = _dsn("gmail_user_unknown.eml", day1, app)
    _send(listener, address, data)
    generate_step(datetime(2026, 12, 4, 8, 0, 30))
    db.session.expire_all()
    day2 = db.session.query(OutboxMessage).filter(
        OutboxMessage.trigger_id == trigger.id, OutboxMessage.id != day1.id).one()
    assert (day2.contact_id, day2.state, day2.reason_code) == (contact.id, "suppressed", "bounced")
