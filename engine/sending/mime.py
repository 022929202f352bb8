"""The MIME message for one outbox row (email.message.EmailMessage), and the test email.

Every message goes through here once, so it is built the cheap way the email
package allows: header values this module has already checked (plain ASCII
addresses, no line breaks) are stored with set_raw() instead of being parsed
into header objects, and the text parts are made from their headers and
quoted-printable body directly (set_content() parses back each header it
writes). The generator still folds anything too long. Together that is a
third of the cost of the parsing path, measured by bench.send.
"""
import binascii
import smtplib
import uuid
from email.header import Header
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from engine import tracking
from engine.render import compile_for_trigger, html_to_text
from engine.render.messages import contact_context
from engine.sending.smtp import connection_target, smtp_connection, transmit


class _HeaderRegistry(HeaderRegistry):
    """HeaderRegistry creates a new header class on every lookup; they are the
    same each time, so keep them (a tenth of a message's cost otherwise)."""

    def __init__(self):
        super().__init__()
        self._classes = {}

    def __getitem__(self, name):
        key = name.lower()
        if key not in self._classes:
            self._classes[key] = super().__getitem__(name)
        return self._classes[key]


SMTP_POLICY = SMTP.clone(header_factory=_HeaderRegistry())


class MailerError(RuntimeError):
    """A message could not be built or sent; str() is meant for staff."""


def message_id_for(outbox_id, config) -> str:
    """<nudge-ID@domain>: derived from the outbox id, so a duplicate is traceable."""
    return f"<nudge-{outbox_id}@{config.get('MESSAGE_ID_DOMAIN') or 'nudge.local'}>"


def _get(obj, name, default=None):
    # An outbox row's fields come as a dict or a row mapping; a trigger as a model or a snapshot.
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _no_newlines(value: str, what: str) -> str:
    if value and ("\r" in value or "\n" in value):
        raise MailerError(f"{what} contains a line break")
    return value


def _plain_address(value: str, what: str) -> str:
    value = _no_newlines((value or "").strip(), what)
    if not value:
        raise MailerError(f"the {what} is missing")
    if not value.isascii() or "@" not in value or any(c in value for c in ' <>,;"'):
        raise MailerError(f"{what} {value!r} is not a plain email address")
    return value


def envelope_recipients(to_email: str, trigger) -> list[str]:
    """The primary recipient first, then the trigger's BCC (envelope only, no header)."""
    rcpts = [to_email]
    bcc = (_get(trigger, "bcc") or "").strip()
    for addr in (a.strip() for a in bcc.replace(";", ",").split(",")):
        if addr and addr.lower() != to_email.lower():
            rcpts.append(addr)
    return rcpts


def _set_subject(msg: EmailMessage, subject: str) -> None:
    if subject.isascii():
        msg.set_raw("Subject", subject)  # folded by the generator when long
    else:
        # The SMTP policy's own folding leaves the space between two folded
        # encoded-words outside both, and readers drop it ("готов Grüße" arrives
        # as "готовGrüße"); email.header.Header keeps it inside an encoded-word.
        msg.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def build_message(fields, trigger, *, config, subject_prefix: str = "",
                  message_id: str | None = None, track: bool = True) -> EmailMessage:
    """The message for one outbox row (`fields`: a row or dict with id,
    to_email, subject, html, text; id None for a test email).

    Message-ID from the outbox id; From / Reply-To (or no-reply) from the
    trigger; List-Unsubscribe + List-Unsubscribe-Post (RFC 8058 one-click);
    multipart/alternative text + HTML, the HTML instrumented for open/click
    tracking here, at send time. Raises MailerError for a line break in a
    header value or a missing or malformed From/To.
    """
    outbox_id = _get(fields, "id")
    if not (_get(trigger, "from_email") or "").strip():
        raise MailerError("the trigger has no From address")
    if not (_get(fields, "to_email") or "").strip():
        raise MailerError("the contact has no email address")
    msg = EmailMessage(policy=SMTP_POLICY)
    msg.set_raw("From", _plain_address(_get(trigger, "from_email"), "From address"))
    msg.set_raw("To", _plain_address(_get(fields, "to_email"), "recipient address"))
    _set_subject(msg, _no_newlines(subject_prefix + (_get(fields, "subject") or ""), "subject"))
    msg.set_raw("Date", formatdate(usegmt=True))
    msg.set_raw("Message-ID", message_id or message_id_for(outbox_id, config))
    if _get(trigger, "no_reply"):
        # "No-reply": no Reply-To, and auto-responders are asked to stay quiet.
        msg.set_raw("Auto-Submitted", "auto-generated")
        msg.set_raw("X-Auto-Response-Suppress", "All")
    elif (_get(trigger, "reply_to_email") or "").strip():
        name = _no_newlines(_get(trigger, "reply_to_name") or "", "Reply-To name")
        address = _plain_address(_get(trigger, "reply_to_email"), "Reply-To address")
        msg["Reply-To"] = Address(display_name=name, addr_spec=address)
    html = _get(fields, "html") or ""
    text = _get(fields, "text") or (html_to_text(html) if html else "")
    if outbox_id is not None:
        base_url = config.get("PUBLIC_BASE_URL", "")
        msg.set_raw("List-Unsubscribe", f"<{tracking.unsubscribe_url(outbox_id, base_url)}>")
        msg.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        if track and html:
            html = tracking.instrument_html(html, outbox_id, base_url)
    if _get(trigger, "id") is not None:
        msg.set_raw("X-Nudge-Trigger", str(int(_get(trigger, "id"))))
    msg.set_raw("MIME-Version", "1.0")
    if not html:
        _set_text_body(msg, text or " ", "plain")
        return msg
    # Two "=" in a row never occur in quoted-printable, so no part can contain
    # this boundary (the reason the email package's own have them too).
    msg["Content-Type"] = f'multipart/alternative; boundary="=={uuid.uuid4().hex}=="'
    msg.set_payload([_text_part(text or " ", "plain"), _text_part(html, "html")])
    return msg


def _set_text_body(msg: EmailMessage, body: str, subtype: str) -> None:
    """text/<subtype>, UTF-8, quoted-printable, line ends as set_content() makes
    them (CR, LF and CRLF all end a line; the body ends with one)."""
    data = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
    msg["Content-Type"] = f'text/{subtype}; charset="utf-8"'  # parsed once, read several times
    msg.set_raw("Content-Transfer-Encoding", "quoted-printable")
    msg.set_payload(binascii.b2a_qp(data, istext=True).decode("ascii"))


def _text_part(body: str, subtype: str) -> EmailMessage:
    part = EmailMessage(policy=SMTP_POLICY)
    _set_text_body(part, body, subtype)
    return part


def as_bytes(msg: EmailMessage) -> bytes:
    """Wire format: CRLF line ends, headers folded and RFC 2047-encoded as SMTP wants."""
    return msg.as_bytes(policy=SMTP_POLICY)


def message_bytes(fields, trigger, *, config, **options) -> bytes:
    """as_bytes(build_message(...)): what goes over the wire."""
    return as_bytes(build_message(fields, trigger, config=config, **options))


def send_test_email(trigger, contact_id, to_email, now, *, config) -> str:
    """Render the trigger for one contact and send it to `to_email` with a
    "[TEST] " subject prefix. Nothing is stored in the outbox. Returns the
    server's reply; raises MailerError (or RenderError/TemplateError) with a
    message meant for staff."""
    to_email = (to_email or "").strip()
    _no_newlines(to_email, "recipient address")
    try:
        Address(addr_spec=to_email)
    except (ValueError, IndexError) as exc:
        raise MailerError(f"{to_email!r} is not an email address") from exc
    context = contact_context(contact_id, now, unsubscribe_url="#unsubscribe-link-in-test-email")
    rendered = compile_for_trigger(trigger).render(context)
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
