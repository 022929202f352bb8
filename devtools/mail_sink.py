"""The development mail sink: an aiosmtpd handler that keeps every message it
receives as a SinkMessage row, so staff can read it at Settings -> Dev inbox.

Also the helpers the dev inbox uses to show a stored message (headers, HTML
and text parts)."""
import logging
import threading
from email import message_from_bytes, message_from_string
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller

from extensions import db
from models import SinkMessage
from models.base import utcnow

log = logging.getLogger(__name__)


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; a dev inbox should never refuse mail over it.
    return text.replace("\x00", "\ufffd")


def _header(msg, name: str, limit: int) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header must not lose the message
        return ""
    return _clean(" ".join(str(value or "").split()))[:limit]


def record_message(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> SinkMessage:
    """Store one received message (call inside an app context)."""
    msg = message_from_bytes(raw, policy=default_policy)
    row = SinkMessage(
        received_at=utcnow(),
        mail_from=_clean(mail_from or "")[:320],
        rcpt_to=_clean(", ".join(rcpt_tos)),
        subject=_header(msg, "Subject", 998),
        message_id=_header(msg, "Message-ID", 255) or None,
        raw=_clean(raw.decode("utf-8", errors="replace")),
    )
    db.session.add(row)
    db.session.commit()
    return row


class SinkHandler:
    """aiosmtpd handler: accept every recipient, store every message."""

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()  # one writer at a time keeps SQLite happy

    async def handle_DATA(self, server, session, envelope):
        try:
            with self._lock, self.app.app_context():
                row = record_message(envelope.original_content or envelope.content,
                                     envelope.mail_from, list(envelope.rcpt_tos))
                return f"250 Message accepted for delivery (dev inbox #{row.id})"
        except Exception:
            log.exception("mail sink could not store a message")
            return "451 Requested action aborted: could not store the message"


class BoundPortController(Controller):
    """aiosmtpd's Controller that may be given port 0 (the system picks a free
    port): no "find a free port, then bind it" race. `port` is the one bound."""

    def _trigger_server(self):
        # aiosmtpd probes the new server on self.port: make that the port really bound.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_sink(app, host: str = "127.0.0.1", port: int = 1025):
    """Start the sink in a background thread; returns the aiosmtpd Controller (call .stop())."""
    controller = BoundPortController(SinkHandler(app), hostname=host, port=port,
                                     data_size_limit=50 * 1024 * 1024)
    controller.start()
    return controller


# ---- reading a stored message (Dev inbox) -----------------------------------

def parse_stored(raw: str) -> EmailMessage:
    return message_from_string(raw, policy=default_policy)


def message_parts(raw: str) -> dict:
    """{"headers": [(name, value)], "html": str|None, "text": str|None, "attachments": [(name, type, size)]}."""
    msg = parse_stored(raw)
    headers = []
    for name, value in msg.items():
        try:
            headers.append((name, str(value)))
        except Exception:
            headers.append((name, "(could not be decoded)"))
    return {"headers": headers, "html": _body(msg, "html"), "text": _body(msg, "plain"),
            "attachments": _attachments(msg)}


def _body(msg: EmailMessage, subtype: str) -> str | None:
    try:
        part = msg.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else None
    except Exception:  # an undecodable part is shown as raw source instead
        return None


def _attachments(msg: EmailMessage) -> list[tuple]:
    found = []
    try:
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True) or b""
            found.append((part.get_filename() or "(unnamed)", part.get_content_type(), len(payload)))
    except Exception:
        pass
    return found
