"""Amazon SES notifications delivered by SNS (POST /webhooks/ses).

SNS signs every message with a certificate it publishes at SigningCertURL:
SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA, over the message's fields
in a fixed order. Anyone can create a topic and have AWS sign messages to us, so
a valid signature is not enough: the TopicArn must be one of SES_SNS_TOPIC_ARNS.
The certificate (and a SubscribeURL) is fetched only from https://sns.<region>.
amazonaws.com/..., never from a host the message names, and cached per URL.

`fetch(url) -> bytes` is injected (the view passes a urllib one, tests serve the
certificate they generated). A body is one SNS message, or a JSON list of them
(a relay batching an SQS queue); every message is verified before any is used.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from engine.bounces.webhooks import ProviderEvent, WebhookPayloadError, WebhookRefused

MAX_MESSAGES = 100
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com$")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                "TopicArn", "Type"),
}
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
_CACHE_SIZE = 32
_cert_cache: "OrderedDict[str, rsa.RSAPublicKey]" = OrderedDict()
_cache_lock = threading.Lock()


@dataclass
class SnsBatch:
    """What a verified SES request asks for: events to record, subscriptions to confirm."""

    events: list[ProviderEvent] = field(default_factory=list)
    subscribe_urls: list[str] = field(default_factory=list)
    ignored: int = 0


def clear_certificate_cache() -> None:
    with _cache_lock:
        _cert_cache.clear()


def is_sns_url(url: str | None) -> bool:
    """https on sns.<region>.amazonaws.com (no port, no credentials)."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme == "https" and port is None and not parts.username
            and bool(_SNS_HOST.match(parts.hostname or "")))


def _public_key(url: str, fetch: Callable[[str], bytes]) -> rsa.RSAPublicKey:
    if not is_sns_url(url) or not urlsplit(url).path.endswith(".pem"):
        raise WebhookRefused("the signing certificate is not on an SNS host")
    with _cache_lock:
        key = _cert_cache.get(url)
        if key is not None:
            _cert_cache.move_to_end(url)
            return key
    try:
        cert = x509.load_pem_x509_certificate(fetch(url))
    except Exception as exc:  # unreachable, not PEM: nothing is provable
        raise WebhookRefused(f"the signing certificate could not be loaded ({type(exc).__name__})")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRefused("the signing certificate is not an RSA certificate")
    with _cache_lock:
        _cert_cache[url] = key
        while len(_cert_cache) > _CACHE_SIZE:
            _cert_cache.popitem(last=False)
    return key


def string_to_sign(message: dict) -> bytes:
    """The canonical "Name\\nvalue\\n..." text SNS signs (absent optional fields left out)."""
    names = _SIGNED_FIELDS.get(message.get("Type"))
    if names is None:
        raise WebhookPayloadError(f"unknown SNS message type {message.get('Type')!r}")
    text = "".join(f"{n}\n{message[n]}\n" for n in names if message.get(n) is not None)
    return text.encode("utf-8")


def verify_message(message: dict, *, topics: set[str], fetch: Callable[[str], bytes]) -> None:
    """Raises WebhookRefused unless the SNS message is signed by SNS for one of our topics."""
    if message.get("TopicArn") not in topics:
        raise WebhookRefused("the SNS topic is not one of SES_SNS_TOPIC_ARNS")
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise WebhookRefused("unsupported SNS SignatureVersion")
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRefused("the SNS signature is not base64")
    key = _public_key(str(message.get("SigningCertURL") or ""), fetch)
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise WebhookRefused("the SNS signature does not match")


def _load(body: bytes) -> list[dict]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused("the body is not an SNS message")
    messages = data if isinstance(data, list) else [data]
    if not messages or len(messages) > MAX_MESSAGES or not all(isinstance(m, dict) for m in messages):
        raise WebhookRefused("the body is not an SNS message")
    return messages


def verify_and_parse(body: bytes, *, topics: set[str], fetch: Callable[[str], bytes]) -> SnsBatch:
    """Verify every SNS message of the body (raises WebhookRefused on any bad
    one), then parse them. No database access."""
    if not topics:
        raise WebhookRefused("SES webhook not configured (SES_SNS_TOPIC_ARNS)")
    messages = _load(body)
    for message in messages:
        verify_message(message, topics=topics, fetch=fetch)
    batch = SnsBatch()
    for message in messages:
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            url = message.get("SubscribeURL")
            if not is_sns_url(url):
                raise WebhookRefused("the SubscribeURL is not on an SNS host")
            batch.subscribe_urls.append(url)
        elif kind == "Notification":
            found = notification_events(message)
            batch.events.extend(found)
            batch.ignored += not found
        else:
            batch.ignored += 1
    return batch


def _header(mail: dict, name: str) -> str | None:
    for header in mail.get("headers") or ():
        if isinstance(header, dict) and str(header.get("name", "")).lower() == name.lower():
            return str(header.get("value") or "") or None
    return None


def notification_events(message: dict) -> list[ProviderEvent]:
    """The SES bounce / complaint / delivery events of one verified SNS Notification."""
    try:
        note = json.loads(message.get("Message") or "")
    except ValueError:
        return []  # a topic's other (non-SES) messages: nothing to record
    if not isinstance(note, dict):
        return []
    kind = note.get("notificationType") or note.get("eventType")  # SES notifications / event publishing
    mail = note.get("mail") if isinstance(note.get("mail"), dict) else {}
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    header_id = common.get("messageId") or _header(mail, "Message-ID")
    return_path = _header(mail, "Return-Path") or mail.get("source")
    base = dict(message_id_header=str(header_id) if header_id else None,
                return_path=str(return_path) if return_path else None)
    key = str(message.get("MessageId") or "")
    if kind == "Bounce":
        bounce = note.get("bounce") or {}
        hard = bounce.get("bounceType") == "Permanent"  # Transient / Undetermined: soft
        recipients = [r for r in bounce.get("bouncedRecipients") or () if isinstance(r, dict)] or [{}]
        return [ProviderEvent(
            kind="hard" if hard else "soft",
            dedupe_key=key if len(recipients) == 1 else f"{key}:{r.get('emailAddress')}",
            recipient=r.get("emailAddress"), status=r.get("status"),
            reason=r.get("diagnosticCode") or " ".join(
                str(p) for p in (bounce.get("bounceType"), bounce.get("bounceSubType")) if p),
            **base) for r in recipients]
    if kind == "Complaint":
        complaint = note.get("complaint") or {}
        recipients = [r for r in complaint.get("complainedRecipients") or () if isinstance(r, dict)] or [{}]
        return [ProviderEvent(
            kind="complaint",
            dedupe_key=key if len(recipients) == 1 else f"{key}:{r.get('emailAddress')}",
            recipient=r.get("emailAddress"),
            reason=complaint.get("complaintFeedbackType") or "complaint", **base) for r in recipients]
    if kind == "Delivery":
        delivery = note.get("delivery") or {}
        return [ProviderEvent(kind="delivered", dedupe_key=key,
                              reason=delivery.get("smtpResponse"), **base)]
    return []
