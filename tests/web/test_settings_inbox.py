"""The development mail sink (real SMTP on a free port) and Settings -> Dev inbox."""
import html
import smtplib
from datetime import timedelta
from email.message import EmailMessage

import pytest

from devtools.mail_sink import record_message, start_sink
from extensions import db
from models import SinkMessage


def make_email(subject="Welcome aboard", html_body="<p>Hello <b>Ann</b></p>", text="Hello Ann"):
    msg = EmailMessage()
    msg["From"] = "Nudge <cs@nudge.example>"
    msg["To"] = "ann@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = "<outbox-42@nudge.example>"
    msg.set_content(text)
    if html_body is not None:
        msg.add_alternative(html_body, subtype="html")
    return msg


@pytest.fixture
def sink(app):
    controller = start_sink(app, "127.0.0.1", 0)  # the system picks the port
    yield controller
    controller.stop()


def test_mail_sink_stores_what_it_receives(app, sink):
    with smtplib.SMTP(sink.hostname, sink.port, timeout=10) as smtp:
        reply = smtp.send_message(make_email(subject="Grüße from Nudge"),
                                  to_addrs=["ann@example.com", "bcc@example.com"])
    assert reply == {}
    db.session.rollback()  # see the sink thread's commit
    row = SinkMessage.query.one()
    assert row.mail_from == "cs@nudge.example"
    assert row.rcpt_to == "ann@example.com, bcc@example.com"
    assert row.subject == "Grüße from Nudge"
    assert row.message_id == "<outbox-42@nudge.example>"
    assert "Content-Type: multipart/alternative" in row.raw


def test_mail_sink_command_is_registered(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["nudge", "mail-sink", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--host" in result.output


def test_inbox_lists_newest_first_and_refreshes(login):
    first = record_message(bytes(make_email(subject="First")), "a@x.example", ["one@example.com"])
    first.received_at -= timedelta(minutes=1)  # older, without waiting for the clock to move
    db.session.commit()
    record_message(bytes(make_email(subject="Second")), "a@x.example", ["two@example.com"])
    client = login("admin")
    page = client.get("/settings/inbox").get_data(as_text=True)
    assert page.index("Second") < page.index("First")
    assert 'hx-trigger="every 5s"' in page and "2 messages" in page and "Clear inbox" in page
    fragment = client.get("/settings/inbox", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="inbox-list"') and "<html" not in fragment


def test_inbox_paginates(login, app):
    for i in range(27):
        record_message(bytes(make_email(subject=f"Message {i:02d}")), "a@x.example", ["z@example.com"])
    client = login("admin")
    first = client.get("/settings/inbox").get_data(as_text=True)
    assert "Message 26" in first and "Message 01" not in first and "Page 1 of 2" in first
    second = client.get("/settings/inbox?page=2").get_data(as_text=True)
    assert "Message 01" in second and "Message 26" not in second


def test_message_view_sandboxes_the_html(login):
    body = '<p>Hi</p><script>alert("x")</script><a href="https://example.com">link</a>'
    row = record_message(bytes(make_email(html_body=body)), "cs@nudge.example", ["ann@example.com"])
    client = login("admin")
    page = client.get(f"/settings/inbox/{row.id}").get_data(as_text=True)
    assert 'sandbox=""' in page and "srcdoc=" in page
    assert "<script>alert" not in page  # only escaped, inside srcdoc
    srcdoc = page.split('srcdoc="', 1)[1].split('"', 1)[0]
    assert "<script>" in html.unescape(srcdoc)
    assert "&lt;outbox-42@nudge.example&gt;" in page and "ann@example.com" in page
    text = client.get(f"/settings/inbox/{row.id}?view=text").get_data(as_text=True)
    assert "Hello Ann" in text and "<iframe" not in text
    raw = client.get(f"/settings/inbox/{row.id}?view=raw").get_data(as_text=True)
    assert "Message-ID: &lt;outbox-42@nudge.example&gt;" in raw


def test_message_without_html_shows_text_and_survives_junk(login):
    plain = record_message(bytes(make_email(html_body=None)), "a@x.example", ["b@example.com"])
    junk = record_message(b"Subject: =?bogus?Q?x?=\r\n\r\n\xff\xfe not utf-8 \x00", "", [])
    client = login("admin")
    page = client.get(f"/settings/inbox/{plain.id}").get_data(as_text=True)
    assert "Hello Ann" in page and "<iframe" not in page
    assert client.get(f"/settings/inbox/{junk.id}").status_code == 200
    assert client.get(f"/settings/inbox/{junk.id}?view=html").status_code == 200
    assert client.get("/settings/inbox/999999").status_code == 404


def test_clear_inbox(login):
    record_message(bytes(make_email()), "a@x.example", ["b@example.com"])
    res = login("admin").post("/settings/inbox/clear", follow_redirects=True)
    assert "Cleared the dev inbox (1 message)" in res.get_data(as_text=True)
    assert SinkMessage.query.count() == 0


def test_inbox_says_where_mail_goes_when_smtp_is_configured(login, app):
    record_message(bytes(make_email(subject="Hidden")), "a@x.example", ["b@example.com"])
    app.config.update(SMTP_HOST="smtp.example.com", SMTP_PORT=587)
    page = login("admin").get("/settings/inbox").get_data(as_text=True)
    assert "Mail goes to smtp.example.com:587" in page and "Hidden" not in page
