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


# ---- writing the feed: contact created and contact field changed ------------------------
# Whoever changes contacts computes the field changes with contact_field_changes() and writes
# them with insert_changes() / record_created() in the SAME transaction as the change (the
# caller commits both or neither). Set-based: one executemany INSERT per batch of changes.

# Built-in contact columns that are recorded, as rule fields "contact.<column>". external_id
# is the upsert key (never changes); id and the bounce columns are not recorded; unsubscribing
# records contact.unsubscribed_at itself (engine/tracking).
RECORDED_COLUMNS = frozenset({
    "account_id", "email", "first_name", "last_name", "role", "is_crm_contact",
    "is_product_user", "timezone", "created_at", "last_seen_at", "unsubscribed_at"})
ATTRIBUTE_PREFIX = "contact.attributes."
ACTOR_MAX = 320  # ContactChange.actor


def same_value(a, b) -> bool:
    """Equal as stored values: True is not 1, "1" is not 1, 1 equals 1.0; dicts and lists
    compare element by element with the same rule."""
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


def contact_field_changes(stored: dict, values: dict) -> list[tuple[str, object, object]]:
    """[(field, old, new)] for what `values` changes in a stored contact.

    stored: the row's current values by column name (Python values: datetimes, bools,
    attributes as a dict). values: the columns being written, `attributes` already merged
    (a key absent from it is removed). Columns not in values are not compared."""
    changes = []
    for column, new in values.items():
        if column == "attributes":
            old_attrs, new_attrs = stored.get("attributes") or {}, new or {}
            for key in sorted(old_attrs.keys() | new_attrs.keys()):
                old_v, new_v = old_attrs.get(key), new_attrs.get(key)
                if not same_value(old_v, new_v):
                    changes.append((ATTRIBUTE_PREFIX + key, old_v, new_v))
            continue
        if column in RECORDED_COLUMNS and not same_value(stored.get(column), new):
            changes.append((f"contact.{column}", stored.get(column), new))
    return changes


def _storage_time(conn, at: datetime):
    # Raw driver SQL: SQLite keeps SQLAlchemy's "YYYY-MM-DD HH:MM:SS.ffffff" text.
    return at.isoformat(" ", "microseconds") if conn.dialect.name == "sqlite" else at


def _actor(actor: str | None) -> str | None:
    return actor[:ACTOR_MAX] if actor else None


def insert_field_changes(changes: list[tuple[int, str, object, object]], *, source: str,
                         actor: str | None, at: datetime) -> int:
    """Write one "field" row per (contact_id, field, old, new): one executemany INSERT.
    Does not commit. Returns the number of rows written."""
    if not changes:
        return 0
    from extensions import db
    from models.contact_change import CHANGE_SOURCES

    if source not in CHANGE_SOURCES:
        raise ValueError(f"unknown change source {source!r}")
    conn = db.session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    when, who = _storage_time(conn, at), _actor(actor)
    conn.exec_driver_sql(
        "INSERT INTO contact_changes (contact_id, kind, field, old_value, new_value, source, actor, at) "
        f"VALUES ({', '.join([mark] * 8)})",
        [(contact_id, "field", field, encode_value(old), encode_value(new), source, who, when)
         for contact_id, field, old, new in changes])
    return len(changes)


def record_created(external_ids: list[str], *, source: str, actor: str | None,
                   at: datetime, chunk: int = 1000) -> int:
    """One "created" row for each contact with these external ids (just inserted), written
    by INSERT ... SELECT, one statement per `chunk` ids: the new ids never leave the
    database. Does not commit. Returns the number of rows written."""
    from extensions import db
    from models.contact_change import CHANGE_SOURCES

    if source not in CHANGE_SOURCES:
        raise ValueError(f"unknown change source {source!r}")
    conn = db.session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    when, who = _storage_time(conn, at), _actor(actor)
    written = 0
    for start in range(0, len(external_ids), chunk):
        part = external_ids[start:start + chunk]
        written += conn.exec_driver_sql(
            "INSERT INTO contact_changes (contact_id, kind, source, actor, at) "
            f"SELECT id, 'created', {mark}, {mark}, {mark} FROM contacts "
            f"WHERE external_id IN ({', '.join([mark] * len(part))}) ORDER BY id",
            (source, who, when, *part)).rowcount
    return written


def record_created_from(conn, first_id: int, *, source: str, actor: str | None,
                        at: datetime) -> int:
    """One "created" row for every contact with id >= first_id (a bulk load that wrote
    consecutive ids, like the demo generator), on a SQLAlchemy Connection: one
    INSERT ... SELECT. Does not commit."""
    from sqlalchemy import text

    when = at if conn.dialect.name != "sqlite" else at.isoformat(" ", "microseconds")
    return conn.execute(text(
        "INSERT INTO contact_changes (contact_id, kind, source, actor, at) "
        "SELECT id, 'created', :source, :actor, :at FROM contacts WHERE id >= :first ORDER BY id"),
        {"source": source, "actor": _actor(actor), "at": when, "first": first_id}).rowcount
