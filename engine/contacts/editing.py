"""Staff edits of one contact (the contact page's "Edit contact" form): the changed fields
and their change-feed rows (source "staff") are written together, in the caller's
transaction; bad input raises before anything is written."""
from datetime import datetime

from sqlalchemy import update

from engine.contacts.changes import contact_field_changes, insert_field_changes, same_value
from engine.contacts.fields import FieldError, boolean_field, normalize_email, text_field, timezone_field
from extensions import db
from models import Contact

# The fields staff may edit, each with the check ingest uses for it (same limits, same
# normalization: an address edited here is stored exactly as the API would store it).
EDITABLE = {
    "first_name": text_field(128), "last_name": text_field(128), "email": normalize_email,
    "role": text_field(64), "timezone": timezone_field,
    "is_product_user": boolean_field, "is_crm_contact": boolean_field,
}


class ContactEditError(ValueError):
    """Bad input; .errors -> {field: message}. Nothing was written."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def update_contact(contact_id: int, values: dict, *, actor: str, now: datetime) -> list[tuple]:
    """Write the fields of `values` (a subset of EDITABLE) that differ from the stored ones,
    plus one feed row per changed field; returns [(field, old, new)] ([] = nothing changed,
    nothing written). A changed email clears the old address's bounce. Does not commit.
    Raises ContactEditError for bad values, LookupError for an unknown contact."""
    errors, clean = {}, {}
    for key, value in values.items():
        check = EDITABLE.get(key)
        if check is None:
            errors[key] = "cannot be edited"
            continue
        if key == "email" and (value is None or not str(value).strip()):
            errors[key] = "is required"
            continue
        if key == "timezone" and isinstance(value, str):
            value = value.strip() or None
        try:
            clean[key] = check(value)
        except FieldError as bad:
            errors[key] = str(bad)
    if errors:
        raise ContactEditError(errors)
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise LookupError(f"no contact {contact_id}")
    stored = {key: getattr(contact, key) for key in clean}
    changes = contact_field_changes(stored, clean)
    if not changes:
        return []
    changed = {column: clean[column] for column in clean if not same_value(stored[column], clean[column])}
    if "email" in changed:
        changed["email_bounced_at"] = changed["email_bounce_reason"] = None
    db.session.execute(update(Contact).where(Contact.id == contact_id).values(**changed)
                       .execution_options(synchronize_session="fetch"))
    insert_field_changes([(contact_id, field, old, new) for field, old, new in changes],
                         source="staff", actor=actor, at=now)
    return changes

