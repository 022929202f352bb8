"""The MIME message and the SMTP transaction, against a real aiosmtpd sink."""
import time

import pytest

from engine.sending import mime as mailer
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
    assert mailer.envelope_recipients("ada@example.com", trigger) == ["ada@example.com", "audit@acme.io"]


def test_no_reply_has_no_reply_to(app, make):
    trigger = make.trigger(no_reply=True, reply_to_email="ada@acme.io")
    msg = _build(app, trigger)
    assert msg["Reply-To"] is None and msg["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: all@example.com", "Hi\nthere"])
def test_line_breaks_in_headers_are_refused(app, make, subject):
    with pytest.raises(mailer.MailerError, match="line break"):
        _build(app, make.trigger(), subject=subject)


def _send(app, sink, trigger, **fields):
    data = mailer.as_bytes(_build(app, trigger, **fields))
    with mailer.smtp_connection(app.config) as smtp:
        return mailer.transmit(smtp, trigger.from_email, [fields.get("to_email", "ada@example.com")], data)


BOTH_WAYS = pytest.mark.parametrize("smtp_sink", [True, False], indirect=True,
                                    ids=["pipelined", "stepwise"])


@BOTH_WAYS
def test_transmit_classifies_replies(app, make, smtp_sink):
    trigger = make.trigger()
    out = _send(app, smtp_sink, trigger)
    assert out.kind == "sent" and out.reply.startswith("250")
    assert smtp_sink.message_ids == ["<nudge-42@nudge.local>"]

    smtp_sink.rcpt_reply = lambda addr: "550 5.1.1 no such user" if "bad" in addr else None
    out = _send(app, smtp_sink, trigger, to_email="bad@example.com")
    assert (out.kind, out.reply) == ("failed", "RCPT TO: 550 5.1.1 no such user")

    smtp_sink.data_reply = lambda env: "451 4.3.0 try again later"
    assert _send(app, smtp_sink, trigger).kind == "retry"

    smtp_sink.data_reply = lambda env: "DROP"
    assert _send(app, smtp_sink, trigger).kind == "uncertain"


@BOTH_WAYS
def test_transmit_runs_hooks_while_the_server_works_and_can_call_a_message_off(app, make, smtp_sink):
    from engine.sending import smtp as smtp_mod
    trigger = make.trigger()
    data = mailer.message_bytes(FIELDS, trigger, config=app.config)
    calls = []
    hooks = {stage: (lambda stage=stage: calls.append(stage))
             for stage in ("mail", "rcpt", "end", "content")}
    with smtp_mod.smtp_connection(app.config) as smtp:
        out = smtp_mod.transmit(smtp, trigger.from_email, ["ada@example.com"], data, hooks=hooks)
        assert out.kind == "sent" and calls == ["mail", "rcpt", "end", "content"]
    with smtp_mod.smtp_connection(app.config) as smtp:
        # "mail"/"rcpt" say no (e.g. the reservation was lost): nothing delivered. Step
        # by step the transaction is reset and the connection stays usable; pipelined,
        # the server already waits for content, so the connection is dropped instead.
        for stage in ("mail", "rcpt"):
            out = smtp_mod.transmit(smtp, trigger.from_email, ["ada@example.com"], data,
                                    hooks={stage: lambda: False})
            assert (out.kind, out.reconnect) == ("lost", smtp_sink.pipelining)
            if out.reconnect:
                smtp.connect(*smtp_mod.connection_target(app.config))
                smtp.ehlo()
        assert smtp_mod.transmit(smtp, trigger.from_email, ["ada@example.com"], data).kind == "sent"

        def broken():
            raise RuntimeError("database gone")

        # A hook that fails with the content out but not the end-of-data line: the
        # connection is dropped (QUIT would be taken for content), nothing is
        # delivered, the error propagates.
        with pytest.raises(RuntimeError, match="database gone"):
            smtp_mod.transmit(smtp, trigger.from_email, ["ada@example.com"], data,
                              hooks={"end": broken})
        assert smtp.sock is None
    with smtp_mod.smtp_connection(app.config) as smtp:
        # "end" says no: the same, without an error.
        out = smtp_mod.transmit(smtp, trigger.from_email, ["ada@example.com"], data,
                                hooks={"end": lambda: False})
        assert (out.kind, out.reconnect) == ("lost", True) and smtp.sock is None
    time.sleep(0.2)
    assert len(smtp_sink.messages) == 2


def test_a_refused_recipient_in_a_pipelined_envelope_delivers_nothing(app, make, smtp_sink):
    """The BCC is accepted, so the server says 354 to DATA although the primary
    recipient was refused: the connection is dropped without content."""
    from engine.sending import smtp as smtp_mod
    trigger = make.trigger()
    smtp_sink.rcpt_reply = lambda addr: "550 5.1.1 no such user" if "bad" in addr else None
    data = mailer.message_bytes(FIELDS, trigger, config=app.config)
    with smtp_mod.smtp_connection(app.config) as smtp:
        out = smtp_mod.transmit(smtp, trigger.from_email, ["bad@example.com", "audit@acme.io"], data)
        assert (out.kind, out.reply, out.reconnect) == ("failed", "RCPT TO: 550 5.1.1 no such user", True)
        assert smtp.sock is None
    with smtp_mod.smtp_connection(app.config) as smtp:
        out = smtp_mod.transmit(smtp, trigger.from_email, ["ada@example.com", "audit@acme.io"], data)
        assert out.kind == "sent"
    time.sleep(0.2)
    assert [m["rcpt_tos"] for m in smtp_sink.messages] == [["ada@example.com", "audit@acme.io"]]


def _strict_pipelining_server(envelope_replies: bytes, final_reply: bytes | None):
    """A server that offers PIPELINING and answers nothing before it has MAIL,
    RCPT and DATA (a client waiting for each reply would hang): answers the
    envelope with `envelope_replies`, then takes the content and answers
    `final_reply`, or closes the connection when that is None."""
    import socket
    import threading

    received = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"220 strict\r\n")
            conn.recv(1000)  # EHLO
            conn.sendall(b"250-strict\r\n250 PIPELINING\r\n")
            buffer = b""
            while b"DATA\r\n" not in buffer:
                buffer += conn.recv(1000)
            received.append(buffer)
            conn.sendall(envelope_replies)
            if final_reply is None:
                return
            while not buffer.endswith(b"\r\n.\r\n"):
                buffer += conn.recv(1000)
            conn.sendall(final_reply)
            conn.recv(1000)  # QUIT

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread, received


@pytest.mark.parametrize("envelope_replies, final_reply, expected", [
    (b"250 ok\r\n250 ok\r\n354 go on\r\n", b"250 queued\r\n", ("sent", "250 queued", False)),
    # 421 and the server hangs up: no further replies come, and none is waited for.
    (b"421 4.3.2 busy, closing\r\n", None, ("retry", "MAIL FROM: 421 4.3.2 busy, closing", True)),
])
def test_pipelining_sends_the_envelope_in_one_go(envelope_replies, final_reply, expected):
    from engine.sending import smtp as smtp_mod
    server, thread, received = _strict_pipelining_server(envelope_replies, final_reply)
    config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.getsockname()[1], "SMTP_TIMEOUT": 5}
    with smtp_mod.smtp_connection(config) as smtp:
        out = smtp_mod.transmit(smtp, "a@acme.io", ["b@example.com"], b"Subject: hi\r\n\r\nhi")
    thread.join(5)
    server.close()
    assert (out.kind, out.reply, out.reconnect) == expected
    assert received == [b"MAIL FROM:<a@acme.io>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"]


def test_dot_stuffing_and_plain_addresses():
    from engine.sending import smtp as smtp_mod
    assert smtp_mod._dot_stuffed(b".a\r\nb\r\n..c") == b"..a\r\nb\r\n...c\r\n"
    assert smtp_mod._dot_stuffed(b"a\r\n") + smtp_mod.END_OF_DATA == b"a\r\n.\r\n"
    assert smtp_mod._quoted("ada+x@example.com") == "<ada+x@example.com>"
    assert smtp_mod._quoted("Ada <ada@example.com>") == "<ada@example.com>"  # smtplib's parse


def test_connection_refused_before_anything_is_sent(app):
    from tests.smtp_sink import free_port

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())
    with pytest.raises(OSError):
        mailer.open_connection(app.config)


def test_dev_sink_is_used_when_smtp_host_is_empty(app):
    app.config.update(SMTP_HOST="", MAIL_SINK_HOST="127.0.0.9", MAIL_SINK_PORT=2525)
    assert mailer.connection_target(app.config) == ("127.0.0.9", 2525)


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


def test_token_bucket_limits_the_rate():
    bucket = mailer.TokenBucket(20)  # 20/s with a burst of 20
    started = time.monotonic()
    for _ in range(30):
        bucket.take()
    assert time.monotonic() - started >= 0.45  # the 10 beyond the burst took >= 0.5 s


def test_unicode_long_subjects_and_dot_lines_survive_the_wire(app, make, smtp_sink):
    subject = "Grüße, Ada — ваш отчёт готов " * 6
    trigger = make.trigger(reply_to_name="Zoë at Acme", reply_to_email="zoe@acme.io")
    msg = _build(app, trigger, subject=subject.strip(), text=".hidden line\n..two dots\nend",
                 html="<p>ü</p>\n.<b>x</b>")
    assert msg["Subject"] == subject.strip()
    assert msg["Reply-To"] == "Zoë at Acme <zoe@acme.io>"
    assert all(len(line) <= 998 for line in mailer.as_bytes(msg).split(b"\r\n"))
    out = _send(app, smtp_sink, trigger, subject=subject.strip(), text=".hidden line\n..two dots\nend")
    assert out.kind == "sent"
    got = smtp_sink.messages[0]["message"]
    assert got["Subject"] == subject.strip()
    assert got.get_body(("plain",)).get_content().replace("\r\n", "\n") == ".hidden line\n..two dots\nend"


def test_addresses_must_be_plain(app, make):
    with pytest.raises(mailer.MailerError, match="not a plain email address"):
        _build(app, make.trigger(), to_email="Ada <ada@example.com>, eve@example.com")
