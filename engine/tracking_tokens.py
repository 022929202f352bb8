"""Tracking tokens and URLs: itsdangerous signatures with a separate salt per
purpose, so an open token can never be replayed as an unsubscribe token. A
click token carries (message id, link index) -- never a URL.
"""
from __future__ import annotations

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

SALTS = {
    "open": "nudge.tracking.open",
    "click": "nudge.tracking.click",
    "unsubscribe": "nudge.tracking.unsubscribe",
}


_SERIALIZERS: dict[tuple, URLSafeSerializer] = {}


def _serializer(purpose: str) -> URLSafeSerializer:
    # Built once per (purpose, key): the send path signs four tokens per message.
    secret = current_app.config["SECRET_KEY"]
    key = (purpose, secret)
    found = _SERIALIZERS.get(key)
    if found is None:
        found = _SERIALIZERS[key] = URLSafeSerializer(secret, salt=SALTS[purpose])
    return found


def _is_id(value) -> bool:
    # JSON true would pass isinstance(int); only real non-negative integers count.
    return type(value) is int and value >= 0


def open_token(message_id: int) -> str:
    return _serializer("open").dumps(int(message_id))


def click_token(message_id: int, link_index: int) -> str:
    return _serializer("click").dumps([int(message_id), int(link_index)])


def unsubscribe_token(message_id: int) -> str:
    return _serializer("unsubscribe").dumps(int(message_id))


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
