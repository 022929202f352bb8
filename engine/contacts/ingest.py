"""Ingest accounts, contacts and events in batches (the API and CSV import share it).

validate(kind, items) checks every item and resolves references (account and
contact external ids) in one query per chunk; store(kind, rows, now) upserts
the valid rows set-based (one lookup per chunk of 1,000 ids, one bulk INSERT,
one executemany UPDATE); ingest() does both, and the caller commits the batch
(or rolls it back) as one transaction.

Update semantics: an item upserts by external_id. Fields omitted from the
item keep their stored value; a nullable field sent as null is cleared.
`attributes` is merged key by key into the stored object (a key sent as null
is removed), so a partial update does not wipe other custom data.
Events are append-only: an event whose external_id was seen before (stored,
or earlier in the same batch) is skipped and not counted.

Contacts write the change feed (engine/contacts/changes.py) in the same
transaction: the stored values are read with the lookup, compared field by
field (attributes key by key, after the merge), and only rows that change are
updated; then one INSERT ... SELECT per chunk records "created" and one
executemany records every "field" change. A changed email clears the bounce.
"""
import json
from datetime import datetime

from sqlalchemy import bindparam

from engine.contacts.event_days import add_stored_events
from engine.contacts.fields import (
    FieldError, arr_field, boolean_field, normalize_email, object_field, parse_time, status_field,
    text_field, timezone_field, to_json)
from extensions import db
from models import Account, Contact, Event

KINDS = ("accounts", "contacts", "events")
CHUNK = 1000  # SQLite allows 32766 bound variables, older builds 999: stay well under both


class IngestError(ValueError):
    """A batch had invalid items; .errors -> [{"index", "field", "message"}]."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__(f"{len(errors)} invalid item(s)")


FIELDS = {
    "accounts": {
        "external_id": text_field(255, required=True), "name": text_field(255, required=True),
        "arr": arr_field, "plan": text_field(64), "status": status_field, "attributes": object_field,
    },
    "contacts": {
        "external_id": text_field(255, required=True),
        "account_external_id": text_field(255, required=True), "email": normalize_email,
        "first_name": text_field(128), "last_name": text_field(128), "role": text_field(64),
        "is_crm_contact": boolean_field, "is_product_user": boolean_field, "timezone": timezone_field,
        "created_at": lambda v: parse_time(v, required=True), "last_seen_at": parse_time,
        "attributes": object_field,
    },
    "events": {
        "contact_external_id": text_field(255, required=True), "name": text_field(128, required=True),
        "occurred_at": lambda v: parse_time(v, required=True), "properties": object_field,
        "external_id": text_field(255),
    },
}
REQUIRED = {
    "accounts": ("external_id", "name"),
    "contacts": ("external_id", "account_external_id", "email"),
    "events": ("contact_external_id", "name", "occurred_at"),
}
# Values a new row gets for fields its item left out.
DEFAULTS = {
    "accounts": {"arr": None, "plan": None, "status": "active", "attributes": {}},
    "contacts": {"first_name": None, "last_name": None, "role": None, "is_crm_contact": False,
                 "is_product_user": True, "timezone": None, "last_seen_at": None,
                 "attributes": {}},
    "events": {"properties": {}, "external_id": None},
}
MODELS = {"accounts": Account, "contacts": Contact, "events": Event}


def _chunks(values):
    values = list(values)
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def lookup_by_external_id(table: str, keys, *columns) -> dict:
    """{external_id: (column values...)} for the given external ids, one query per chunk.

    Plain SQL on the session's connection: this runs for every batch, and
    building SQLAlchemy IN-list statements cost more than the query itself.
    """
    conn = db.session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    found = {}
    for chunk in _chunks(keys):
        sql = (f"SELECT external_id, {', '.join(columns)} FROM {table} "
               f"WHERE external_id IN ({', '.join([mark] * len(chunk))})")
        found.update((row[0], row[1:]) for row in conn.exec_driver_sql(sql, tuple(chunk)).fetchall())
    return found


def _bulk_insert(table: str, columns: tuple, rows: list[dict], defaults: dict) -> None:
    """One executemany INSERT, with values converted the way SQLAlchemy stores them
    (SQLite: datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" text; PostgreSQL: native
    timestamps; JSON as text, cast to jsonb on PostgreSQL). A row's JSON column
    uses the text validate() already encoded ("_json") when there is one; a
    column the row lacks takes its value from `defaults`.
    tests/unit/test_ingest.py checks rows read back exactly like ORM-written ones."""
    conn = db.session.connection()
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    times = [i for i, c in enumerate(columns) if c in _TIME_COLUMNS]
    json_at = next((i for i, c in enumerate(columns) if c in _JSON_COLUMNS), None)
    params = []
    pairs = [(c, defaults.get(c)) for c in columns]
    for row in rows:
        get = row.get
        values = [get(c, d) for c, d in pairs]
        if sqlite:
            for i in times:
                if values[i] is not None:
                    values[i] = values[i].isoformat(" ", "microseconds")
        if json_at is not None:
            values[json_at] = row.get("_json") or to_json(values[json_at])
        params.append(tuple(values))
    marks = [f"CAST({mark} AS jsonb)" if not sqlite and c in _JSON_COLUMNS else mark for c in columns]
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})", params)


_JSON_COLUMNS = {"attributes", "properties"}
_TIME_COLUMNS = {"created_at", "last_seen_at", "occurred_at", "received_at"}
INSERT_COLUMNS = {
    "accounts": ("external_id", "name", "arr", "plan", "status", "attributes", "created_at"),
    "contacts": ("external_id", "account_id", "email", "first_name", "last_name", "role",
                 "is_crm_contact", "is_product_user", "timezone", "created_at", "last_seen_at",
                 "attributes"),
    "events": ("contact_id", "name", "occurred_at", "properties", "external_id", "received_at"),
}


def validate(kind: str, items: list) -> tuple[list[dict], list[dict]]:
    """Check and normalize items. Returns (rows, errors).

    rows holds only the valid items, in input order, each a dict of the fields
    the item gave (normalized) plus "_index" (its position in items) and the
    resolved "account_id" (contacts) or "contact_id" (events). errors is a list
    of {"index", "field", "message"}. Reads the database (reference lookups),
    writes nothing.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    fields, required = FIELDS[kind], REQUIRED[kind]
    required_keys = set(required)
    dedupe = kind != "events"
    rows, errors = [], []
    seen = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": index, "field": None, "message": "must be an object"})
            continue
        row, item_errors = {"_index": index}, []
        for key, value in item.items():
            check = fields.get(key)
            if check is None:
                item_errors.append({"index": index, "field": key, "message": "unknown field"})
                continue
            try:
                row[key] = check(value)
                if key in _JSON_COLUMNS:
                    row["_json"] = to_json(row[key])
            except FieldError as bad:
                item_errors.append({"index": index, "field": key, "message": str(bad)})
        if not required_keys <= item.keys():
            item_errors += [{"index": index, "field": key, "message": "is required"}
                            for key in required if key not in item]
        if item_errors:
            errors.extend(item_errors)
            continue
        if dedupe:
            if row["external_id"] in seen:
                errors.append({"index": index, "field": "external_id",
                               "message": "appears more than once in this batch"})
                continue
            seen.add(row["external_id"])
        rows.append(row)
    if kind == "contacts":
        rows = _resolve(rows, errors, "account_external_id", "account_id", "accounts", "unknown account")
    elif kind == "events":
        rows = _resolve(rows, errors, "contact_external_id", "contact_id", "contacts", "unknown contact")
    errors.sort(key=lambda e: e["index"])
    return rows, errors


def _resolve(rows, errors, ref_field, id_field, table, message):
    ids = lookup_by_external_id(table, {r[ref_field] for r in rows}, "id")
    kept = []
    for row in rows:
        found = ids.get(row[ref_field])
        if found is None:
            errors.append({"index": row["_index"], "field": ref_field, "message": message})
        else:
            row[id_field] = found[0]
            kept.append(row)
    return kept


def store(kind: str, rows: list[dict], now: datetime, *,
          touched_contacts: set | None = None, source: str = "api",
          actor: str | None = None) -> tuple[int, int]:
    """Upsert validated rows (from validate) by external_id; returns (created, updated).

    Does not commit: the caller owns the transaction. Fields omitted from an
    item keep their stored value on update; attributes are merged (see module doc).
    For events, touched_contacts (if given) receives the contact ids of the
    events actually stored.
    Contacts also write the change feed (engine.contacts.changes) in the same
    transaction: one "created" row per new contact and one "field" row per field
    that really changed, by `source` / `actor`. A row that changes nothing is not
    written at all (it still counts as updated: "updated" counts the items that
    matched a stored row, as it always has).
    """
    if kind == "events":
        return _store_events(rows, now, touched_contacts), 0
    if kind == "contacts":
        return _store_contacts(rows, now, source, actor)
    model = MODELS[kind]
    table = model.__table__
    existing = lookup_by_external_id(table.name, [r["external_id"] for r in rows], "id", "attributes")
    inserts, updates = [], {}
    columns = set(table.c.keys())
    for row in rows:
        found = existing.get(row["external_id"])
        if found is None:
            _drop_null_attributes(row)
            inserts.append(row)
            continue
        values = {k: v for k, v in row.items() if k in columns and k not in ("id", "external_id")}
        if "attributes" in values:
            values["attributes"] = _merge(_json_value(found[1]) or {}, values["attributes"])
        values["_id"] = found[0]
        updates.setdefault(tuple(sorted(values)), []).append(values)
    if inserts:
        _bulk_insert(table.name, INSERT_COLUMNS[kind], inserts, {**DEFAULTS[kind], "created_at": now})
    _execute_updates(table, updates)
    return len(inserts), sum(len(g) for g in updates.values())


def _drop_null_attributes(row: dict) -> None:
    attributes = row.get("attributes")
    if attributes and None in attributes.values():  # null means "no such key"
        row["attributes"], row["_json"] = _merge({}, attributes), None


def _json_value(stored):
    return json.loads(stored) if isinstance(stored, str) else stored  # SQLite hands back text


def _execute_updates(table, updates: dict) -> None:
    for keys, group in updates.items():
        values = {k: bindparam(k) for k in keys if k != "_id"}
        stmt = table.update().where(table.c.id == bindparam("_id")).values(values)
        db.session.execute(stmt, group)


# The stored contact columns an upsert compares against (after "id").
_CONTACT_STORED = ("account_id", "email", "first_name", "last_name", "role", "is_crm_contact",
                   "is_product_user", "timezone", "created_at", "last_seen_at", "attributes")
_CONTACT_WRITABLE = frozenset(_CONTACT_STORED)


def _stored_contacts(external_ids) -> dict:
    """{external_id: {"id", column: Python value}} of the stored contacts, one query per
    chunk; values converted as SQLAlchemy would (SQLite: times from text, booleans from
    0/1, attributes from JSON text)."""
    sqlite = db.session.connection().dialect.name == "sqlite"
    found = lookup_by_external_id("contacts", external_ids, "id", *_CONTACT_STORED)
    parse = datetime.fromisoformat
    stored = {}
    for ext, values in found.items():
        row = dict(zip(("id",) + _CONTACT_STORED, values))
        if sqlite:
            for column in ("created_at", "last_seen_at"):
                if isinstance(row[column], str):
                    row[column] = parse(row[column])
            row["is_crm_contact"] = bool(row["is_crm_contact"])
            row["is_product_user"] = bool(row["is_product_user"])
        row["attributes"] = _json_value(row["attributes"]) or {}
        stored[ext] = row
    return stored


def _store_contacts(rows, now, source, actor):
    from engine.contacts.changes import contact_field_changes, insert_field_changes, record_created

    existing = _stored_contacts([r["external_id"] for r in rows])
    table = Contact.__table__
    inserts, updates, field_changes = [], {}, []
    for row in rows:
        stored = existing.get(row["external_id"])
        if stored is None:
            _drop_null_attributes(row)
            inserts.append(row)
            continue
        values = {k: v for k, v in row.items() if k in _CONTACT_WRITABLE}
        if "attributes" in values:
            values["attributes"] = _merge(stored["attributes"], values["attributes"])
        changes = contact_field_changes(stored, values)
        if not changes:
            continue  # nothing to write, nothing to record
        contact_id = stored["id"]
        field_changes.extend((contact_id, field, old, new) for field, old, new in changes)
        if any(field == "contact.email" and (old or "").lower() != (new or "").lower()
               for field, old, new in changes):
            # A new address is not the one that bounced (the same one in another case is).
            values["email_bounced_at"] = values["email_bounce_reason"] = None
        values["_id"] = contact_id
        updates.setdefault(tuple(sorted(values)), []).append(values)
    if inserts:
        _bulk_insert("contacts", INSERT_COLUMNS["contacts"], inserts,
                     {**DEFAULTS["contacts"], "created_at": now})
        record_created([r["external_id"] for r in inserts], source=source, actor=actor, at=now,
                       chunk=CHUNK)
    _execute_updates(table, updates)
    insert_field_changes(field_changes, source=source, actor=actor, at=now)
    return len(inserts), len(rows) - len(inserts)


def _merge(stored: dict, given: dict) -> dict:
    merged = dict(stored)
    for key, value in given.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _store_events(rows, now, touched_contacts):
    ext_ids = [r["external_id"] for r in rows if r.get("external_id")]
    seen = set(lookup_by_external_id("events", ext_ids, "id")) if ext_ids else set()
    inserts = []
    for row in rows:
        ext = row.get("external_id")
        if ext:
            if ext in seen:
                continue
            seen.add(ext)
        inserts.append(row)
    if inserts:
        _bulk_insert("events", INSERT_COLUMNS["events"], inserts, {**DEFAULTS["events"], "received_at": now})
        # The daily rollup rules read, in this transaction, from exactly the rows stored.
        add_stored_events(db.session.connection(),
                          ((r["contact_id"], r["name"], r["occurred_at"]) for r in inserts))
    if touched_contacts is not None:
        touched_contacts.update(r["contact_id"] for r in inserts)
    return len(inserts)


def ingest(kind: str, items: list, now: datetime, *, touched_contacts: set | None = None,
           source: str = "api", actor: str | None = None) -> dict:
    """Validate and store one batch; the caller commits. Returns {"created", "updated"}.

    Raises IngestError (nothing stored) when any item is invalid. A concurrent
    writer inserting the same external_id between our lookup and insert makes
    the INSERT fail on the unique key (IntegrityError): the caller rolls back
    and calls again, when the lookup sees that row and it becomes an update.
    """
    rows, errors = validate(kind, items)
    if errors:
        raise IngestError(errors)
    if touched_contacts is not None:
        touched_contacts.clear()
    created, updated = store(kind, rows, now, touched_contacts=touched_contacts,
                             source=source, actor=actor)
    return {"created": created, "updated": updated}
