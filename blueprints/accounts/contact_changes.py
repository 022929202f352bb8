"""The contact page's "Changes" section: the contact's change feed, newest first."""
from sqlalchemy import func, select

from blueprints.accounts.panels import contact_section
from blueprints.ui import page_number, paginate
from engine.contacts.changes import decode_value
from engine.rules.fields import field_label
from extensions import db
from models import ContactChange, ContactList

PER_PAGE = 20
SOURCE_LABELS = {"api": "API", "import": "CSV import", "staff": "Staff", "journey": "Journey",
                 "demo": "Demo data", "contact": "The contact"}
KIND_LABELS = {"created": "Contact created", "list_added": "Added to a list",
               "list_removed": "Removed from a list"}


def change_view(row: ContactChange, list_names: dict | None = None) -> dict:
    """What the table shows for one feed row (values decoded, never marked safe)."""
    if row.kind == "field":
        what = field_label(row.field or "")
    else:
        what = KIND_LABELS.get(row.kind, row.kind)
    return {"what": what, "field": row.field, "kind": row.kind,
            "list_name": (list_names or {}).get(row.list_id),
            "old": _shown(row.old_value), "new": _shown(row.new_value),
            "at": row.at, "source": SOURCE_LABELS.get(row.source, row.source), "actor": row.actor,
            "list_id": row.list_id}


def _shown(text):
    """None for "not set"; otherwise the value as a short text."""
    if text is None:
        return None
    value = decode_value(text)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return text  # numbers, objects, lists: their JSON


@contact_section("changes", "Changes", "accounts/_section_changes.html", order=60)
def changes_section(contact, args):
    changes = paginate(
        select(ContactChange).where(ContactChange.contact_id == contact.id)
        .order_by(ContactChange.id.desc()),
        page_number(args, "changes_page"), PER_PAGE)
    total = changes.total if changes.total is not None else db.session.scalar(
        select(func.count()).select_from(ContactChange).where(ContactChange.contact_id == contact.id))
    list_ids = {r.list_id for r in changes.items if r.list_id is not None}
    list_names = dict(db.session.execute(
        select(ContactList.id, ContactList.name).where(ContactList.id.in_(list_ids))).all()) if list_ids else {}
    return {"changes": changes, "rows": [change_view(r, list_names) for r in changes.items],
            "summary": f"{total:,} change{'' if total == 1 else 's'}, newest first" if total else None}
