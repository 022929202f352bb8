"""The MIME message (engine/sending/mime.py), and the test email through a real aiosmtpd sink."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.sending import mime as mailer
from engine.sending.smtp import smtp_connection, transmit

FIELDS = {"id": 42, "to_email": "ada@example.com", "subject": "Your report is ready",
          "html": '<p>Hi</p><a href="https://example.com/report">Open</a>', "text": "Hi"}


def _build(app, trigger, **fields):
    return mailer.build_message({**FIELDS, **fields}, trigger, config=app.config)


def test_headers_parts_and_tracking(app, make):
    trigger = make.trigger(from_email="success@acme.io", reply_to_name="Ada at Acme",
                           reply_to_email="ada@acme.io", bcc="audit@acme.io")
    msg = _build(app, trigger)
    assert msg["Message-ID"] == "<nudge-42@nudge.local>"
    assert msg["From"] == "success@acme.io" and msg["To"] == "ada@example.com"
    assert msg["Reply-To"] == "Ada at Acme <ada@acme.io>"
    assert msg["Bcc"] is None  # BCC is an envelope recipient only
    assert msg["List-Unsubscribe"].startswith(f"<{app.config['PUBLIC_BASE_URL']}/u/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(("html",)).get_content()
    assert "/t/c/" in html and "/t/o/" in html  # click rewritten, open pixel added
    assert msg.get_body(("plain",)).get_content().strip() == "Hi"
    assert mailer.bcc_recipients("ada@example.com", trigger) == ["audit@acme.io"]


def test_no_reply_has_no_reply_to(app, make):
    trigger = make.trigger(no_reply=True, reply_to_email="ada@acme.io")
    msg = _build(app, trigger)
    assert msg["Reply-To"] is None and msg["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: all@example.com", "Hi\nthere"])
def test_line_breaks_in_headers_are_refused(app, make, subject):
    with pytest.raises(mailer.MailerError, match="line break"):
        _build(app, make.trigger(), subject=subject)


def _send(app, trigger, **fields):
    data = mailer.as_bytes(_build(app, trigger, **fields))
    with smtp_connection(app.config) as smtp:
        return transmit(smtp, trigger.from_email, [fields.get("to_email", "ada@example.com")], data)


def test_send_test_email(app, make, smtp_sink):
    from models import OutboxMessage

    contact = make.contact(first_name="Ada")
    trigger = make.trigger(subject="Hello {{ contact.first_name }}")
    reply = mailer.send_test_email(trigger, contact.id, "me@acme.io", None, config=app.config)
    assert reply.startswith("250")
    [got] = smtp_sink.messages
    assert got["message"]["Subject"] == "[TEST] Hello Ada"
    assert got["rcpt_tos"] == ["me@acme.io"]
    assert OutboxMessage.query.count() == 0
    with pytest.raises(mailer.MailerError):
        mailer.send_test_email(trigger, contact.id, "not an address", None, config=app.config)


def test_unicode_long_subjects_and_dot_lines_survive_the_wire(app, make, smtp_sink):
    subject = "Grüße, Ada — ваш отчёт готов " * 6
    trigger = make.trigger(reply_to_name="Zoë at Acme", reply_to_email="zoe@acme.io")
    msg = _build(app, trigger, subject=subject.strip(), text=".hidden line\n..two dots\nend",
                 html="<p>ü</p>\n.<b>x</b>")
    assert msg["Subject"] == subject.strip()
    assert msg["Reply-To"] == "Zoë at Acme <zoe@acme.io>"
    assert all(len(line) <= 998 for line in mailer.as_bytes(msg).split(b"\r\n"))
    out = _send(app, trigger, subject=subject.strip(), text=".hidden line\n..two dots\nend")
    assert out.kind == "sent"
    got = smtp_sink.messages[0]["message"]
    assert got["Subject"] == subject.strip()
    assert got.get_body(("plain",)).get_content().replace("\r\n", "\n") == ".hidden line\n..two dots\nend\n"  # set_content ends the part with a line end


def test_addresses_must_be_plain(app, make):
    with pytest.raises(mailer.MailerError, match="not a plain email address"):
        _build(app, make.trigger(), to_email="Ada <ada@example.com>, eve@example.com")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_parts_read_back_as_set_content_would_write_them(app, make, body):
    """The parts are built without set_content(); a reader must still get what
    set_content() would have given it, for any text: line ends, trailing
    spaces, long lines, "=" and non-ASCII."""
    from email import message_from_bytes
    from email.message import EmailMessage

    msg = _build(app, make.trigger(), id=None, text=body or "x", html=f"<p>{body}</p>")  # untracked
    got = message_from_bytes(mailer.as_bytes(msg), policy=mailer.SMTP_POLICY)
    from engine.render.document import as_document

    for subtype, sent in (("plain", body or "x"), ("html", as_document(f"<p>{body}</p>"))):
        expected = EmailMessage()
        expected.set_content(sent, subtype=subtype, charset="utf-8", cte="quoted-printable")
        read = got.get_body((subtype,)).get_content().replace("\r\n", "\n")  # the wire's line ends
        assert read == expected.get_content()
