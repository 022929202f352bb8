"""SendGrid's signed event webhook (POST /webhooks/sendgrid).

SendGrid signs timestamp + raw body with ECDSA P-256 / SHA-256; the signature
(base64 DER) and timestamp come in X-Twilio-Email-Event-Webhook-Signature /
-Timestamp, the public key is the base64 DER SendGrid's settings page shows
(SENDGRID_WEBHOOK_PUBLIC_KEY). A timestamp outside the window is refused, so an
old signed request cannot be replayed later; inside the window a repeat records
nothing new (sg_event_id is the dedupe key).

SendGrid events name the message by "smtp-id": the Message-ID header it was
submitted with, Nudge's own "<nudge-<id>@...>".
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from engine.bounces.webhooks import ProviderEvent, WebhookPayloadError, WebhookRefused

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
WINDOW_SECONDS = 600
MAX_EVENTS = 10_000


def load_public_key(value: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's base64 DER key (a PEM is accepted too); ValueError when unusable."""
    text = (value or "").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode("ascii"))
        else:
            key = load_der_public_key(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError(f"not a public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve key")
    return key


def verify(body: bytes, *, signature: str | None, timestamp: str | None, public_key: str,
           now: datetime) -> None:
    if not (public_key or "").strip():
        raise WebhookRefused("SendGrid webhook not configured (SENDGRID_WEBHOOK_PUBLIC_KEY)")
    try:
        key = load_public_key(public_key)
    except ValueError:
        raise WebhookRefused("SENDGRID_WEBHOOK_PUBLIC_KEY is not a usable key")
    if not signature or not timestamp or not timestamp.strip().isdigit():
        raise WebhookRefused("missing signature or timestamp")
    sent = int(timestamp.strip())
    current = now.replace(tzinfo=timezone.utc).timestamp() if now.tzinfo is None else now.timestamp()
    if abs(current - sent) > WINDOW_SECONDS:
        raise WebhookRefused("the timestamp is outside the allowed window")
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
        key.verify(raw, timestamp.strip().encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise WebhookRefused("the signature does not match")


def _dedupe_key(event: dict) -> str:
    if event.get("sg_event_id"):
        return str(event["sg_event_id"])
    stable = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(stable.encode("utf-8")).hexdigest()


def _kind(event: dict) -> str | None:
    name = event.get("event")
    if name == "bounce":
        # "blocked" (the receiver refused for now: reputation, content) is soft.
        return "soft" if str(event.get("type") or "").lower() == "blocked" else "hard"
    if name == "dropped":
        reason = str(event.get("reason") or "").lower()
        if "unsubscribed" in reason:
            return None  # SendGrid's own suppression list: not a bounce
        return "complaint" if "spam" in reason else "hard"
    if name == "spamreport":
        return "complaint"
    if name == "delivered":
        return "delivered"
    return None  # open, click, processed, deferred, ...: Nudge tracks those itself


def parse(body: bytes) -> list[ProviderEvent]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookPayloadError("the body is not JSON")
    if not isinstance(data, list) or len(data) > MAX_EVENTS:
        raise WebhookPayloadError("the body is not a list of events")
    events = []
    for item in data:
        if not isinstance(item, dict):
            continue
        kind = _kind(item)
        if kind is None:
            continue
        events.append(ProviderEvent(
            kind=kind, dedupe_key=_dedupe_key(item),
            message_id_header=str(item.get("smtp-id") or "") or None,
            recipient=str(item.get("email") or "") or None,
            status=str(item.get("status") or "") or None,
            reason=str(item.get("reason") or item.get("response") or "") or None))
    return events


def verify_and_parse(body: bytes, *, signature, timestamp, public_key: str, now: datetime):
    verify(body, signature=signature, timestamp=timestamp, public_key=public_key, now=now)
    return parse(body)
