"""The inbound SMTP server for DSNs (`flask nudge bounce-listener`): an aiosmtpd
handler that takes mail only for addresses @BOUNCE_DOMAIN (550 for anything
else, so it is never an open relay or a general mailbox) and records each DSN
in its own transaction.

A DSN that is no bounce of ours (an auto-reply, a forged VERP token, a message
to an unknown outbox id) is accepted and dropped with a log line: refusing it
would only make the sending MTA retry it. A database failure answers 451, so
the sender retries later and nothing is lost.
"""
from __future__ import annotations

import logging
import threading

from devtools.mail_sink import BoundPortController
from engine.bounces.intake import record_dsn
from extensions import db
from models.base import utcnow

log = logging.getLogger(__name__)
DATA_SIZE_LIMIT = 10 * 1024 * 1024  # a DSN quoting a large message is still small enough


class BounceHandler:
    def __init__(self, app, domain: str):
        self.app = app
        self.domain = domain.strip().lower()
        self._lock = threading.Lock()  # one writer at a time keeps SQLite happy

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.rpartition("@")[2].strip().lower() != self.domain:
            return f"550 5.7.1 <{address}>: only mail for @{self.domain} is accepted here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        with self._lock, self.app.app_context():
            secret = self.app.config["SECRET_KEY"]
            for rcpt in envelope.rcpt_tos:
                try:
                    intake = record_dsn(raw, envelope_recipient=rcpt, secret=secret, now=utcnow())
                    db.session.commit()
                except Exception:  # noqa: BLE001 - retried by the sender; the listener goes on
                    db.session.rollback()
                    log.exception("could not record a DSN for %s", rcpt)
                    return "451 4.3.0 Could not record the report, try again later"
                if not intake.parsed:
                    log.info("ignored a message for %s from %s: not a bounce of ours",
                             rcpt, envelope.mail_from)
        return "250 2.0.0 OK"


def start_listener(app, host: str = "0.0.0.0", port: int = 2525) -> BoundPortController:
    """Start the listener in a background thread (port 0: the system picks one);
    returns the controller (.port, .stop())."""
    domain = (app.config.get("BOUNCE_DOMAIN") or "").strip()
    if not domain:
        raise ValueError("BOUNCE_DOMAIN is not set: the listener would accept mail for nothing")
    controller = BoundPortController(BounceHandler(app, domain), hostname=host, port=port,
                                     data_size_limit=DATA_SIZE_LIMIT)
    controller.start()
    return controller
