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
No command is written before the previous reply was read, so this needs no
PIPELINING from the server.
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


def transmit(smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes, *,
             hooks: dict | None = None) -> Outcome:
    """One SMTP transaction on an open connection. The first recipient is the
    one that matters; a refused BCC does not fail the message.

    hooks: the caller's own work, run while the server works (each after
    something is written, before the reply is read):
      "mail"    after MAIL FROM;
      "rcpt"    after the first RCPT TO;
      "end"     after the content, before the end-of-data "." (the server
                cannot take the message before that line);
      "content" after the end-of-data ".".
    "mail" or "rcpt" returning False calls the message off (the transaction
    is reset); "end" returning False drops the connection instead of sending
    the "."; either way nothing is delivered (outcome "lost"). A hook that
    raises drops the connection (nothing delivered) and the exception
    propagates. So the caller can make its own record durable by the time
    "end" returns, and nothing can have been delivered before that.
    """
    try:
        return _transaction(smtp, sender, recipients, data, hooks or {})
    except _HookFailed as failed:
        raise failed.__cause__ from None


def _transaction(smtp, sender, recipients, data, hooks) -> Outcome:
    try:
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
        smtp.send(_dot_stuffed(data))
    except (smtplib.SMTPException, OSError, UnicodeError) as exc:
        if isinstance(exc, UnicodeError):
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
