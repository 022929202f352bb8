"""How pages name a trigger's kind: the triggers list's "Kind" column, the
wizard's review step and the trigger's details page (one place, so they agree).
Returns plain text: list names and field values are hostile and Jinja escapes them."""
import json

from engine.contacts.changes import decode_value
from engine.rules.fields import COLUMNS

KIND_LABELS = {"schedule": "Daily schedule", "persona_enter": "Enters persona",
               "persona_leave": "Leaves persona", "event": "API event",
               "contact_created": "Contact created", "field_updated": "Field updated",
               "list_added": "Added to list", "list_removed": "Removed from list"}


def field_name(path: str | None) -> str:
    """"contact.attributes.plan" -> "plan", "contact.role" -> "Role"."""
    if not path:
        return "?"
    entity, _, rest = path.partition(".")
    if rest.startswith("attributes."):
        return rest[len("attributes."):]
    known = COLUMNS.get((entity, rest))
    return known[1] if known else path


def shown_value(text: str | None) -> str:
    """A from / to value as stored (the feed's JSON text) as staff read it."""
    value = decode_value(text)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def kind_label(kind: str, *, field=None, from_value=None, to_value=None, list_name=None,
               list_id=None) -> str:
    """"Field updated: plan → pro", "Added to list: Webinar — March", "Contact created"."""
    label = KIND_LABELS.get(kind, kind)
    if kind == "field_updated":
        name = field_name(field)
        if from_value is not None and to_value is not None:
            return f"{label}: {name} {shown_value(from_value)} → {shown_value(to_value)}"
        if to_value is not None:
            return f"{label}: {name} → {shown_value(to_value)}"
        if from_value is not None:
            return f"{label}: {name} from {shown_value(from_value)}"
        return f"{label}: {name}"
    if kind in ("list_added", "list_removed"):
        if list_name is None:
            return f"{label}: {'a deleted list' if list_id else 'no list chosen'}"
        return f"{label}: {list_name}"
    return label


def trigger_kind_label(trigger) -> str:
    """kind_label for a Trigger (looks its list up)."""
    list_name = None
    if trigger.kind in ("list_added", "list_removed") and trigger.list_id:
        from extensions import db
        from models import ContactList

        found = db.session.get(ContactList, trigger.list_id)
        list_name = found.name if found else None
    return kind_label(trigger.kind, field=trigger.field, from_value=trigger.from_value,
                      to_value=trigger.to_value, list_name=list_name, list_id=trigger.list_id)
