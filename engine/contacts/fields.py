"""Per-field parsing and checks for ingested items (engine/contacts/ingest.py uses these)."""
import json
import math
import re
from datetime import datetime, timezone
from email_validator import EmailNotValidError, validate_email

from engine.clock import is_timezone
from models import Account

MAX_ARR = 10**12  # Numeric(14, 2)


class FieldError(ValueError):
    pass


try:  # the C encoder made once: json.dumps builds one per call, which dominated small objects
    from json.encoder import c_make_encoder, encode_basestring_ascii

    _ENCODER = c_make_encoder(None, None, encode_basestring_ascii, None, ": ", ", ",
                              False, False, False)
except (ImportError, TypeError):  # pragma: no cover - Pythons without the C accelerator
    _ENCODER = None


def to_json(value) -> str:
    """json.dumps(value) with the same output, refusing NaN/Infinity (PostgreSQL's
    jsonb rejects them); raises FieldError. Inputs come from JSON, so no cycles."""
    try:
        if _ENCODER is not None:
            return "".join(_ENCODER(value, 0))
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise FieldError("must hold only JSON values (no NaN or Infinity)") from None


# ---- field checks: each returns the normalized value or raises FieldError(message) ----

def text_field(max_len, *, required=False):
    def check(value):
        if type(value) is str:  # the common case first: this runs for most fields
            value = value.strip()
            if value:
                if len(value) > max_len:
                    raise FieldError(f"must be at most {max_len} characters")
                return value
        elif value is not None:
            raise FieldError("must be a string")
        if required:
            raise FieldError("is required")
        return None
    return check


def boolean_field(value):
    if not isinstance(value, bool):
        raise FieldError("must be true or false")
    return value


def object_field(value):
    if not isinstance(value, dict):
        raise FieldError("must be an object")
    return value


def arr_field(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError("must be a number or null")
    if not math.isfinite(value) or abs(value) >= MAX_ARR:
        raise FieldError("is out of range")
    return value


def status_field(value):
    if value not in Account.STATUSES:
        raise FieldError("must be one of: " + ", ".join(Account.STATUSES))
    return value


def parse_time(value, *, required=False):
    """ISO-8601 string -> naive UTC datetime (no offset means UTC)."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise FieldError("must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise FieldError("must be an ISO-8601 date-time, e.g. 2026-01-05T09:00:00Z") from None
    return parsed




def timezone_field(value):
    if value is None:
        return None
    if not is_timezone(value):
        raise FieldError("must be an IANA timezone such as Europe/Berlin")
    return value


# The common shape of addresses, checked by a regex that accepts only a strict
# subset of what email-validator accepts (and normalizes identically: domain
# lowercased). Anything else goes through email-validator itself. It keeps
# bulk contact ingest fast; tests/unit/test_ingest.py checks the subset property.
FAST_EMAIL = re.compile(
    r"([A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*)@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})\Z"
)
SPECIAL_TLDS = {"arpa", "invalid", "local", "localhost", "onion", "test"}


def normalize_email(value) -> str:
    if not isinstance(value, str):
        raise FieldError("must be a string")
    value = value.strip()
    m = FAST_EMAIL.match(value)
    if m and len(m.group(1)) <= 64 and len(value) <= 254:
        domain = m.group(2).lower()
        # "--" would be an IDNA label (xn--) or invalid: leave those to email-validator
        if "--" not in domain and domain.rsplit(".", 1)[1] not in SPECIAL_TLDS:
            return f"{m.group(1)}@{domain}"
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise FieldError(f"is not a valid email address ({exc})") from None
