"""The fields a rule may use: a whitelist of model columns with their types,
the operators each type allows, and the catalog the rule builder shows."""
from __future__ import annotations

import time as _time

from sqlalchemy import func, select

from engine.db.text import readable_text

USER_TYPES = ("product_user", "crm_contact", "inactive", "churned_account")
USER_TYPE_LABELS = {
    "product_user": "Users that are product users",
    "crm_contact": "Users that are CRM contacts",
    "inactive": "Inactive users",
    "churned_account": "Users of churned accounts",
}

OPERATORS = {
    "text": ("eq", "ne", "in", "not_in", "contains", "starts_with", "is_set", "is_not_set"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
    "boolean": ("is_true", "is_false"),
    "time": ("before", "after", "older_than_days", "within_last_days", "is_set", "is_not_set"),
    "event": ("count_eq", "count_gt", "count_gte", "count_lt", "count_lte", "dropped_by_pct"),
    "list": ("member", "not_member"),
}
OPERATOR_LABELS = {
    "eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of",
    "contains": "contains", "starts_with": "starts with", "is_set": "is set",
    "is_not_set": "is not set", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤",
    "between": "between", "is_true": "is true", "is_false": "is false",
    "before": "before", "after": "after", "older_than_days": "more than N days ago",
    "within_last_days": "within the last N days", "count_eq": "count =",
    "count_gt": "count >", "count_gte": "count ≥", "count_lt": "count <",
    "count_lte": "count ≤", "dropped_by_pct": "dropped by at least %",
    "member": "is in", "not_member": "is not in",
}
# Operators that need no value.
VALUELESS = {"is_set", "is_not_set", "is_true", "is_false"}

# (entity, column) -> (type, label). Only these columns are addressable.
COLUMNS = {
    ("contact", "external_id"): ("text", "External id"),
    ("contact", "email"): ("text", "Email"),
    ("contact", "first_name"): ("text", "First name"),
    ("contact", "last_name"): ("text", "Last name"),
    ("contact", "role"): ("text", "Role"),
    ("contact", "timezone"): ("text", "Time zone"),
    ("contact", "is_crm_contact"): ("boolean", "Is a CRM contact"),
    ("contact", "is_product_user"): ("boolean", "Is a product user"),
    ("contact", "created_at"): ("time", "Signed up"),
    ("contact", "last_seen_at"): ("time", "Last seen"),
    ("contact", "unsubscribed_at"): ("time", "Unsubscribed"),
    ("account", "external_id"): ("text", "Account external id"),
    ("account", "name"): ("text", "Account name"),
    ("account", "arr"): ("number", "ARR"),
    ("account", "plan"): ("text", "Plan"),
    ("account", "status"): ("text", "Account status"),
    ("account", "created_at"): ("time", "Account created"),
}
# Columns whose distinct values make a useful choice list in the builder.
CHOICE_COLUMNS = {("contact", "role"), ("contact", "timezone"), ("account", "plan"),
                  ("account", "status")}


def field_label(path: str) -> str:
    """The builder's name for a field path ("account.arr" -> "ARR",
    "contact.attributes.nps" -> "Contact: nps"); the path itself when unknown."""
    entity, _, rest = path.partition(".")
    if rest.startswith("attributes.") and entity in ("contact", "account"):
        return f"{entity.title()}: {rest[len('attributes.'):]}"
    known = COLUMNS.get((entity, rest))
    return known[1] if known else path


def _models(entity):
    from models import Account, Contact

    return Contact if entity == "contact" else Account


def column_for(entity: str, name: str):
    """The (Core) table column behind a whitelisted field."""
    return _models(entity).__table__.c[name]


_cache: dict = {}
CACHE_SECONDS = 60


def _cached(key, compute):
    # The catalog is read on every builder render; data-driven parts change slowly.
    from flask import current_app

    if current_app.testing:  # tests change the data between calls
        return compute()
    hit = _cache.get(key)
    if hit and _time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = compute()
    _cache[key] = (_time.monotonic(), value)
    return value


def _distinct_values(entity, name, limit=50):
    from extensions import db

    col = column_for(entity, name)
    rows = db.session.execute(
        select(col).where(col.is_not(None)).group_by(col).order_by(col).limit(limit)
    ).scalars()
    return [r for r in rows if r != ""]


def event_names(limit: int = 200) -> list[str]:
    """Distinct event names received so far (cached for a minute)."""
    from extensions import db

    def compute():
        # A "loose index scan": one index seek per distinct name instead of
        # grouping millions of events (same SQL on SQLite and PostgreSQL).
        sql = ("WITH RECURSIVE names(name, n) AS ("
               " SELECT (SELECT min(name) FROM events), 1"
               " UNION ALL SELECT (SELECT min(e.name) FROM events e WHERE e.name > names.name),"
               " n + 1 FROM names WHERE names.name IS NOT NULL AND n < :limit)"
               " SELECT name FROM names WHERE name IS NOT NULL")
        return list(db.session.execute(db.text(sql), {"limit": limit}).scalars())

    return _cached(("events", limit), compute)


def _attribute_keys(entity, sample=1000, limit=100):
    """Custom attribute keys seen in the first `sample` rows, with a guessed type."""
    from extensions import db

    model = _models(entity)
    table = model.__table__
    if db.engine.dialect.name == "postgresql":
        sql = (f"SELECT e.key, jsonb_typeof(e.value) FROM (SELECT attributes FROM {table.name} "
               f"ORDER BY id LIMIT :n) t, jsonb_each(t.attributes) e "
               f"WHERE jsonb_typeof(t.attributes) = 'object'")
    else:
        # The key as a BLOB: one holding a lone surrogate is bytes sqlite3 cannot decode.
        sql = (f"SELECT CAST(e.key AS BLOB), e.type FROM (SELECT attributes FROM {table.name} ORDER BY id "
               f"LIMIT :n) t, json_each(t.attributes) e WHERE json_type(t.attributes) = 'object'")
    kinds: dict[str, set] = {}
    for key, kind in db.session.execute(db.text(sql), {"n": sample}):
        key = readable_text(key)
        if key is not None:
            kinds.setdefault(key, set()).add(kind)
    out = []
    for key in sorted(kinds)[:limit]:
        k = kinds[key] - {"null"}
        if k <= {"integer", "real", "number"} and k:
            typ = "number"
        elif k and k <= {"true", "false", "boolean"}:
            typ = "boolean"
        else:
            typ = "text"
        out.append((key, typ))
    return out


def field_catalog(with_data: bool = True) -> list[dict]:
    """Every field the rule builder offers: {"path", "label", "group", "type",
    "operators", "choices"?}. with_data=True (needs an app context) adds
    choice lists (role, plan, status, timezone), event names and custom
    attribute keys found in the data."""
    out = []
    for (entity, name), (typ, label) in COLUMNS.items():
        item = {"path": f"{entity}.{name}", "label": label,
                "group": "Contact" if entity == "contact" else "Account",
                "type": typ, "operators": list(OPERATORS[typ])}
        if with_data and (entity, name) in CHOICE_COLUMNS:
            item["choices"] = _cached(("choices", entity, name),
                                      lambda e=entity, n=name: _distinct_values(e, n))
        out.append(item)
    if not with_data:
        return out
    for entity in ("contact", "account"):
        for key, typ in _cached(("attrs", entity), lambda e=entity: _attribute_keys(e)):
            ops = list(OPERATORS[typ])
            if typ == "text":  # a text attribute may hold ISO dates too
                ops += [op for op in OPERATORS["time"] if op not in ops]
            out.append({"path": f"{entity}.attributes.{key}", "label": f"{entity.title()}: {key}",
                        "group": "Custom attributes", "type": typ, "operators": ops})
    for name in event_names():
        out.append({"path": f"event:{name}", "event": name, "label": name, "group": "Events",
                    "type": "event", "operators": list(OPERATORS["event"])})
    out.append(list_catalog_item())
    return out


def list_catalog_item() -> dict:
    """The builder's "List membership" condition: one entry, the list is picked in the row.
    Lists are read fresh (not cached): a list made a moment ago must be offered."""
    from extensions import db
    from models import ContactList

    lists = [{"id": r.id, "name": r.name} for r in db.session.execute(
        select(ContactList.id, ContactList.name).order_by(func.lower(ContactList.name), ContactList.id))]
    return {"path": "list", "label": "List membership", "group": "Lists", "type": "list",
            "operators": list(OPERATORS["list"]), "lists": lists}
