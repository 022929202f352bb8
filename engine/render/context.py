"""What an email template can use: the render context and the variable catalog.

build_context() turns a contact row and its account row into the plain dicts
templates see; VARIABLES (+ custom attribute keys discovered from the data, see
variable_catalog) feeds the variable picker. Keep both in step with
engine.render.checks.ROOT_FIELDS, which validates templates at save time.
"""
import json
import re
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import text

from engine.db.text import readable_text

CONTACT_FIELDS = ("external_id", "email", "first_name", "last_name", "role", "timezone",
                  "created_at", "last_seen_at", "is_product_user", "is_crm_contact", "attributes")
ACCOUNT_FIELDS = ("external_id", "name", "arr", "plan", "status", "created_at", "attributes")

VARIABLES: list[dict] = [
    {"expr": "contact.first_name", "label": "First name", "group": "Contact"},
    {"expr": "contact.last_name", "label": "Last name", "group": "Contact"},
    {"expr": "contact.full_name", "label": "Full name", "group": "Contact"},
    {"expr": "contact.email", "label": "Email", "group": "Contact"},
    {"expr": "contact.role", "label": "Role", "group": "Contact"},
    {"expr": "contact.last_seen_at|date", "label": "Last seen (date)", "group": "Contact"},
    {"expr": "account.name", "label": "Account name", "group": "Account"},
    {"expr": "account.arr|money", "label": "ARR ($12,000)", "group": "Account"},
    {"expr": "account.arr", "label": "ARR (raw number)", "group": "Account"},
    {"expr": "account.plan", "label": "Plan", "group": "Account"},
    {"expr": "account.status", "label": "Status", "group": "Account"},
    {"expr": "unsubscribe_url", "label": "Unsubscribe link", "group": "Other"},
    {"expr": "now|date", "label": "Today's date", "group": "Other"},
    {"expr": "event.name", "label": "Event name", "group": "Event"},
    {"expr": "event.occurred_at|date", "label": "Event date", "group": "Event"},
]
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SAMPLE_ROWS = 2000  # discovery looks at the newest rows only: cheap on any table size


def attribute_expr(owner: str, key: str) -> str:
    """`contact.attributes.plan_tier`, or `contact.attributes["plan tier"]` for other keys."""
    if _IDENTIFIER.match(key):
        return f"{owner}.attributes.{key}"
    return f"{owner}.attributes[{json.dumps(key)}]"


def discover_attribute_keys(session, table: str, limit: int = 100) -> list[str]:
    """Distinct custom attribute keys in the newest rows of `contacts` or `accounts`."""
    assert table in ("contacts", "accounts")
    if session.get_bind().dialect.name == "postgresql":
        sql = (f"SELECT DISTINCT k FROM (SELECT jsonb_object_keys(attributes) AS k FROM "
               f"(SELECT attributes FROM {table} WHERE jsonb_typeof(attributes) = 'object' "
               f"ORDER BY id DESC LIMIT {_SAMPLE_ROWS}) s) keys ORDER BY k LIMIT :limit")
    else:
        # As a BLOB: a key holding a lone surrogate comes back as bytes sqlite3 cannot decode.
        sql = (f"SELECT DISTINCT CAST(j.key AS BLOB) FROM (SELECT attributes FROM {table} "
               f"WHERE json_valid(attributes) AND json_type(attributes) = 'object' "
               f"ORDER BY id DESC LIMIT {_SAMPLE_ROWS}) s, json_each(s.attributes) j "
               f"ORDER BY 1 LIMIT :limit")
    keys = (readable_text(row[0]) for row in session.execute(text(sql), {"limit": limit}))
    return [key for key in keys if key is not None]


def variable_catalog(session=None) -> list[dict]:
    """VARIABLES plus `contact.attributes.<key>` / `account.attributes.<key>` for the
    custom attributes present in the data (in the Contact / Account groups, "custom": True)."""
    catalog = list(VARIABLES)
    if session is None:
        return catalog
    for owner, table in (("contact", "contacts"), ("account", "accounts")):
        for key in discover_attribute_keys(session, table):
            catalog.append({"expr": attribute_expr(owner, key),
                            "label": key, "group": owner.capitalize(), "custom": True})
    return catalog


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _as_dict(row, fields) -> dict:
    if row is None:
        return {}
    if isinstance(row, dict):
        source = row
    elif hasattr(row, "_mapping"):
        source = dict(row._mapping)
    else:
        source = {f: getattr(row, f, None) for f in fields}
    return {key: _plain(value) for key, value in source.items()}


def build_context(contact, account, *, unsubscribe_url: str = "", extra=None, now=None) -> dict:
    """Plain-dict context: {"contact": {...}, "account": {...}, "unsubscribe_url", "now", "event"}.

    contact/account: a dict, a SQLAlchemy Row or a model instance, with the
    models' column names. `extra` adds/overrides top-level keys, e.g. the event
    that fired an event trigger: {"event": {"name", "occurred_at", "properties"}}.
    """
    c = _as_dict(contact, CONTACT_FIELDS)
    c["attributes"] = dict(c.get("attributes") or {})
    c.setdefault("full_name", " ".join(p for p in (c.get("first_name"), c.get("last_name")) if p)
                 or c.get("email") or "")
    a = _as_dict(account, ACCOUNT_FIELDS)
    a["attributes"] = dict(a.get("attributes") or {})
    context = {
        "contact": c, "account": a, "unsubscribe_url": unsubscribe_url or "",
        "now": now or datetime.now(timezone.utc).replace(tzinfo=None),
        "event": {"name": None, "occurred_at": None, "properties": {}},
    }
    if extra:
        context.update(extra)
    return context
