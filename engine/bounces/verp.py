"""VERP return paths: each message's envelope sender names the message itself,
`bounces+<id>-<mac>@BOUNCE_DOMAIN`, so a bounce is attributed to the exact message
(and contact) even when the DSN that comes back is mangled beyond parsing.

The token is the decimal outbox id and a truncated HMAC-SHA256 of it in lowercase
hex: MTAs may lowercase (or upper-case) a local part on the way back, and case-
sensitive base64 would not survive that. 16 hex digits (64 bits) make a forged
token hopeless to guess; nobody gains more than a wrong bounce by one anyway.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re

log = logging.getLogger(__name__)

LOCAL_PREFIX = "bounces"
_SALT = b"nudge.bounces.verp:"
_MAC_DIGITS = 16
_VERP = re.compile(r"^bounces\+(\d{1,19})-([0-9a-f]{%d})@[^@\s]+$" % _MAC_DIGITS)
# engine/sending/mime.py message_id_for builds "<nudge-<outbox id>@<domain>>".
_MESSAGE_ID = re.compile(r"^<?\s*nudge-(\d{1,19})@[^@\s<>]+\s*>?$", re.IGNORECASE)


def _mac(message_id: int, secret) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    digest = hmac.new(key, _SALT + str(int(message_id)).encode("ascii"), hashlib.sha256)
    return digest.hexdigest()[:_MAC_DIGITS]


def verp_token(message_id: int, *, secret) -> str:
    """"<id>-<mac>": what goes after "bounces+"."""
    return f"{int(message_id)}-{_mac(message_id, secret)}"


def return_path(message_id: int, *, domain: str, secret) -> str:
    """The envelope sender (MAIL FROM) of one outbox message."""
    return f"{LOCAL_PREFIX}+{verp_token(message_id, secret=secret)}@{domain.strip().lower()}"


def is_verp_address(address: str | None) -> bool:
    """True when the address looks like one of ours (bounces+...@...), valid or not."""
    local = _bare(address).partition("@")[0]
    return local.startswith(LOCAL_PREFIX + "+")


def _bare(address: str | None) -> str:
    return (address or "").strip().strip("<>").strip().lower()


def message_id_from_address(address: str | None, *, secret) -> int | None:
    """The outbox id a VERP address was issued for; None (and a warning for
    anything that claims to be one) when it is forged, malformed or not ours."""
    bare = _bare(address)
    if not is_verp_address(bare):
        return None
    match = _VERP.match(bare)
    if match is None:
        log.warning("ignoring a malformed VERP address %r", address)
        return None
    message_id, mac = int(match.group(1)), match.group(2)
    if not hmac.compare_digest(mac, _mac(message_id, secret)):
        log.warning("ignoring a VERP address with a bad signature %r", address)
        return None
    return message_id


def message_id_from_header(message_id_header: str | None) -> int | None:
    """The outbox id of a Message-ID Nudge made ("<nudge-<id>@domain>"), else None.
    Not signed: it identifies the message a DSN quotes, it proves nothing."""
    match = _MESSAGE_ID.match((message_id_header or "").strip())
    return int(match.group(1)) if match else None
