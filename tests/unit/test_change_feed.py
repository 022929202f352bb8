"""The contact change feed (engine.contacts.changes): every path that changes contacts
records "created" and "field" rows in the same transaction, set-based, and only for what
really changed."""
from datetime import datetime

import pytest
from sqlalchemy import event, select

from engine.contacts import changes as feed
from engine.contacts import ingest as ing
from engine.contacts.changes import decode_value, same_value
from extensions import db
from models import Contact, ContactChange, ImportJob

NOW = datetime(2026, 1, 5, 9, 0)
LATER = datetime(2026, 1, 6, 9, 0)


def _contact(ext="u1", **kw):
    item = {"external_id": ext, "account_external_id": "acme", "email": f"{ext}@acme.io",
            "first_name": "Ann", "role": "admin", "created_at": "2025-11-02T10:00:00Z",
            "last_seen_at": "2026-01-04T08:30:00+00:00", "is_crm_contact": False,
            "attributes": {"plan": "trial", "seats": 3}}
    item.update(kw)
    return item


def _feed(kind=None):
    query = select(ContactChange).order_by(ContactChange.id)
    if kind:
        query = query.where(ContactChange.kind == kind)
    return db.session.scalars(query).all()


def _fields(rows):
    return sorted((r.field, decode_value(r.old_value), decode_value(r.new_value)) for r in rows)


@pytest.fixture
def acme(make):
    return make.account(external_id="acme")


def test_created_rows_for_new_contacts_with_source_actor_and_time(app, acme):
    ing.ingest("contacts", [_contact("u1"), _contact("u2")], NOW, source="api", actor="crm sync")
    db.session.commit()
    rows = _feed()
    ids = db.session.scalars(select(Contact.id).order_by(Contact.id)).all()
    assert [(r.contact_id, r.kind, r.field, r.old_value, r.new_value) for r in rows] == [
        (ids[0], "created", None, None, None), (ids[1], "created", None, None, None)]
    assert {(r.source, r.actor, r.at) for r in rows} == {("api", "crm sync", NOW)}


def test_a_no_op_upsert_writes_and_records_nothing(app, acme):
    ing.ingest("contacts", [_contact()], NOW)
    db.session.commit()
    statements = []
    listen = lambda conn, cur, sql, *a: statements.append(sql)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        # The same values in other spellings: an offset, no offset, same attributes.
        result = ing.ingest("contacts", [_contact(created_at="2025-11-02T11:00:00+01:00",
                                                  last_seen_at="2026-01-04T08:30:00")], LATER)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    db.session.commit()
    assert result == {"created": 0, "updated": 1}
    assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert len(_feed()) == 1  # just "created"


def test_only_changed_fields_are_recorded_with_old_and_new(app, acme):
    ing.ingest("contacts", [_contact()], NOW)
    db.session.commit()
    ing.ingest("contacts", [_contact(role="owner", first_name="Ann", last_seen_at="2026-01-05T08:00:00Z",
                                     is_crm_contact=True)], LATER, source="import", actor="people.csv")
    db.session.commit()
    rows = _feed("field")
    assert _fields(rows) == [
        ("contact.is_crm_contact", False, True),
        ("contact.last_seen_at", "2026-01-04T08:30:00", "2026-01-05T08:00:00"),
        ("contact.role", "admin", "owner"),
    ]
    assert {(r.source, r.actor, r.at) for r in rows} == {("import", "people.csv", LATER)}
    assert db.session.scalar(select(Contact.role)) == "owner"


def test_attribute_add_change_and_remove(app, acme):
    ing.ingest("contacts", [_contact(attributes={"plan": "trial", "seats": 3, "beta": True})], NOW)
    db.session.commit()
    ing.ingest("contacts", [_contact(attributes={"plan": "pro", "seats": 3, "beta": None, "nps": 9})], LATER)
    db.session.commit()
    assert _fields(_feed("field")) == [
        ("contact.attributes.beta", True, None),
        ("contact.attributes.nps", None, 9),
        ("contact.attributes.plan", "trial", "pro"),
    ]
    removed = next(r for r in _feed("field") if r.field == "contact.attributes.beta")
    assert removed.new_value is None  # removal is a NULL new value
    db.session.expire_all()
    assert db.session.scalar(select(Contact.attributes)) == {"plan": "pro", "seats": 3, "nps": 9}


@pytest.mark.parametrize("old, new, changed", [
    ("1", 1, True), (1, True, True), (True, 1, True), (0, False, True), (1, 1.0, False),
    ({"a": [1, "x"]}, {"a": [1, "x"]}, False), ({"a": [1]}, {"a": ["1"]}, True), (None, "", True),
])
def test_values_compare_by_type(app, acme, old, new, changed):
    assert same_value(old, new) is not changed
    ing.ingest("contacts", [_contact(attributes={"v": old})], NOW)
    db.session.commit()
    ing.ingest("contacts", [_contact(attributes={"v": new})], LATER)
    db.session.commit()
    assert len(_feed("field")) == (1 if changed else 0)


def test_a_changed_email_clears_the_bounce_and_is_recorded(app, acme):
    ing.ingest("contacts", [_contact(email="old@acme.io")], NOW)
    db.session.commit()
    contact = db.session.scalar(select(Contact))
    contact.email_bounced_at, contact.email_bounce_reason = NOW, "550 no such user"
    db.session.commit()
    ing.ingest("contacts", [_contact(email="new@acme.io")], LATER)
    db.session.commit()
    db.session.expire_all()
    contact = db.session.scalar(select(Contact))
    assert (contact.email, contact.email_bounced_at, contact.email_bounce_reason) == ("new@acme.io", None, None)
    assert _fields(_feed("field")) == [("contact.email", "old@acme.io", "new@acme.io")]


def test_an_unchanged_email_keeps_the_bounce(app, acme):
    ing.ingest("contacts", [_contact(email="same@acme.io")], NOW)
    db.session.commit()
    contact = db.session.scalar(select(Contact))
    contact.email_bounced_at = NOW
    db.session.commit()
    ing.ingest("contacts", [_contact(email="same@acme.io", role="owner")], LATER)
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(select(Contact.email_bounced_at)) == NOW


def test_a_rollback_leaves_neither_the_change_nor_its_feed_row(app, acme):
    ing.ingest("contacts", [_contact()], NOW)
    db.session.commit()
    ing.ingest("contacts", [_contact(role="owner"), _contact("u2")], LATER)
    db.session.rollback()  # e.g. the process dies before the commit
    assert db.session.scalar(select(Contact.role)) == "admin"
    assert db.session.scalars(select(Contact.external_id)).all() == ["u1"]
    assert [r.kind for r in _feed()] == ["created"]


def test_an_unknown_source_is_refused(app, acme):
    with pytest.raises(ValueError):
        ing.ingest("contacts", [_contact()], NOW, source="nonsense")


def test_accounts_are_not_in_the_contact_feed(app, acme):
    ing.ingest("accounts", [{"external_id": "acme", "name": "Acme 2", "attributes": {"x": 1}}], NOW)
    db.session.commit()
    assert _feed() == []


def test_ten_thousand_contacts_upsert_in_a_bounded_number_of_statements(app, acme):
    n = 10_000
    ing.ingest("contacts", [_contact(f"u{i}") for i in range(n // 2)], NOW)
    db.session.commit()
    items = ([_contact(f"u{i}", role="owner") for i in range(n // 4)]  # changed
             + [_contact(f"u{i}") for i in range(n // 4, n // 2)]  # unchanged
             + [_contact(f"u{i}") for i in range(n // 2, n)])  # new
    statements = []
    listen = lambda conn, cur, sql, *a: statements.append(sql)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        assert ing.ingest("contacts", items, LATER) == {"created": n // 2, "updated": n // 2}
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    db.session.commit()
    # validate: 1 account lookup; store: 10 lookups, 1 INSERT, 5 INSERT...SELECT "created"
    # (chunks of 1,000), 1 UPDATE, 1 feed INSERT. Anything per contact would be thousands.
    assert len(statements) <= 25, len(statements)
    assert db.session.query(ContactChange).filter_by(kind="created", at=LATER).count() == n // 2
    assert db.session.query(ContactChange).filter_by(kind="field").count() == n // 4


def test_csv_import_records_with_its_file_name(app, acme):
    from engine.contacts import imports

    ing.ingest("contacts", [_contact("c-old", role="admin")], NOW)
    db.session.commit()
    text = ("external_id,account_external_id,email,role,created_at\n"
            "c-new,acme,new@acme.io,user,2025-11-02T10:00:00Z\n"
            "c-old,acme,c-old@acme.io,owner,2025-11-02T10:00:00Z\n")
    info = imports.inspect_file(text, "contacts")
    job = ImportJob(kind="contacts", filename="people <march>.csv", csv_text=text, status="pending",
                    total_rows=info["total_rows"], mapping={**info["mapping"], "attributes": []})
    db.session.add(job)
    db.session.commit()
    assert imports.run_import(job.id, now=LATER)["created"] == 1
    rows = _feed()[1:]
    assert [(r.kind, r.field, r.source, r.actor) for r in sorted(rows, key=lambda r: r.kind)] == [
        ("created", None, "import", "people <march>.csv"),
        ("field", "contact.role", "import", "people <march>.csv")]


def test_demo_generator_records_created_for_each_contact(app):
    from devtools.demo import generate

    result = generate(db.session, accounts=5, contacts=40, events=0, seed=1, now=NOW)
    rows = _feed()
    assert len(rows) == result["contacts"] == 40
    assert {(r.kind, r.source) for r in rows} == {("created", "demo")}
    assert sorted(r.contact_id for r in rows) == db.session.scalars(select(Contact.id).order_by(Contact.id)).all()


def test_unsubscribing_records_the_field(app, make):
    from engine.tracking import unsubscribe

    message = make.outbox_message(state="sent")
    assert unsubscribe(message.id, NOW) is True
    db.session.commit()
    assert unsubscribe(message.id, LATER) is False  # already: nothing new recorded
    db.session.commit()
    rows = _feed("field")
    assert [(r.contact_id, r.field, r.old_value, decode_value(r.new_value), r.source) for r in rows] == [
        (message.contact_id, "contact.unsubscribed_at", None, "2026-01-05T09:00:00", "contact")]


def test_field_changes_helper_compares_only_given_columns():
    stored = {"role": "admin", "email": "a@x.io", "attributes": {"k": 1}}
    assert feed.contact_field_changes(stored, {"role": "admin"}) == []
    assert feed.contact_field_changes(stored, {"email": "b@x.io", "attributes": {}}) == [
        ("contact.email", "a@x.io", "b@x.io"), ("contact.attributes.k", 1, None)]


def test_staff_edit_engine_writes_changes_and_feed_together(app, make):
    from engine.contacts.editing import ContactEditError, update_contact

    person = make.contact(role="user", email="a@acme.io", timezone=None)
    with pytest.raises(ContactEditError) as bad:
        update_contact(person.id, {"role": "owner", "email": "nope", "timezone": "Mars/Base"},
                       actor="s@x.io", now=NOW)
    assert set(bad.value.errors) == {"email", "timezone"}
    with pytest.raises(ContactEditError):
        update_contact(person.id, {"external_id": "other"}, actor="s@x.io", now=NOW)
    db.session.rollback()
    assert _feed() == [] and db.session.get(Contact, person.id).role == "user"
    assert update_contact(person.id, {"role": "owner", "timezone": " "}, actor="s@x.io", now=NOW) == [
        ("contact.role", "user", "owner")]
    db.session.rollback()  # the caller's transaction: both go
    db.session.expire_all()
    assert _feed() == [] and db.session.get(Contact, person.id).role == "user"
    update_contact(person.id, {"role": "owner"}, actor="s@x.io", now=NOW)
    db.session.commit()
    assert [(r.field, r.source, r.actor) for r in _feed()] == [("contact.role", "staff", "s@x.io")]
