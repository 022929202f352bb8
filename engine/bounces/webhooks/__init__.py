"""Provider webhooks (Amazon SES over SNS, SendGrid, Postmark, Mailgun): each
provider module checks its signature and parses its payload into
ProviderEvents; `record_events` maps them onto outbox messages and records them.

The order is the point: a view calls the provider's `verify_and_parse` (no
database) and only when that succeeds `record_events` -- so a bad signature
changes nothing. Every event carries a dedupe key (the provider's event id),
and engine.bounces.records.record_bounce is idempotent on (source, key), so a
retried or replayed event records once. Nothing here commits: the view does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from engine.bounces.records import record_bounce
from engine.bounces.verp import message_id_from_address, message_id_from_header
from extensions import db
from models import DeliveryEvent, OutboxMessage

log = logging.getLogger(__name__)

EVENT_KINDS = ("hard", "soft", "complaint", "delivered")
# Postmark (and any event without a Message-ID or VERP address) is matched to the
# newest message sent to the recipient within this many days before the event.
RECIPIENT_MATCH_DAYS = 30


class WebhookRefused(Exception):
    """The request is not provably from the provider (bad or missing signature,
    stale timestamp, foreign certificate host, webhook not configured): 401."""


class WebhookPayloadError(Exception):
    """The request is signed but its body is not what the provider sends: 400."""


@dataclass(frozen=True)
class ProviderEvent:
    """One bounce, complaint or delivery as a provider reported it."""

    kind: str                      # one of EVENT_KINDS
    dedupe_key: str                # the provider's event id (or a stable hash)
    message_id_header: str | None = None  # the Message-ID Nudge sent ("<nudge-<id>@...>")
    return_path: str | None = None        # the envelope sender (a VERP address) if known
    recipient: str | None = None
    status: str | None = None      # "5.1.1"
    reason: str | None = None      # the raw diagnostic


def resolve_message_id(event: ProviderEvent, *, secret, now: datetime) -> int | None:
    """The outbox id an event is about: the signed VERP address first (proof),
    then Nudge's Message-ID, then the newest message sent to the recipient."""
    if event.return_path:
        found = message_id_from_address(event.return_path, secret=secret)
        if found is not None:
            return found
    found = message_id_from_header(event.message_id_header)
    if found is not None:
        return found
    if event.recipient and event.recipient.strip():
        row = db.session.execute(
            select(OutboxMessage.id)
            .where(func.lower(OutboxMessage.to_email) == event.recipient.strip().lower(),
                   OutboxMessage.sent_at.is_not(None),
                   OutboxMessage.sent_at <= now,
                   OutboxMessage.sent_at > now - timedelta(days=RECIPIENT_MATCH_DAYS))
            .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc()).limit(1)).first()
        if row is not None:
            return row.id
    return None


def _record_delivery(message_id: int, event: ProviderEvent, now: datetime) -> bool:
    """A provider's "delivered": the send path already wrote a "delivered" event
    when the relay accepted the message (engine/outbox/send_states.mark_sent), so
    one is added only for a message that has none (e.g. left `uncertain`)."""
    message = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.trigger_id, OutboxMessage.contact_id)
        .where(OutboxMessage.id == message_id)).first()
    if message is None:
        return False
    seen = db.session.execute(
        select(DeliveryEvent.id).where(DeliveryEvent.message_id == message_id,
                                       DeliveryEvent.kind == "delivered").limit(1)).first()
    if seen is not None:
        return False
    db.session.add(DeliveryEvent(message_id=message.id, trigger_id=message.trigger_id,
                                 contact_id=message.contact_id, kind="delivered", at=now,
                                 detail=(event.reason or "delivered (provider webhook)")[:2000]))
    db.session.flush()
    return True


def record_events(source: str, events: list[ProviderEvent], *, secret, now: datetime) -> dict:
    """Record verified events; returns counts {recorded, delivered, repeated, unknown}.
    Unknown messages are logged and skipped (the provider gets 200 and stops retrying)."""
    counts = {"recorded": 0, "delivered": 0, "repeated": 0, "unknown": 0}
    for event in events:
        message_id = resolve_message_id(event, secret=secret, now=now)
        if message_id is None:
            log.info("%s webhook: no message for event %s (%s) ignored", source, event.dedupe_key,
                     event.kind)
            counts["unknown"] += 1
            continue
        if event.kind == "delivered":
            counts["delivered" if _record_delivery(message_id, event, now) else "repeated"] += 1
            continue
        record = record_bounce(message_id=message_id, kind=event.kind, source=source,
                               dedupe_key=event.dedupe_key, status=event.status,
                               reason=event.reason, now=now)
        if record is not None:
            counts["recorded"] += 1
        elif db.session.get(OutboxMessage, message_id) is None:
            counts["unknown"] += 1
        else:
            counts["repeated"] += 1
    return counts
