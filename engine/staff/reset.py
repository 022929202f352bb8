"""Admin-issued password reset links: stateless, one-time, expiring.

The token is an itsdangerous signature (its own salt) over the staff id, the time it was
made and a fingerprint of the member's current password hash. Setting a password changes
the hash, so a link works once: after it is used -- or after any other password change --
its fingerprint no longer matches and the link is refused as used. Nothing is stored.

The fingerprint is an HMAC of the hash under the secret key, so the token (whose payload is
only signed, not encrypted) reveals nothing about the hash. Callers pass `now` and the
secret; nothing here commits."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
import hashlib
import hmac

from itsdangerous import BadData, URLSafeSerializer

from extensions import db
from models import Staff

SALT = "nudge.staff.password-reset"
DEFAULT_MAX_AGE = timedelta(hours=24)

# Why a link is refused; the reset page says it in these words.
EXPIRED = "expired"
USED = "used"
FORGED = "forged"
MESSAGES = {
    EXPIRED: "This reset link has expired. Ask an admin for a new one.",
    USED: "This reset link was already used, or the password was changed since it was made. "
          "Ask an admin for a new one.",
    FORGED: "This reset link is not valid. Check that you copied all of it, or ask an admin for a new one.",
}


class ResetRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(MESSAGES[reason])
        self.reason = reason
        self.message = MESSAGES[reason]


@dataclass(frozen=True)
class ResetLink:
    token: str
    expires_at: datetime


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def _fingerprint(secret_key: str, password_hash: str) -> str:
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def _epoch(now: datetime) -> int:
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return int(now.timestamp())


def make_link(staff: Staff, now: datetime, *, secret_key: str, max_age: timedelta = DEFAULT_MAX_AGE) -> ResetLink:
    """A reset token for `staff`, valid until now + max_age or until the password changes."""
    token = _serializer(secret_key).dumps(
        {"s": staff.id, "t": _epoch(now), "a": int(max_age.total_seconds()),
         "h": _fingerprint(secret_key, staff.password_hash)})
    return ResetLink(token=token, expires_at=now + max_age)


def check(token: str, now: datetime, *, secret_key: str) -> Staff:
    """The staff member the token was issued for, if it is still good; ResetRefused
    (expired / used / forged) otherwise."""
    try:
        data = _serializer(secret_key).loads(token or "")
    except (BadData, UnicodeError, ValueError, TypeError):
        raise ResetRefused(FORGED) from None
    if not (isinstance(data, dict) and type(data.get("s")) is int and type(data.get("t")) is int
            and type(data.get("a")) is int and isinstance(data.get("h"), str)):
        raise ResetRefused(FORGED)
    if _epoch(now) > data["t"] + data["a"]:
        raise ResetRefused(EXPIRED)
    staff = db.session.get(Staff, data["s"])
    if staff is None:  # the login was removed since
        raise ResetRefused(USED)
    if not hmac.compare_digest(_fingerprint(secret_key, staff.password_hash), data["h"]):
        raise ResetRefused(USED)
    return staff
