"""Building the wire-format MIME message for one outbox row, and the test email.

The SMTP side (connections, the step-by-step transaction, classifying
replies, the rate limit) lives in engine/smtp.py; its names are re-exported
here for callers that think of "the mailer" as one thing.
"""
import binascii
import itertools
import smtplib
import time
import uuid
from email import message_from_bytes
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from email.utils import formataddr, formatdate

from engine.sending.smtp import (  # noqa: F401 - re-exported
    TokenBucket, connection_target, open_connection, smtp_connection, transmit)


class MailerError(RuntimeError):
    """A message could not be built or sent; str() is meant for staff."""


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


# A boundary starting "=_" can never occur in a quoted-printable body ("=" is
# always encoded there), so a per-process random prefix and a counter suffice.
_BOUNDARY_PREFIX = f"=_nudge_{uuid.uuid4().hex[:16]}_"
_boundary_numbers = itertools.count()
_date_header = [0, ""]  # (second, its RFC 5322 date): one format per second, not per message


def _date() -> str:
    now = int(time.time())
    if _date_header[0] != now:
        _date_header[:] = [now, formatdate(now, usegmt=True)]
    return _date_header[1]


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
               ("Date", _date()),
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
    boundary = f"{_BOUNDARY_PREFIX}{next(_boundary_numbers)}"
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


def send_test_email(trigger, contact_id, to_email, now, *, config) -> str:
    """Render the trigger for one contact and send it to `to_email` with a
    "[TEST] " subject prefix. Nothing is stored in the outbox. Returns the
    server's reply; raises MailerError (or RenderError/TemplateError) with a
    message meant for staff."""
    from engine.render.messages import contact_context

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
