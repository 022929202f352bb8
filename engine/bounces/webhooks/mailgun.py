"""Mailgun's webhooks (POST /webhooks/mailgun).

The body's "signature" object is {timestamp, token, signature}: an HMAC-SHA256
of timestamp + token with the webhook signing key (MAILGUN_WEBHOOK_SIGNING_KEY).
A timestamp older (or newer) than 5 minutes is refused, and a token seen before
is a replay: ignored. Seen tokens are kept in this process for the window (the
event id dedupe makes a replay that reaches another process harmless too).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from datetime import datetime, timezone

from engine.bounces.webhooks import ProviderEvent, WebhookPayloadError, WebhookRefused

WINDOW_SECONDS = 300
_MAX_TOKENS = 100_000
_seen: "OrderedDict[str, float]" = OrderedDict()
_seen_lock = threading.Lock()


def forget_tokens() -> None:
    with _seen_lock:
        _seen.clear()


def _epoch(now: datetime) -> float:
    return (now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now).timestamp()


def _load(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused("the body is not a Mailgun webhook")
    if not isinstance(data, dict) or not isinstance(data.get("signature"), dict):
        raise WebhookRefused("no signature")
    return data


def verify(data: dict, *, signing_key: str, now: datetime) -> str:
    """Raises WebhookRefused unless signed and fresh; returns the token."""
    if not (signing_key or "").strip():
        raise WebhookRefused("Mailgun webhook not configured (MAILGUN_WEBHOOK_SIGNING_KEY)")
    sig = data["signature"]
    timestamp, token, signature = (str(sig.get(k) or "") for k in ("timestamp", "token", "signature"))
    if not timestamp.isdigit() or not token or not signature:
        raise WebhookRefused("incomplete signature")
    if abs(_epoch(now) - int(timestamp)) > WINDOW_SECONDS:
        raise WebhookRefused("the timestamp is outside the allowed window")
    expected = hmac.new(signing_key.strip().encode("utf-8"), (timestamp + token).encode("utf-8"),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise WebhookRefused("the signature does not match")
    return token


def is_replay(token: str, now: datetime) -> bool:
    """True when the token was seen within the window (and remembers it otherwise)."""
    current = _epoch(now)
    with _seen_lock:
        while _seen:
            oldest, at = next(iter(_seen.items()))
            if current - at <= WINDOW_SECONDS * 2 and len(_seen) < _MAX_TOKENS:
                break
            _seen.popitem(last=False)
        if token in _seen:
            return True
        _seen[token] = current
        return False


def parse(data: dict) -> list[ProviderEvent]:
    event = data.get("event-data")
    if not isinstance(event, dict):
        raise WebhookPayloadError("no event-data")
    name = event.get("event")
    if name == "failed":
        kind = "hard" if event.get("severity") == "permanent" else "soft"
    elif name == "complained":
        kind = "complaint"
    elif name == "delivered":
        kind = "delivered"
    else:
        return []
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    status = event.get("delivery-status") if isinstance(event.get("delivery-status"), dict) else {}
    envelope = event.get("envelope") if isinstance(event.get("envelope"), dict) else {}
    key = event.get("id") or hashlib.sha256(
        json.dumps(event, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    reason = status.get("message") or status.get("description") or event.get("reason")
    code = status.get("enhanced-code") or (str(status["code"]) if status.get("code") else None)
    return [ProviderEvent(kind=kind, dedupe_key=str(key),
                          message_id_header=str(headers.get("message-id") or "") or None,
                          return_path=str(envelope.get("sender") or "") or None,
                          recipient=str(event.get("recipient") or "") or None,
                          status=code, reason=str(reason) if reason else None)]


def verify_and_parse(body: bytes, *, signing_key: str, now: datetime) -> tuple[list[ProviderEvent], bool]:
    """(events, replay): a replayed token gives ([], True)."""
    data = _load(body)
    token = verify(data, signing_key=signing_key, now=now)
    if is_replay(token, now):
        return [], True
    return parse(data), False
