"""Lists: named, hand-kept sets of contacts (Mailtrap's lists), and their membership.

Who is in a list now is ListMember; every add and every remove is also a row in
the change feed (ContactChange, kind "list_added" / "list_removed") written in the
same transaction, so feed triggers and the list's history see exactly what
happened. Both are set-based: one INSERT ... SELECT of exactly the contacts that
were newly added (or actually removed) per chunk of ids, never a loop per contact.
Adding a member again or removing a non-member is a no-op that records nothing.

Nothing here commits: the caller (a view, the API, the import job) owns the
transaction, and rolls it back when an error is raised.
"""
from datetime import datetime

from sqlalchemy import delete, exists, func, insert, literal, or_, select

from engine.contacts.ingest import lookup_by_external_id
from engine.rules import list_ids_used
from extensions import db
from models import Contact, ContactChange, ContactList, ImportJob, ListMember, Persona, Trigger
from models.contact_change import CHANGE_SOURCES
from models.contact_list import LIST_NAME_MAX

# Ids per statement: SQLite builds may allow only 999 bound variables (as engine/contacts/ingest.py).
CHUNK = 900
NAME_TAKEN = "Another list already has this name."


class ListError(ValueError):
    """A refused list operation: .field ("name", "list_id", "contact_external_ids", ...)
    says what was wrong, .message says why, in a sentence staff can read."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class ListNotFound(ListError):
    def __init__(self, list_id):
        super().__init__("list_id", f"There is no list with id {list_id}.")
        self.list_id = list_id


class ListInUse(ListError):
    """delete_list refused: .triggers and .personas are [(id, name)] using the list,
    .imports [(id, file name)] of CSV imports still to put their contacts in it."""

    def __init__(self, name: str, triggers: list, personas: list, imports: list = ()):
        users = ([f"trigger “{n}”" for _i, n in triggers] + [f"persona “{n}”" for _i, n in personas]
                 + [f"the import of “{n}” (still running)" for _i, n in imports])
        shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        super().__init__("list_id", f"“{name}” is used by {shown}. Change those first, then delete the list.")
        self.triggers = triggers
        self.personas = personas
        self.imports = list(imports)


# ---- names -------------------------------------------------------------------

def clean_list_name(name, list_id: int | None = None) -> str:
    """The name as stored: whitespace runs become one space (names show in pickers and
    in one-line table cells), not empty, at most LIST_NAME_MAX characters, and unique
    regardless of case. Raises ListError(field="name")."""
    if name is not None and not isinstance(name, str):
        raise ListError("name", "A list name must be text.")
    clean = " ".join((name or "").split())
    if not clean:
        raise ListError("name", "Give the list a name.")
    if len(clean) > LIST_NAME_MAX:
        raise ListError("name", f"A list name has at most {LIST_NAME_MAX} characters "
                                f"(this one has {len(clean):,}).")
    taken = db.session.scalar(select(ContactList.id).where(
        func.lower(ContactList.name) == clean.lower(), ContactList.id != (list_id or 0)))
    if taken:
        raise ListError("name", NAME_TAKEN)
    return clean


def create_list(name, *, actor: str | None, now: datetime) -> ContactList:
    """A new list (flushed, so it has its id). Raises ListError; IntegrityError from the
    flush when the same name was created a moment ago (the caller says NAME_TAKEN)."""
    contact_list = ContactList(name=clean_list_name(name), created_at=now,
                               created_by=(actor or None) and actor[:320])
    db.session.add(contact_list)
    db.session.flush()
    return contact_list


def rename_list(list_id: int, name) -> ContactList:
    contact_list = get_list(list_id)
    contact_list.name = clean_list_name(name, list_id)
    db.session.flush()
    return contact_list


def get_list(list_id, *, lock: bool = False) -> ContactList:
    """The list, or ListNotFound. `lock` takes the list's row lock on PostgreSQL (no-op on
    SQLite, whose writers are serialised anyway), so concurrent membership changes of one
    list run one after the other and each records exactly what it changed."""
    if not isinstance(list_id, int) or isinstance(list_id, bool):
        raise ListNotFound(list_id)
    stmt = select(ContactList).where(ContactList.id == list_id)
    if lock:
        stmt = stmt.with_for_update()
    contact_list = db.session.scalars(stmt).first()
    if contact_list is None:
        raise ListNotFound(list_id)
    return contact_list


# ---- who uses a list ---------------------------------------------------------------

def list_usage(list_ids) -> dict[int, dict]:
    """{list_id: {"triggers": [(id, name)], "personas": [(id, name)]}} for the given lists:
    triggers that fire on the list (list_added / list_removed) or test it in their rule,
    and personas whose rule tests it. Sorted by name; every asked-for id is a key."""
    wanted = set(list_ids)
    usage = {i: {"triggers": [], "personas": []} for i in wanted}
    if not wanted:
        return usage
    rows = db.session.execute(select(Trigger.id, Trigger.name, Trigger.list_id, Trigger.rule).where(
        or_(Trigger.list_id.in_(wanted), Trigger.rule.isnot(None)))).all()
    for trigger_id, name, list_id, rule in rows:
        for used in ({list_id} | set(list_ids_used(rule))) & wanted:
            usage[used]["triggers"].append((trigger_id, name))
    for persona_id, name, rule in db.session.execute(select(Persona.id, Persona.name, Persona.rule)).all():
        for used in set(list_ids_used(rule)) & wanted:
            usage[used]["personas"].append((persona_id, name))
    for entry in usage.values():
        entry["triggers"].sort(key=lambda t: (t[1].lower(), t[0]))
        entry["personas"].sort(key=lambda p: (p[1].lower(), p[0]))
    return usage


def delete_list(list_id: int) -> str:
    """Delete the list, its membership and its history; returns its name. Refused with
    ListInUse while a trigger or persona uses it (saying which)."""
    contact_list = get_list(list_id, lock=True)
    usage = list_usage([list_id])[list_id]
    imports = db.session.execute(select(ImportJob.id, ImportJob.filename).where(
        ImportJob.list_id == list_id, ImportJob.status.in_(("pending", "running")))).all()
    if usage["triggers"] or usage["personas"] or imports:
        raise ListInUse(contact_list.name, usage["triggers"], usage["personas"], [tuple(i) for i in imports])
    name = contact_list.name
    # Explicit, so SQLite without foreign-key enforcement leaves nothing behind either.
    db.session.execute(delete(ContactChange).where(ContactChange.list_id == list_id))
    db.session.execute(delete(ListMember).where(ListMember.list_id == list_id))
    db.session.delete(contact_list)
    db.session.flush()
    return name


def member_counts(list_ids) -> dict[int, int]:
    ids = list(list_ids)
    counts = dict(db.session.execute(
        select(ListMember.list_id, func.count()).where(ListMember.list_id.in_(ids))
        .group_by(ListMember.list_id)).all()) if ids else {}
    return {i: counts.get(i, 0) for i in ids}


# ---- membership ------------------------------------------------------------------

def _check_source(source: str) -> None:
    if source not in CHANGE_SOURCES:
        raise ValueError(f"unknown change source {source!r}; one of {', '.join(CHANGE_SOURCES)}")


def _chunks(ids):
    ids = sorted(set(ids))
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _change_columns(kind: str, list_id: int, source: str, actor: str | None, now: datetime):
    """The constant columns of a membership change row, as SELECT-list literals."""
    return {"kind": literal(kind), "list_id": literal(list_id), "source": literal(source),
            "actor": literal((actor or None) and actor[:320]), "at": literal(now)}


def _record(kind: str, list_id: int, source: str, actor, now, contacts) -> None:
    """INSERT INTO contact_changes ... SELECT the given contact-id select."""
    constants = _change_columns(kind, list_id, source, actor, now)
    rows = select(contacts.c.contact_id, *(v.label(k) for k, v in constants.items()))
    db.session.execute(insert(ContactChange).from_select(["contact_id", *constants], rows))


def add_members(list_id: int, contact_ids, *, source: str, actor: str | None, now: datetime) -> int:
    """Add contacts to the list; returns how many were newly added. Contacts already in
    the list (and ids of no contact) are skipped and record nothing; each newly added
    one gets a "list_added" change row in the same transaction."""
    _check_source(source)
    get_list(list_id, lock=True)
    added = 0
    for chunk in _chunks(contact_ids):
        newcomers = (select(Contact.id.label("contact_id")).where(
            Contact.id.in_(chunk),
            ~exists().where(ListMember.list_id == list_id, ListMember.contact_id == Contact.id))
            .subquery())
        # Counted, not read from rowcount: not every driver reports one for INSERT ... SELECT
        # (engine/personas does the same). Exact, as the list's lock keeps other writers out.
        count = db.session.scalar(select(func.count()).select_from(newcomers))
        if not count:
            continue
        # The feed first: once the members are inserted, "not yet a member" no longer tells them apart.
        _record("list_added", list_id, source, actor, now, newcomers)
        db.session.execute(insert(ListMember).from_select(
            ["list_id", "contact_id", "added_at"],
            select(literal(list_id), newcomers.c.contact_id, literal(now))))
        added += count
    return added


def remove_members(list_id: int, contact_ids, *, source: str, actor: str | None, now: datetime) -> int:
    """Remove contacts from the list; returns how many were removed. Non-members record
    nothing; each removed member gets a "list_removed" change row in the same transaction."""
    _check_source(source)
    get_list(list_id, lock=True)
    removed = 0
    for chunk in _chunks(contact_ids):
        members = (select(ListMember.contact_id).where(
            ListMember.list_id == list_id, ListMember.contact_id.in_(chunk)).subquery())
        count = db.session.scalar(select(func.count()).select_from(members))
        if not count:
            continue
        _record("list_removed", list_id, source, actor, now, members)
        db.session.execute(delete(ListMember).where(
            ListMember.list_id == list_id, ListMember.contact_id.in_(chunk)))
        removed += count
    return removed


# ---- finding the contacts ---------------------------------------------------------------

def _is_reference(value) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value.strip()) <= 320


def contact_ids_for_external_ids(ext_ids, field: str = "contact_external_ids") -> tuple[list[int], list[dict]]:
    """(contact ids, errors) for a batch of contact external ids, in the ingest API's
    error shape: [{"index", "field", "message"}] for each item that is not a text or
    names no contact. Repeats are fine (they resolve to one id). One query per chunk."""
    errors, wanted = [], {}
    for index, value in enumerate(ext_ids):
        if not _is_reference(value):
            errors.append({"index": index, "field": field, "message": "must be a contact's external_id (text)"})
        else:
            wanted.setdefault(value.strip(), []).append(index)
    found = {key: row[0] for key, row in lookup_by_external_id("contacts", list(wanted), "id").items()}
    for key, indexes in wanted.items():
        if key not in found:
            errors.extend({"index": i, "field": field, "message": f"unknown contact “{key}”"} for i in indexes)
    errors.sort(key=lambda e: e["index"])
    return list(dict.fromkeys(found[k] for k in wanted if k in found)), errors


def contact_ids_for_references(lines) -> tuple[list[int], list[dict]]:
    """What staff typed to add people, one per line: each an external id or an email.
    (ids, errors [{"index", "value", "message"}]): an external id wins over an email;
    an email shared by several contacts is refused (the external id says which)."""
    values = [(i, line.strip()) for i, line in enumerate(lines) if line.strip()]
    errors, ids = [], []
    by_external = {}
    keys = list({v for _i, v in values})
    for start in range(0, len(keys), CHUNK):
        by_external.update(db.session.execute(select(Contact.external_id, Contact.id).where(
            Contact.external_id.in_(keys[start:start + CHUNK]))).all())
    emails = sorted({v.lower() for _i, v in values if v not in by_external})
    by_email: dict[str, list[int]] = {}
    for start in range(0, len(emails), CHUNK):
        for email, contact_id in db.session.execute(select(func.lower(Contact.email), Contact.id).where(
                func.lower(Contact.email).in_(emails[start:start + CHUNK]))).all():
            by_email.setdefault(email, []).append(contact_id)
    for index, value in values:
        if value in by_external:
            ids.append(by_external[value])
        elif len(by_email.get(value.lower(), [])) == 1:
            ids.append(by_email[value.lower()][0])
        elif value.lower() in by_email:
            errors.append({"index": index, "value": value, "message":
                           f"{len(by_email[value.lower()])} contacts have this email; use the external id"})
        else:
            errors.append({"index": index, "value": value, "message": "no contact has this email or external id"})
    return list(dict.fromkeys(ids)), errors


def contact_lists(contact_id: int) -> list[tuple[ContactList, datetime]]:
    """(list, added_at) for the lists a contact is in, by list name."""
    return db.session.execute(
        select(ContactList, ListMember.added_at).join(ListMember, ListMember.list_id == ContactList.id)
        .where(ListMember.contact_id == contact_id).order_by(func.lower(ContactList.name))).all()


__all__ = ["NAME_TAKEN", "ListError", "ListInUse", "ListNotFound", "add_members", "clean_list_name",
           "contact_ids_for_external_ids", "contact_ids_for_references", "contact_lists", "create_list",
           "delete_list", "get_list", "list_usage", "member_counts", "remove_members", "rename_list"]
