"""The SMTP side of sending: connections, one transaction driven step by step,
classifying replies, and the per-worker rate limit.

The transaction is driven step by step (MAIL, RCPT, DATA, content, the final
".") rather than with smtplib's sendmail(), because what a lost connection
means depends on WHEN it is lost: before the end-of-data "." went out nothing
was delivered -- a server takes a message only at that line (RFC 5321 4.1.1.4)
-- so it is safe to retry; after it, the receiver may have it (uncertain --
never re-sent silently).

`transmit` takes hooks so the send loop does its own work while the server
works (record the previous message's outcome, make this one's `sending` mark
durable -- always before the final "." goes out -- build the next message).
When the server offers PIPELINING (RFC 2920; production servers do) the
envelope -- MAIL, RCPT, DATA -- goes out in one write and the replies are
read together; otherwise each command waits for the previous reply.
"""
import re
import smtplib
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

SMTP_TIMEOUT_SECONDS = 30
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass
class Outcome:
    """The result of one SMTP transaction.

    kind: "sent" | "retry" (4xx, try later) | "failed" (5xx, permanent) |
          "not_sent" (connection lost before the content went out) |
          "uncertain" (connection lost after the content went out).
    reconnect: the connection is unusable afterwards.
    """

    kind: str
    reply: str
    reconnect: bool = False


def connection_target(config) -> tuple[str, int]:
    """SMTP_HOST/SMTP_PORT, or the development sink when SMTP_HOST is empty."""
    if config.get("SMTP_HOST"):
        return config["SMTP_HOST"], int(config.get("SMTP_PORT") or 25)
    return config.get("MAIL_SINK_HOST", "127.0.0.1"), int(config.get("MAIL_SINK_PORT", 1025))


def open_connection(config) -> smtplib.SMTP:
    host, port = connection_target(config)
    smtp = smtplib.SMTP(host, port, timeout=config.get("SMTP_TIMEOUT", SMTP_TIMEOUT_SECONDS))
    # SMTP is strict request/response: never hold a command back waiting for an ACK.
    smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    smtp.ehlo_or_helo_if_needed()
    if config.get("SMTP_HOST") and config.get("SMTP_STARTTLS"):
        smtp.starttls()
        smtp.ehlo()
    if config.get("SMTP_HOST") and config.get("SMTP_USERNAME"):
        smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD", ""))
    return smtp


def close_quietly(smtp) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        try:
            smtp.close()
        except OSError:
            pass


@contextmanager
def smtp_connection(config):
    """A connected (and, if configured, STARTTLS + authenticated) smtplib.SMTP."""
    smtp = open_connection(config)
    try:
        yield smtp
    finally:
        close_quietly(smtp)


def _reply_text(code, resp) -> str:
    if isinstance(resp, bytes):
        resp = resp.decode("utf-8", "replace")
    return f"{code} {resp}".strip()


def _classify(code: int, resp, stage: str) -> Outcome:
    reply = _reply_text(code, resp)
    if stage != "DATA":
        reply = f"{stage}: {reply}"
    if 400 <= code < 500:
        return Outcome("retry", reply, reconnect=(code == 421))
    return Outcome("failed", reply)


def _reset(smtp) -> bool:
    try:
        smtp.rset()
        return True
    except (smtplib.SMTPException, OSError):
        return False


def _refused(smtp, code, resp, stage) -> Outcome:
    out = _classify(code, resp, stage)
    out.reconnect = out.reconnect or not _reset(smtp)
    return out


_PLAIN_ADDRESS = re.compile(r"[!#-'*+\-/-9=?A-Z^-~.]+@[A-Za-z0-9.\-]+\Z")


def _quoted(address: str) -> str:
    """<address> for MAIL FROM / RCPT TO; smtplib.quoteaddr (a full RFC 2822
    parse) only for what is not a plain address."""
    if _PLAIN_ADDRESS.match(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA content, without the end-of-data line: a line
    starting with "." gets a second one (RFC 5321 4.5.2); it ends in CRLF."""
    payload = _LEADING_DOT.sub(b"..", data)
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return payload


END_OF_DATA = b".\r\n"


class _HookFailed(Exception):
    """A caller's hook raised mid-transaction (its exception is the __cause__)."""


def _run_hook(smtp, hooks, name):
    hook = hooks.get(name)
    if hook is None:
        return True
    try:
        return hook()
    except BaseException as exc:
        # Drop the connection, not QUIT: after DATA the server would take QUIT for
        # content. A transaction cut off before the final "." delivers nothing.
        smtp.close()
        raise _HookFailed() from exc


def _called_off(smtp) -> Outcome:
    smtp.getreply()  # of the command just written
    return Outcome("lost", "called off before the message data", reconnect=not _reset(smtp))


def _envelope_stepwise(smtp, sender, recipients, hooks) -> Outcome | None:
    """MAIL, RCPT, DATA, each after the previous reply. None once the server
    waits for the content (354); else the outcome."""
    smtp.putcmd("mail", f"FROM:{_quoted(sender)}")
    if _run_hook(smtp, hooks, "mail") is False:
        return _called_off(smtp)
    code, resp = smtp.getreply()
    if code != 250:
        return _refused(smtp, code, resp, "MAIL FROM")
    for index, rcpt in enumerate(recipients):
        smtp.putcmd("rcpt", f"TO:{_quoted(rcpt)}")
        if index == 0 and _run_hook(smtp, hooks, "rcpt") is False:
            return _called_off(smtp)
        code, resp = smtp.getreply()
        if code not in (250, 251) and index == 0:
            return _refused(smtp, code, resp, "RCPT TO")
    smtp.putcmd("data")
    code, resp = smtp.getreply()
    if code != 354:
        return _refused(smtp, code, resp, "DATA")
    return None


def _command_line(line: str) -> bytes:
    if "\r" in line or "\n" in line:  # as smtplib.putcmd: never a second command smuggled in
        raise ValueError(f"a line break in an SMTP command: {line!r}")
    return line.encode("ascii") + b"\r\n"


def _envelope_pipelined(smtp, sender, recipients, hooks) -> Outcome | None:
    """RFC 2920, when the server offers PIPELINING: MAIL, every RCPT and DATA
    in one write, the replies read afterwards in order -- two round trips
    fewer per message, and the hooks run while the server works through all
    three. A refusal found in the replies after the server already said 354
    to DATA cannot be reset (the server waits for content), so the connection
    is dropped without the end-of-data line: nothing is delivered."""
    lines = [f"MAIL FROM:{_quoted(sender)}", *(f"RCPT TO:{_quoted(r)}" for r in recipients), "DATA"]
    smtp.send(b"".join(_command_line(line) for line in lines))
    called_off = _run_hook(smtp, hooks, "mail") is False or _run_hook(smtp, hooks, "rcpt") is False
    replies = []
    while len(replies) < len(lines):
        replies.append(smtp.getreply())
        if replies[-1][0] == 421:
            break  # the server is closing the connection: no more replies come
    data_open = len(replies) == len(lines) and replies[-1][0] == 354
    if called_off:
        outcome = Outcome("lost", "called off before the message data")
    elif replies[0][0] != 250:
        outcome = _classify(*replies[0], "MAIL FROM")
    elif replies[1][0] not in (250, 251):
        outcome = _classify(*replies[1], "RCPT TO")
    elif not data_open:
        outcome = _classify(*replies[-1], "DATA")
    else:
        return None
    if data_open:
        smtp.close()
        outcome.reconnect = True
    else:
        outcome.reconnect = outcome.reconnect or not _reset(smtp)
    return outcome


def transmit(smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes, *,
             hooks: dict | None = None) -> Outcome:
    """One SMTP transaction on an open connection. The first recipient is the
    one that matters; a refused BCC does not fail the message.

    hooks: the caller's own work, run while the server works (each after
    something is written, before the reply is read):
      "mail"    after MAIL FROM (pipelined: after the whole envelope);
      "rcpt"    after the first RCPT TO (pipelined: right after "mail");
      "end"     after the content, before the end-of-data "." (the server
                cannot take the message before that line);
      "content" after the end-of-data ".".
    "mail" or "rcpt" returning False calls the message off (the transaction
    is reset; pipelined, where the server may already wait for content, the
    connection is dropped); "end" returning False drops the connection
    instead of sending the "."; either way nothing is delivered (outcome
    "lost"). A hook that raises drops the connection (nothing delivered) and
    the exception propagates. So the caller can make its own record durable
    by the time "end" returns, and nothing can have been delivered before that.
    """
    try:
        return _transaction(smtp, sender, recipients, data, hooks or {})
    except _HookFailed as failed:
        raise failed.__cause__ from None


def _transaction(smtp, sender, recipients, data, hooks) -> Outcome:
    try:
        if smtp.does_esmtp and smtp.has_extn("pipelining"):
            refused = _envelope_pipelined(smtp, sender, recipients, hooks)
        else:
            refused = _envelope_stepwise(smtp, sender, recipients, hooks)
        if refused is not None:
            return refused
        smtp.send(_dot_stuffed(data))
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        if isinstance(exc, ValueError):  # not ASCII, or a line break (smtplib.putcmd's check too)
            _reset(smtp)
            return Outcome("failed", f"address cannot be sent over SMTP: {exc}")
        return Outcome("not_sent", f"connection lost before the message was sent: {exc}", True)
    if _run_hook(smtp, hooks, "end") is False:
        smtp.close()  # without the end-of-data line the server discards what it got
        return Outcome("lost", "called off before the end of the message data", reconnect=True)
    try:
        smtp.send(END_OF_DATA)
        _run_hook(smtp, hooks, "content")
        code, resp = smtp.getreply()
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome("uncertain", f"connection lost after the message data was sent: {exc}", True)
    if code == 250:
        return Outcome("sent", _reply_text(code, resp))
    return _classify(code, resp, "DATA")


class TokenBucket:
    """SEND_RATE_PER_SECOND for one worker process (0 = unlimited)."""

    def __init__(self, rate: float, burst: float | None = None):
        self.rate = float(rate or 0)
        self.capacity = burst if burst is not None else max(1.0, self.rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> None:
        if self.rate <= 0:
            return
        with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                time.sleep((1 - self.tokens) / self.rate)
