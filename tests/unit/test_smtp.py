"""One SMTP transaction (engine/sending/smtp.py) against servers that misbehave
at each step: what each lost connection or refusal is classified as."""
import socket
import threading
import types

import pytest

from engine.sending import smtp as smtp_mod
from tests.polling import wait_until
from tests.smtp_sink import DROP, unused_port

MESSAGE = b"Message-ID: <t-1@test>\r\nSubject: hi\r\n\r\n.a dot line\r\nend\r\n"


def _transmit(app, recipients=("ada@example.com",), data=MESSAGE):
    with smtp_mod.smtp_connection(app.config) as smtp:
        return smtp_mod.transmit(smtp, "success@acme.io", list(recipients), data)


def test_accepted(app, smtp_sink):
    out = _transmit(app)
    assert (out.kind, out.reconnect) == ("sent", False) and out.reply.startswith("250")
    [got] = smtp_sink.messages
    assert got["raw"].endswith(b".a dot line\r\nend\r\n")  # the dot line arrives as it was


@pytest.mark.parametrize("hook, reply, expected", [
    ("mail_reply", "421 4.3.2 shutting down", ("retry", "MAIL FROM: 421 4.3.2 shutting down", True)),
    ("mail_reply", "550 5.7.1 sender refused", ("failed", "MAIL FROM: 550 5.7.1 sender refused", False)),
    ("rcpt_reply", "450 4.2.1 mailbox busy", ("retry", "RCPT TO: 450 4.2.1 mailbox busy", False)),
    ("rcpt_reply", "550 5.1.1 no such user", ("failed", "RCPT TO: 550 5.1.1 no such user", False)),
    ("data_reply", "451 4.3.0 try again later", ("retry", "451 4.3.0 try again later", False)),
    ("data_reply", "554 5.7.1 spam", ("failed", "554 5.7.1 spam", False)),
])
def test_refusals(app, smtp_sink, hook, reply, expected):
    setattr(smtp_sink, hook, lambda _: reply)
    with smtp_mod.smtp_connection(app.config) as smtp:
        out = smtp_mod.transmit(smtp, "success@acme.io", ["ada@example.com"], MESSAGE)
        assert (out.kind, out.reply, out.reconnect) == expected
        if not out.reconnect:  # reset: the same connection carries the next message
            setattr(smtp_sink, hook, lambda _: None)
            assert smtp_mod.transmit(smtp, "success@acme.io", ["ada@example.com"], MESSAGE).kind == "sent"
    assert len(smtp_sink.messages) == (0 if out.reconnect else 1)


@pytest.mark.parametrize("hook", ["mail_reply", "rcpt_reply"])
def test_connection_lost_before_the_data_is_not_sent(app, smtp_sink, hook):
    setattr(smtp_sink, hook, lambda _: DROP)
    out = _transmit(app)
    assert (out.kind, out.reconnect) == ("not_sent", True)
    assert "before the message was sent" in out.reply
    assert smtp_sink.messages == []


def test_connection_lost_after_the_data_is_uncertain(app, smtp_sink):
    smtp_sink.data_reply = lambda envelope: DROP
    out = _transmit(app)
    assert (out.kind, out.reconnect) == ("uncertain", True)
    assert "after the message data was sent" in out.reply


def test_a_refused_bcc_does_not_fail_the_message(app, smtp_sink):
    smtp_sink.rcpt_reply = lambda addr: "550 5.1.1 no such user" if addr == "audit@acme.io" else None
    assert _transmit(app, ("ada@example.com", "audit@acme.io")).kind == "sent"
    assert smtp_sink.messages[0]["rcpt_tos"] == ["ada@example.com"]


@pytest.mark.parametrize("address", ["ada@example.com\r\nRCPT TO:<eve@example.com>", "zoë@example.com"])
def test_an_address_smtp_cannot_carry_fails_before_anything_is_sent(app, smtp_sink, address):
    out = _transmit(app, (address,))
    assert out.kind == "failed" and "cannot be sent over SMTP" in out.reply
    assert _transmit(app).kind == "sent"  # nothing half-written on any connection


def _scripted_server(script):
    """A raw SMTP server for one connection: after the greeting and EHLO it
    reads a command and answers per `script` (command prefix -> reply bytes,
    or None to hang up there). Returns (port, what it received)."""
    server = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():
        conn, _ = server.accept()
        with conn, server:
            conn.sendall(b"220 scripted\r\n")
            conn.recv(1000)
            conn.sendall(b"250 scripted\r\n")
            reader = conn.makefile("rb")
            for prefix, reply in script:
                line = reader.readline()
                received.append(line)
                assert line.upper().startswith(prefix), line
                if reply is None:
                    return
                conn.sendall(reply)
                if prefix == b"DATA":  # the content, up to its end-of-data line
                    while (line := reader.readline()) not in (b".\r\n", b""):
                        received.append(line)

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], received


@pytest.mark.parametrize("script, kind", [
    # Hung up at the DATA command: nothing of the content went out.
    ([(b"MAIL", b"250 ok\r\n"), (b"RCPT", b"250 ok\r\n"), (b"DATA", None)], "not_sent"),
    # Took the content and its final ".", then hung up without a reply.
    ([(b"MAIL", b"250 ok\r\n"), (b"RCPT", b"250 ok\r\n"), (b"DATA", b"354 go on\r\n"), (b"", None)],
     "uncertain"),
])
def test_a_server_hanging_up_at_the_data_command_or_after_the_content(app, script, kind):
    port, received = _scripted_server(script)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=5)
    out = _transmit(app)
    assert (out.kind, out.reconnect) == (kind, True)
    wait_until(lambda: len(received) >= len(script))
    assert (b"end\r\n" in received) == (kind == "uncertain")


def test_connection_refused_before_anything_is_sent(app):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=unused_port())
    with pytest.raises(OSError):
        smtp_mod.open_connection(app.config)


def test_dev_sink_is_used_when_smtp_host_is_empty(app):
    app.config.update(SMTP_HOST="", MAIL_SINK_HOST="127.0.0.9", MAIL_SINK_PORT=2525)
    assert smtp_mod.connection_target(app.config) == ("127.0.0.9", 2525)


def test_content_is_dot_stuffed_and_ends_with_the_end_of_data_line():
    assert smtp_mod._content(b".a\r\nb\r\n..c") == b"..a\r\nb\r\n...c\r\n.\r\n"


def test_token_bucket_limits_the_rate(monkeypatch):
    # A fake clock for this module only: patching the real time module would stop pytest's own clock.
    clock = [0.0]
    fake_time = types.SimpleNamespace(
        monotonic=lambda: clock[0], sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds)
    )
    monkeypatch.setattr(smtp_mod, "time", fake_time)
    bucket = smtp_mod.TokenBucket(20)  # 20/s with a burst of 20
    for _ in range(30):
        bucket.take()
    assert clock[0] == pytest.approx(0.5)  # the 10 beyond the burst waited 1/20 s each
