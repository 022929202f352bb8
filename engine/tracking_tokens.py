"""Tracking tokens and URLs: itsdangerous signatures with a separate salt per
purpose, so an open token can never be replayed as an unsubscribe token. A
click token carries (message id, link index) -- never a URL.

The send path signs four tokens per message, so signing is done without
itsdangerous' per-call overhead but byte for byte as it would (_FastDumps
checks itself against itsdangerous when it is built); verifying always goes
through itsdangerous.
"""
from __future__ import annotations

import base64
import hmac
import json
import zlib

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

SALTS = {
    "open": "nudge.tracking.open",
    "click": "nudge.tracking.click",
    "unsubscribe": "nudge.tracking.unsubscribe",
}


_SERIALIZERS: dict[tuple, URLSafeSerializer] = {}


def _serializer(purpose: str, secret_key: str | None = None) -> URLSafeSerializer:
    # Built once per (purpose, key): the send path signs four tokens per message.
    secret = secret_key or current_app.config["SECRET_KEY"]
    key = (purpose, secret)
    found = _SERIALIZERS.get(key)
    if found is None:
        found = _SERIALIZERS[key] = URLSafeSerializer(secret, salt=SALTS[purpose])
    return found


def _is_id(value) -> bool:
    # JSON true would pass isinstance(int); only real non-negative integers count.
    return type(value) is int and value >= 0


class _FastDumps:
    """serializer.dumps() for the small JSON values our tokens carry, byte for
    byte (checked against itsdangerous when built), with the derived HMAC key
    computed once: the send path signs four tokens per message."""

    def __init__(self, serializer: URLSafeSerializer):
        self.serializer = serializer
        signer = serializer.make_signer()
        self.mac = hmac.new(signer.derive_key(), digestmod=signer.algorithm.digest_method)
        self.sep = signer.sep
        sample = [123, 4]
        self.exact = self._dumps(json.dumps(sample, separators=(",", ":"))) == serializer.dumps(sample)

    @staticmethod
    def _b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    def _dumps(self, text: str) -> str | None:
        data = text.encode()
        # zlib's output is never under 8 bytes, so up to 9 bytes it cannot win.
        if len(data) > 9 and len(zlib.compress(data)) < len(data) - 1:
            return None  # itsdangerous would compress it: let it
        payload = self._b64(data)
        mac = self.mac.copy()
        mac.update(payload)
        return (payload + self.sep + self._b64(mac.digest())).decode()

    def dumps(self, value, text: str) -> str:
        """`text` is value as compact JSON."""
        return (self.exact and self._dumps(text)) or self.serializer.dumps(value)


_FAST: dict[tuple, _FastDumps] = {}


def _dumps(purpose: str, value, text: str) -> str:
    secret = current_app.config["SECRET_KEY"]
    fast = _FAST.get((purpose, secret))
    if fast is None:
        fast = _FAST[(purpose, secret)] = _FastDumps(_serializer(purpose))
    return fast.dumps(value, text)


def open_token(message_id: int) -> str:
    message_id = int(message_id)
    return _dumps("open", message_id, str(message_id))


def click_token(message_id: int, link_index: int) -> str:
    value = [int(message_id), int(link_index)]
    return _dumps("click", value, f"[{value[0]},{value[1]}]")


def unsubscribe_token(message_id: int) -> str:
    message_id = int(message_id)
    return _dumps("unsubscribe", message_id, str(message_id))


def _loads(purpose: str, token: str):
    try:
        return _serializer(purpose).loads(token)
    except (BadData, UnicodeError, ValueError, TypeError):
        return None


def read_open_token(token: str) -> int | None:
    """The message id an open token was issued for, or None if forged/tampered."""
    value = _loads("open", token)
    return value if _is_id(value) else None


def read_click_token(token: str) -> tuple[int, int] | None:
    """(message id, link index) of a click token, or None if forged/tampered."""
    value = _loads("click", token)
    if isinstance(value, list) and len(value) == 2 and all(_is_id(v) for v in value):
        return value[0], value[1]
    return None


def read_unsubscribe_token(token: str) -> int | None:
    value = _loads("unsubscribe", token)
    return value if _is_id(value) else None


def _base(base_url: str | None) -> str:
    return (base_url or current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


def open_url(message_id: int, base_url: str | None = None) -> str:
    return f"{_base(base_url)}/t/o/{open_token(message_id)}.gif"


def click_url(message_id: int, link_index: int, base_url: str | None = None) -> str:
    return f"{_base(base_url)}/t/c/{click_token(message_id, link_index)}"


def unsubscribe_url(message_id: int, base_url: str | None = None) -> str:
    """The public unsubscribe page (GET confirms, POST -- also RFC 8058 one-click -- acts)."""
    return f"{_base(base_url)}/u/{unsubscribe_token(message_id)}"
