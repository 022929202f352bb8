"""SMTP sending: building the MIME message, one reused connection, classifying replies.

The SMTP transaction is driven step by step (MAIL, RCPT, DATA, content) rather
than with smtplib's sendmail(), because what a lost connection means depends
on WHEN it is lost: before the message content went out nothing was
delivered (safe to retry); after it, the receiver may have it (uncertain —
never re-sent silently).
"""
import binascii
import re
import smtplib
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from email.utils import formataddr, formatdate

SMTP_TIMEOUT_SECONDS = 30
_LEADING_DOT = re.compile(rb"(?m)^\.")


class MailerError(RuntimeError):
    """A message could not be built or sent; str() is meant for staff."""


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


def message_id_for(outbox_id, config) -> str:
    """<nudge-ID@domain>: derived from the outbox id, so a duplicate is traceable."""
    return f"<nudge-{outbox_id}@{config.get('MESSAGE_ID_DOMAIN') or 'nudge.local'}>"


def _get(obj, name, default=None):
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _no_newlines(value: str, what: str) -> str:
    if value and ("\r" in value or "\n" in value):
        raise MailerError(f"{what} contains a line break")
    return value


def envelope_recipients(to_email: str, trigger) -> list[str]:
    """The primary recipient first, then the trigger's BCC (envelope only, no header)."""
    rcpts = [to_email]
    bcc = (_get(trigger, "bcc") or "").strip()
    for addr in (a.strip() for a in bcc.replace(";", ",").split(",")):
        if addr and addr.lower() != to_email.lower():
            rcpts.append(addr)
    return rcpts


def _ascii_address(value: str, what: str) -> str:
    value = _no_newlines((value or "").strip(), what)
    if not value.isascii() or "@" not in value or any(c in value for c in ' <>,;"'):
        raise MailerError(f"{what} {value!r} is not a plain email address")
    return value


def _encoded(value: str, name: str) -> str:
    """A header value as 7-bit text: RFC 2047 for non-ASCII, folded when long."""
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8" if not value.isascii() else "us-ascii",
                  header_name=name).encode(linesep="\r\n")


def _qp(body: str) -> bytes:
    """Quoted-printable body with CRLF line ends (binascii does the work in C)."""
    data = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def message_bytes(outbox_message_or_fields, trigger, *, config, subject_prefix: str = "",
                  message_id: str | None = None, track: bool = True) -> bytes:
    """The wire-format MIME message (CRLF) for one outbox row, or a dict with
    id, to_email, subject, html, text. Written directly rather than through
    email.message (which costs about a millisecond per message, as much as
    the SMTP transaction itself).

    Message-ID from the outbox id; From / Reply-To (or no-reply) from the
    trigger; List-Unsubscribe + List-Unsubscribe-Post (RFC 8058 one-click);
    multipart/alternative text + HTML, the HTML instrumented for open/click
    tracking at send time. Raises MailerError for a line break in a header
    value, a missing or malformed From/To.
    """
    m = outbox_message_or_fields
    outbox_id = _get(m, "id")
    if not (_get(trigger, "from_email") or "").strip():
        raise MailerError("the trigger has no From address")
    if not (_get(m, "to_email") or "").strip():
        raise MailerError("the contact has no email address")
    from_email = _ascii_address(_get(trigger, "from_email"), "From address")
    to_email = _ascii_address(_get(m, "to_email"), "recipient address")
    subject = _no_newlines(subject_prefix + (_get(m, "subject") or ""), "subject")
    html = _get(m, "html") or ""
    text = _get(m, "text") or ""
    if not text and html:
        from engine.render import html_to_text

        text = html_to_text(html)
    base_url = config.get("PUBLIC_BASE_URL", "")
    headers = [("From", from_email), ("To", to_email), ("Subject", _encoded(subject, "Subject")),
               ("Date", formatdate(usegmt=True)),
               ("Message-ID", message_id or message_id_for(outbox_id, config))]
    if _get(trigger, "no_reply"):
        # "No-reply": no Reply-To, and auto-responders are asked to stay quiet.
        headers += [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All")]
    elif (_get(trigger, "reply_to_email") or "").strip():
        name = _no_newlines(_get(trigger, "reply_to_name") or "", "Reply-To name")
        address = _ascii_address(_get(trigger, "reply_to_email"), "Reply-To address")
        headers.append(("Reply-To", formataddr((name, address), charset="utf-8")))
    if outbox_id is not None:
        from engine import tracking

        headers += [("List-Unsubscribe", f"<{tracking.unsubscribe_url(outbox_id, base_url)}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
        if track and html:
            html = tracking.instrument_html(html, outbox_id, base_url)
    if _get(trigger, "id") is not None:
        headers.append(("X-Nudge-Trigger", str(_get(trigger, "id"))))
    boundary = f"=_nudge_{uuid.uuid4().hex}"
    headers += [("MIME-Version", "1.0"),
                ("Content-Type", f'multipart/alternative; boundary="{boundary}"')]
    part_head = (b"Content-Type: text/%s; charset=\"utf-8\"\r\n"
                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
    b = boundary.encode()
    out = [f"{k}: {v}\r\n".encode("ascii") for k, v in headers]
    out += [b"\r\n--", b, b"\r\n", part_head % b"plain", _qp(text or " "), b"\r\n"]
    if html:
        out += [b"--", b, b"\r\n", part_head % b"html", _qp(html), b"\r\n"]
    out += [b"--", b, b"--\r\n"]
    return b"".join(out)


def build_message(outbox_message_or_fields, trigger, *, config, subject_prefix: str = "",
                  message_id: str | None = None, track: bool = True) -> EmailMessage:
    """The same message as message_bytes, as an email.message.EmailMessage."""
    data = message_bytes(outbox_message_or_fields, trigger, config=config,
                         subject_prefix=subject_prefix, message_id=message_id, track=track)
    return message_from_bytes(data, policy=default_policy)


def as_bytes(msg: EmailMessage) -> bytes:
    """Wire format (CRLF line ends) of an EmailMessage."""
    return msg.as_bytes(policy=SMTP_POLICY)


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


def transmit(smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes) -> Outcome:
    """One SMTP transaction on an open connection. The first recipient is the
    one that matters; a refused BCC does not fail the message."""
    try:
        code, resp = smtp.mail(sender)
        if code != 250:
            out = _classify(code, resp, "MAIL FROM")
            out.reconnect = out.reconnect or not _reset(smtp)
            return out
        accepted = 0
        for index, rcpt in enumerate(recipients):
            code, resp = smtp.rcpt(rcpt)
            if code in (250, 251):
                accepted += 1
            elif index == 0:
                out = _classify(code, resp, "RCPT TO")
                out.reconnect = out.reconnect or not _reset(smtp)
                return out
        code, resp = smtp.docmd("DATA")
        if code != 354:
            out = _classify(code, resp, "DATA")
            out.reconnect = out.reconnect or not _reset(smtp)
            return out
    except (smtplib.SMTPException, OSError, UnicodeError) as exc:
        if isinstance(exc, UnicodeError):
            _reset(smtp)
            return Outcome("failed", f"address cannot be sent over SMTP: {exc}")
        return Outcome("not_sent", f"connection lost before the message was sent: {exc}", True)
    payload = _LEADING_DOT.sub(b"..", data)
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    try:
        smtp.send(payload + b".\r\n")
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


def send_test_email(trigger, contact_id, to_email, now, *, config) -> str:
    """Render the trigger for one contact and send it to `to_email` with a
    "[TEST] " subject prefix. Nothing is stored in the outbox. Returns the
    server's reply; raises MailerError (or RenderError/TemplateError) with a
    message meant for staff."""
    from engine.outbox_render import contact_context

    to_email = (to_email or "").strip()
    _no_newlines(to_email, "recipient address")
    try:
        Address(addr_spec=to_email)
    except (ValueError, IndexError) as exc:
        raise MailerError(f"{to_email!r} is not an email address") from exc
    from engine.render import compile_for_trigger

    compiled = compile_for_trigger(trigger)
    context = contact_context(contact_id, now, unsubscribe_url="#unsubscribe-link-in-test-email")
    rendered = compiled.render(context)
    fields = {"id": None, "to_email": to_email, "subject": rendered.subject,
              "html": rendered.html, "text": rendered.text}
    domain = config.get("MESSAGE_ID_DOMAIN") or "nudge.local"
    data = message_bytes(fields, trigger, config=config, subject_prefix="[TEST] ",
                         message_id=f"<nudge-test-{uuid.uuid4().hex}@{domain}>", track=False)
    try:
        with smtp_connection(config) as smtp:
            outcome = transmit(smtp, trigger.from_email, [to_email], data)
    except (smtplib.SMTPException, OSError) as exc:
        host, port = connection_target(config)
        raise MailerError(f"could not connect to the mail server {host}:{port}: {exc}") from exc
    if outcome.kind != "sent":
        raise MailerError(f"the mail server did not accept the test email: {outcome.reply}")
    return outcome.reply
