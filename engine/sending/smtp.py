"""The SMTP side of sending: connections, one transaction, what its replies
mean, and the per-worker rate limit.

A transaction runs step by step on smtplib's own calls (mail, rcpt, then
DATA at the command level) rather than with sendmail(), because what a lost
connection means depends on WHEN it is lost: a server takes a message only
at the end-of-data line "." (RFC 5321 4.1.1.4). So:
  lost before the content and its final "." went out -> "not_sent": nothing
      was delivered, safe to try again on a new connection;
  lost after they went out, before the reply         -> "uncertain": the
      receiver may have it, never re-sent silently.
The content and the final line go out in one send(); when it raises, the
final line never fully left (socket.sendall), so the server cannot have
taken the message.
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

    kind: "sent" | "retry" (4xx, try later) | "failed" (5xx or an address SMTP
          cannot carry: permanent) | "not_sent" (connection lost before the
          message went out) | "uncertain" (lost after it went out).
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
    """A connected smtplib.SMTP, after EHLO (and STARTTLS + login when configured)."""
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
        smtp.close()


@contextmanager
def smtp_connection(config):
    smtp = open_connection(config)
    try:
        yield smtp
    finally:
        close_quietly(smtp)


def _reply_text(code, resp) -> str:
    if isinstance(resp, bytes):
        resp = resp.decode("utf-8", "replace")
    return f"{code} {resp}".strip()


def _refused(smtp, code, resp, stage: str) -> Outcome:
    """A refusal before the content: 4xx is temporary, anything else permanent.
    The transaction is reset so the connection can carry the next message."""
    reply = _reply_text(code, resp) if stage == "DATA" else f"{stage}: {_reply_text(code, resp)}"
    outcome = Outcome("retry" if 400 <= code < 500 else "failed", reply, reconnect=code == 421)
    if not outcome.reconnect:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            outcome.reconnect = True
    return outcome


def _content(data: bytes) -> bytes:
    """DATA content with its end-of-data line: a line starting with "." gets a
    second one (RFC 5321 4.5.2)."""
    payload = _LEADING_DOT.sub(b"..", data)
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return payload + b".\r\n"


def transmit(smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes) -> Outcome:
    """One SMTP transaction on an open connection. The first recipient is the
    one that matters; a refused further recipient (a BCC) does not fail the
    message. Which outcome a lost connection gives: the module docstring."""
    addresses = [sender, *recipients]
    if any("\r" in a or "\n" in a or not a.isascii() for a in addresses):
        return Outcome("failed", "address cannot be sent over SMTP: a line break or non-ASCII")
    try:
        code, resp = smtp.mail(sender)
        if code != 250:
            return _refused(smtp, code, resp, "MAIL FROM")
        for index, rcpt in enumerate(recipients):
            code, resp = smtp.rcpt(rcpt)
            if index == 0 and code not in (250, 251):
                return _refused(smtp, code, resp, "RCPT TO")
        smtp.putcmd("data")
        code, resp = smtp.getreply()
        if code != 354:
            return _refused(smtp, code, resp, "DATA")
        smtp.send(_content(data))
    except (smtplib.SMTPException, OSError) as exc:
        smtp.close()
        return Outcome("not_sent", f"connection lost before the message was sent: {exc}", True)
    try:
        code, resp = smtp.getreply()
    except (smtplib.SMTPException, OSError) as exc:
        smtp.close()
        return Outcome("uncertain", f"connection lost after the message data was sent: {exc}", True)
    if code == 250:
        return Outcome("sent", _reply_text(code, resp))
    return _refused(smtp, code, resp, "DATA")


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
                if self.tokens >= 1 - 1e-9:  # a sleep of exactly the deficit may refill to 0.999…
                    self.tokens = max(0.0, self.tokens - 1)
                    return
                time.sleep((1 - self.tokens) / self.rate)
