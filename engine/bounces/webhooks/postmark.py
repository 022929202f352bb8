"""Postmark's bounce / spam complaint / delivery webhooks (POST /webhooks/postmark).

Postmark signs nothing: the webhook URL carries HTTP basic auth credentials you
set in Postmark (POSTMARK_WEBHOOK_USERNAME / _PASSWORD), compared in constant
time. Each event has Postmark's own id (Bounce "ID"), which is the dedupe key.

Postmark's "MessageID" is its own id, not the Message-ID header Nudge sent, so
a message is found by, in order: a Message-ID in Metadata (set with an
X-PM-Metadata-nudge-message-id header) or in the event's Headers list, else the
newest message Nudge sent to that recipient within 30 days (a recipient emailed
by two triggers in that time may get the bounce on the later message; it is
the same address either way, which is what the suppression acts on).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from engine.bounces.webhooks import ProviderEvent, WebhookPayloadError, WebhookRefused

HARD_TYPES = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification"}
SOFT_TYPES = {"SoftBounce", "Transient", "DnsError", "Blocked", "ChallengeVerification"}
METADATA_KEYS = ("nudge-message-id", "nudge_message_id", "message-id", "message_id", "Message-ID")


def verify(authorization: str | None, *, username: str, password: str) -> None:
    if not (username or "").strip() or not (password or "").strip():
        raise WebhookRefused("Postmark webhook not configured (POSTMARK_WEBHOOK_USERNAME / _PASSWORD)")
    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True) if scheme.lower() == "basic" else b""
    except (binascii.Error, ValueError):
        given = b""
    expected = f"{username}:{password}".encode("utf-8")
    # Compare digests so neither the length nor the content leaks through timing.
    if not hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest()):
        raise WebhookRefused("wrong webhook credentials")


def _message_id_header(event: dict) -> str | None:
    metadata = event.get("Metadata") if isinstance(event.get("Metadata"), dict) else {}
    for key in METADATA_KEYS:
        if metadata.get(key):
            return str(metadata[key])
    for header in event.get("Headers") or ():
        if isinstance(header, dict) and str(header.get("Name", "")).lower() == "message-id":
            return str(header.get("Value") or "") or None
    return None


def _dedupe_key(event: dict, record_type: str) -> str:
    if event.get("ID") not in (None, ""):
        return f"{record_type}:{event['ID']}"
    stable = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(stable.encode("utf-8")).hexdigest()


def parse(body: bytes) -> list[ProviderEvent]:
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookPayloadError("the body is not JSON")
    if not isinstance(event, dict):
        raise WebhookPayloadError("the body is not a Postmark event")
    record_type = str(event.get("RecordType") or "")
    bounce_type = str(event.get("Type") or "")
    if record_type == "SpamComplaint" or bounce_type == "SpamComplaint":
        kind = "complaint"
    elif record_type == "Bounce":
        kind = "hard" if bounce_type in HARD_TYPES else "soft" if bounce_type in SOFT_TYPES else None
    elif record_type == "Delivery":
        kind = "delivered"
    else:
        kind = None
    if kind is None:
        return []  # auto-responders, opens, subscription changes: nothing to record
    recipient = event.get("Email") or event.get("Recipient")
    return [ProviderEvent(
        kind=kind, dedupe_key=_dedupe_key(event, record_type or "Bounce") if kind != "delivered"
        else f"Delivery:{event.get('MessageID')}:{recipient}",
        message_id_header=_message_id_header(event), recipient=str(recipient or "") or None,
        status=None, reason=str(event.get("Details") or event.get("Description") or bounce_type) or None)]


def verify_and_parse(body: bytes, *, authorization, username: str, password: str):
    verify(authorization, username=username, password=password)
    return parse(body)
