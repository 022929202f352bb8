"""The MIME message for one outbox row (email.message.EmailMessage), and the test email.

Every message goes through here once, so it is built the cheap way the email
package allows: header values this module has already checked (plain ASCII
addresses, no line breaks) are stored with set_raw() instead of being parsed
into header objects, and the text parts are made from their headers and
quoted-printable body directly (set_content() parses back each header it
writes). The generator still folds anything too long. Measured by bench.send:
a third of the cost of the parsing path.
"""
import binascii
import ipaddress
import smtplib
import uuid
from datetime import datetime, timezone
from email.header import Header
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from functools import lru_cache
from urllib.parse import urlsplit

from engine import tracking
from engine.bounces import verp
from engine.render import compile_for_trigger, html_to_text
from engine.render.document import as_document
from engine.render.messages import contact_context
from engine.sending import dkim_sign
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


@lru_cache(maxsize=8)
def _domain(configured: str, base_url: str) -> str:
    if configured:
        return configured
    host = urlsplit(base_url or "").hostname or ""
    try:
        ipaddress.ip_address(host)
        return "nudge.local"  # an address is no domain (development's 127.0.0.1)
    except ValueError:
        return host or "nudge.local"


def message_id_domain(config) -> str:
    """MESSAGE_ID_DOMAIN, else the host of PUBLIC_BASE_URL (nudge.local for an IP or none)."""
    return _domain(config.get("MESSAGE_ID_DOMAIN") or "", config.get("PUBLIC_BASE_URL") or "")


def message_id_for(outbox_id, config) -> str:
    """<nudge-ID@domain>: derived from the outbox id, so a duplicate is traceable."""
    return f"<nudge-{outbox_id}@{message_id_domain(config)}>"


def envelope_sender(outbox_id, trigger, config) -> str:
    """MAIL FROM of a message: its VERP return path when BOUNCE_DOMAIN is set (so
    the bounce names the message), else the trigger's From address."""
    domain = (config.get("BOUNCE_DOMAIN") or "").strip()
    if domain and outbox_id is not None:
        return verp.return_path(outbox_id, domain=domain, secret=config["SECRET_KEY"])
    return _get(trigger, "from_email")


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


def bcc_recipients(to_email: str, trigger) -> list[str]:
    """The trigger's BCC addresses (not the contact's own): they get engine/sending/bcc_copy.py."""
    bcc = (_get(trigger, "bcc") or "").strip()
    return [addr for addr in (a.strip() for a in bcc.replace(";", ",").split(","))
            if addr and addr.lower() != (to_email or "").lower()]


def _set_subject(msg: EmailMessage, subject: str) -> None:
    if subject.isascii():
        msg.set_raw("Subject", subject)  # folded by the generator when long
    else:
        # The SMTP policy's own folding leaves the space between two folded
        # encoded-words outside both, and readers drop it ("готов Grüße" arrives
        # as "готовGrüße"); email.header.Header keeps it inside an encoded-word.
        msg.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def _from_header(trigger) -> str:
    """From: the trigger's address with its display name, RFC 2047-encoded when not ASCII."""
    address = _plain_address(_get(trigger, "from_email"), "From address")
    name = _no_newlines((_get(trigger, "from_name") or "").strip(), "From name")
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))  # quoted when it has specials
    return f"{Header(name, 'utf-8', header_name='From').encode()} <{address}>"


def _date_header() -> str:
    """RFC 5322 date with a numeric zone ("+0000"), not the obsolete "GMT"."""
    return format_datetime(datetime.now(timezone.utc))


def _list_id(trigger, config) -> str | None:
    """List-Id (RFC 2919): one list per trigger, under the Message-ID domain."""
    trigger_id = _get(trigger, "id")
    return None if trigger_id is None else f"<trigger-{trigger_id}.{message_id_domain(config)}>"


def _list_unsubscribe(outbox_id, config) -> str:
    """The one-click https URL, plus a mailto: (token in the subject) with UNSUBSCRIBE_MAILTO."""
    value = f"<{tracking.unsubscribe_url(outbox_id, config.get('PUBLIC_BASE_URL', ''))}>"
    mailto = (config.get("UNSUBSCRIBE_MAILTO") or "").strip()
    if mailto:
        mailto = _plain_address(mailto, "UNSUBSCRIBE_MAILTO")
        value += f", <mailto:{mailto}?subject=unsubscribe%20{tracking.unsubscribe_token(outbox_id)}>"
    return value


def _instrument(html: str, outbox_id, trigger, base_url: str) -> str:
    """Open pixel and click redirects, each unless the trigger switched it off."""
    opens, clicks = _get(trigger, "track_opens", True), _get(trigger, "track_clicks", True)
    return tracking.instrument_html(html, outbox_id, base_url, opens=opens, clicks=clicks)


def _set_body(msg: EmailMessage, text: str, html: str) -> None:
    """text/plain alone for a text-only email; else multipart/alternative text + HTML."""
    msg.set_raw("MIME-Version", "1.0")
    if not html:
        _set_text_part(msg, text or " ", "plain")
        return
    # Two "=" in a row never occur in quoted-printable, so no part can contain
    # this boundary (the reason the email package's own have them too).
    msg["Content-Type"] = f'multipart/alternative; boundary="=={uuid.uuid4().hex}=="'
    msg.set_payload([_text_part(text or " ", "plain"), _text_part(html, "html")])


def _set_text_part(msg: EmailMessage, body: str, subtype: str) -> None:
    """text/<subtype>, UTF-8, quoted-printable, line ends as set_content() makes
    them (CR, LF and CRLF all end a line; the body ends with one)."""
    data = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
    msg["Content-Type"] = f'text/{subtype}; charset="utf-8"'  # parsed once, read several times
    msg.set_raw("Content-Transfer-Encoding", "quoted-printable")
    msg.set_payload(binascii.b2a_qp(data, istext=True).decode("ascii"))


def _text_part(body: str, subtype: str) -> EmailMessage:
    part = EmailMessage(policy=SMTP_POLICY)
    _set_text_part(part, body, subtype)
    return part


def build_message(fields, trigger, *, config, subject_prefix: str = "",
                  message_id: str | None = None, track: bool = True) -> EmailMessage:
    """The message for one outbox row (`fields`: a row or dict with id,
    to_email, subject, html, text; id None for a test email).

    Message-ID from the outbox id; From / Reply-To (or no-reply) from the
    trigger (with its display name); Date in +0000; List-Id per trigger;
    List-Unsubscribe (+ mailto: with UNSUBSCRIBE_MAILTO) + List-Unsubscribe-Post
    (RFC 8058 one-click); text/plain alone for a text-only email, else
    multipart/alternative text + HTML, the HTML sent as the preview's document
    (engine/render/document.py) and instrumented for open/click tracking here,
    at send time, unless the trigger switched either off. Raises MailerError for a line break in a
    header value or a missing or malformed From/To.
    """
    outbox_id = _get(fields, "id")
    if not (_get(trigger, "from_email") or "").strip():
        raise MailerError("the trigger has no From address")
    if not (_get(fields, "to_email") or "").strip():
        raise MailerError("the contact has no email address")
    msg = EmailMessage(policy=SMTP_POLICY)
    msg.set_raw("From", _from_header(trigger))
    msg.set_raw("To", _plain_address(_get(fields, "to_email"), "recipient address"))
    _set_subject(msg, _no_newlines(subject_prefix + (_get(fields, "subject") or ""), "subject"))
    msg.set_raw("Date", _date_header())
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
    html = as_document(html)  # the document the preview shows
    list_id = _list_id(trigger, config)
    if list_id:
        msg.set_raw("List-Id", list_id)
    if outbox_id is not None:
        msg.set_raw("List-Unsubscribe", _list_unsubscribe(outbox_id, config))
        msg.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        if (config.get("POSTMARK_WEBHOOK_USERNAME") or "").strip():
            # Postmark's bounce webhook carries neither our Message-ID nor a VERP
            # sender, only the message's metadata: this names the message there.
            msg.set_raw("X-PM-Metadata-nudge-message-id", message_id or message_id_for(outbox_id, config))
        if track and html:
            html = _instrument(html, outbox_id, trigger, config.get("PUBLIC_BASE_URL", ""))
    if _get(trigger, "id") is not None:
        msg.set_raw("X-Nudge-Trigger", str(int(_get(trigger, "id"))))
    _set_body(msg, text, html)
    return msg


def as_bytes(msg: EmailMessage) -> bytes:
    """Wire format: CRLF line ends, headers folded and RFC 2047-encoded as SMTP wants."""
    return msg.as_bytes(policy=SMTP_POLICY)


def message_bytes(fields, trigger, *, config, **options) -> bytes:
    """as_bytes(build_message(...)), DKIM-signed when configured: what goes over the wire."""
    return dkim_sign.sign(as_bytes(build_message(fields, trigger, config=config, **options)), config)


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
    domain = message_id_domain(config)
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
