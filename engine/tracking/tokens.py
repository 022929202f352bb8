"""Tracking tokens and URLs: itsdangerous signatures with a separate salt per
purpose, so an open token can never be replayed as an unsubscribe token. A
click token carries (message id, link index) -- never a URL.

A token is the plain ids signed by itsdangerous' Signer ("123.sig",
"123.4.sig"): the send path signs four per message, and the URL-safe JSON
serializer (JSON, a zlib attempt, base64) cost several times as much per token.
Tokens of that earlier form, in emails already sent, are still read.
"""
from __future__ import annotations

from flask import current_app
from itsdangerous import BadData, Signer, URLSafeSerializer

SALTS = {
    "open": "nudge.tracking.open",
    "click": "nudge.tracking.click",
    "unsubscribe": "nudge.tracking.unsubscribe",
}


_SIGNERS: dict[tuple, Signer | URLSafeSerializer] = {}


def _signer(purpose: str, kind=Signer):
    # Built once per (purpose, key, kind): the send path signs four tokens per message.
    secret = current_app.config["SECRET_KEY"]
    key = (purpose, secret, kind)
    found = _SIGNERS.get(key)
    if found is None:
        # Its own salt, so the two forms can never be read as one another.
        salt = SALTS[purpose] + (".ids" if kind is Signer else "")
        found = _SIGNERS[key] = kind(secret, salt=salt)
    return found


def _sign(purpose: str, *ids: int) -> str:
    return _signer(purpose).sign(".".join(str(int(i)) for i in ids)).decode("ascii")


def _is_id(value) -> bool:
    # JSON true would pass isinstance(int); only real non-negative integers count.
    return type(value) is int and value >= 0


def open_token(message_id: int) -> str:
    return _sign("open", message_id)


def click_token(message_id: int, link_index: int) -> str:
    return _sign("click", message_id, link_index)


def unsubscribe_token(message_id: int) -> str:
    return _sign("unsubscribe", message_id)


def _loads(purpose: str, token: str):
    """The signed ids (an int, or a list for clicks) or None; either token form."""
    try:
        value = _signer(purpose).unsign(token).decode("ascii")
    except (BadData, UnicodeError, ValueError, TypeError):
        return _loads_serialized(purpose, token)
    parts = value.split(".")
    if not all(p.isdigit() and p.isascii() and len(p) < 20 for p in parts):
        return None
    ids = [int(p) for p in parts]
    return ids[0] if len(ids) == 1 else ids


def _loads_serialized(purpose: str, token: str):
    try:
        return _signer(purpose, URLSafeSerializer).loads(token)
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


def public_base_url(base_url: str | None) -> str:
    return (base_url or current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


def open_url(message_id: int, base_url: str | None = None) -> str:
    return f"{public_base_url(base_url)}/t/o/{open_token(message_id)}.gif"


def click_url(message_id: int, link_index: int, base_url: str | None = None) -> str:
    return f"{public_base_url(base_url)}/t/c/{click_token(message_id, link_index)}"


def unsubscribe_url(message_id: int, base_url: str | None = None) -> str:
    """The public unsubscribe page (GET confirms, POST -- also RFC 8058 one-click -- acts)."""
    return f"{public_base_url(base_url)}/u/{unsubscribe_token(message_id)}"
