"""The contact change feed's value encoding, shared by whoever writes the feed
(ingest, CSV import, staff edits, lists, journeys) and whoever reads it (feed
triggers match a field_updated trigger's from/to against these strings in SQL).

A value is stored as canonical JSON text, so "pro", 3 and true stay distinct
and equal values always encode to equal strings; None (not set) is NULL.
"""
import json
from datetime import date, datetime


def _default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot record a {type(value).__name__} in the change feed")


def encode_value(value) -> str | None:
    """The feed's text for one field value (None -> NULL)."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_default)


def decode_value(text: str | None):
    """The value back from its feed text (datetimes come back as ISO strings)."""
    return None if text is None else json.loads(text)
