"""Settings -> Import, contacts: "Add the imported contacts to a list" (an existing list
or a new one by name). The map page's choice is read here; the import job adds each
chunk's contacts to the list (engine/contacts/imports.py)."""
from sqlalchemy import func, select

from engine.contacts import lists as engine
from extensions import db
from models import ContactList

NEW = "new"


def import_lists() -> list[ContactList]:
    """The lists the map page offers, by name."""
    return db.session.scalars(select(ContactList).order_by(func.lower(ContactList.name), ContactList.id)).all()


def import_list(list_id: int | None) -> ContactList | None:
    """The list an import puts its contacts in (None: no list, or deleted since)."""
    return db.session.get(ContactList, list_id) if list_id else None


def read_list_choice(form, filename: str, now) -> tuple[int | None, str | None]:
    """(list id or None, problem or None) from the map form's `into_list` ("" = none,
    a list id, or "new" with `new_list_name`). A new list is created (flushed, not
    committed: it commits with the start of the import, or not at all)."""
    choice = (form.get("into_list") or "").strip()
    if not choice:
        return None, None
    if choice == NEW:
        try:
            return engine.create_list(form.get("new_list_name"), actor=f"import: {filename}", now=now).id, None
        except engine.ListError as exc:
            return None, f"New list: {exc.message}"
    try:
        return engine.get_list(int(choice)).id, None
    except (ValueError, engine.ListNotFound):
        return None, "The list chosen for the imported contacts no longer exists; choose another."
