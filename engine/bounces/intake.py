"""One received DSN -> its bounce records: what the SMTP listener
(engine/bounces/listener.py) and the IMAP poll (engine/bounces/imap.py) both do
with each message. Does not commit: each intake path commits per message, so
one bad DSN never loses another's record."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import NamedTuple

from engine.bounces.dsn import ParsedBounce, parse_dsn
from engine.bounces.records import record_bounce
from models.bounce import BounceRecord

log = logging.getLogger(__name__)


class Intake(NamedTuple):
    parsed: list[ParsedBounce]  # what the message reports, attributed ([] = not a bounce of ours)
    recorded: list[BounceRecord]  # the new records ([] for a repeat of a recorded DSN)


def record_dsn(raw: bytes, *, envelope_recipient: str | None, secret, now: datetime) -> Intake:
    """Parse one DSN and record each bounce it reports (source "dsn")."""
    parsed = parse_dsn(raw, envelope_recipient=envelope_recipient, secret=secret)
    recorded = []
    for bounce in parsed:
        record = record_bounce(message_id=bounce.message_id, kind=bounce.kind, source="dsn",
                               dedupe_key=bounce.dedupe_key, status=bounce.status,
                               reason=bounce.reason, now=now)
        if record is not None:
            recorded.append(record)
    return Intake(parsed, recorded)
