"""Lists (engine/contacts/lists.py): names, membership with its change rows, no-ops that
record nothing, refused deletes, and atomicity (the caller's transaction holds both)."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from engine.contacts import lists as engine
from engine.rules import list_ids_used
from extensions import db
from models import ContactChange, ContactList, ListMember
from models.contact_list import LIST_NAME_MAX

NOW = datetime(2026, 3, 10, 12, 0)


def members(list_id):
    return set(db.session.scalars(select(ListMember.contact_id).where(ListMember.list_id == list_id)))


def changes(list_id=None):
    stmt = select(ContactChange.contact_id, ContactChange.kind, ContactChange.list_id,
                  ContactChange.source, ContactChange.actor, ContactChange.at).order_by(ContactChange.id)
    if list_id is not None:
        stmt = stmt.where(ContactChange.list_id == list_id)
    return db.session.execute(stmt).all()


@pytest.fixture
def people(make):
    acc = make.account()
    return [make.contact(acc) for _ in range(4)]


@pytest.fixture
def webinar(app):
    made = engine.create_list("Webinar — March", actor="cs@example.com", now=NOW)
    db.session.commit()
    return made


def test_create_cleans_the_name_and_records_who_made_it(app):
    made = engine.create_list("  Beta \n  group ", actor="cs@example.com", now=NOW)
    db.session.commit()
    assert (made.name, made.created_by, made.created_at) == ("Beta group", "cs@example.com", NOW)


@pytest.mark.parametrize("name, message", [
    ("", "Give the list a name."),
    ("   \t\n", "Give the list a name."),
    (None, "Give the list a name."),
    ("x" * 10_000, f"at most {LIST_NAME_MAX} characters"),
    (42, "must be text"),
])
def test_bad_names_are_refused_with_the_field(app, name, message):
    with pytest.raises(engine.ListError) as caught:
        engine.create_list(name, actor=None, now=NOW)
    assert caught.value.field == "name" and message in caught.value.message
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ContactList)) == 0


def test_names_are_unique_regardless_of_case(app, webinar):
    with pytest.raises(engine.ListError, match="Another list already has this name"):
        engine.create_list("WEBINAR — march", actor=None, now=NOW)
    db.session.rollback()
    other = engine.create_list("Beta", actor=None, now=NOW)
    with pytest.raises(engine.ListError, match="Another list"):
        engine.rename_list(other.id, " webinar — MARCH ")
    # Renaming a list to its own name in another case is fine.
    assert engine.rename_list(webinar.id, "WEBINAR — MARCH").name == "WEBINAR — MARCH"
    assert engine.create_list("x" * LIST_NAME_MAX, actor=None, now=NOW).name == "x" * LIST_NAME_MAX


def test_add_records_each_newly_added_contact_once(app, webinar, people):
    a, b, c, d = people
    assert engine.add_members(webinar.id, [a.id, b.id, b.id], source="api", actor="crm-sync", now=NOW) == 2
    db.session.commit()
    assert members(webinar.id) == {a.id, b.id}
    assert sorted(changes()) == sorted([(a.id, "list_added", webinar.id, "api", "crm-sync", NOW),
                                        (b.id, "list_added", webinar.id, "api", "crm-sync", NOW)])
    later = NOW + timedelta(hours=1)
    # Already members: a no-op for them; only c is new.
    assert engine.add_members(webinar.id, [a.id, b.id, c.id], source="staff", actor="cs@example.com",
                              now=later) == 1
    db.session.commit()
    assert members(webinar.id) == {a.id, b.id, c.id}
    assert changes()[-1] == (c.id, "list_added", webinar.id, "staff", "cs@example.com", later)
    assert len(changes()) == 3
    added_at = db.session.scalar(select(ListMember.added_at).where(ListMember.contact_id == c.id))
    assert added_at == later


def test_a_no_op_records_nothing(app, webinar, people):
    a, b, c, d = people
    engine.add_members(webinar.id, [a.id], source="api", actor="k", now=NOW)
    db.session.commit()
    before = changes()
    assert engine.add_members(webinar.id, [a.id], source="api", actor="k", now=NOW) == 0
    assert engine.remove_members(webinar.id, [b.id, c.id], source="api", actor="k", now=NOW) == 0
    assert engine.add_members(webinar.id, [], source="api", actor="k", now=NOW) == 0
    assert engine.add_members(webinar.id, [10**6], source="api", actor="k", now=NOW) == 0  # no such contact
    db.session.commit()
    assert changes() == before and members(webinar.id) == {a.id}


def test_remove_records_only_the_members_actually_removed(app, webinar, people):
    a, b, c, d = people
    engine.add_members(webinar.id, [a.id, b.id, c.id], source="import", actor="march.csv", now=NOW)
    later = NOW + timedelta(days=1)
    assert engine.remove_members(webinar.id, [b.id, c.id, d.id], source="journey", actor="Onboarding",
                                 now=later) == 2
    db.session.commit()
    assert members(webinar.id) == {a.id}
    removed = [r for r in changes() if r.kind == "list_removed"]
    assert sorted(removed) == sorted([(b.id, "list_removed", webinar.id, "journey", "Onboarding", later),
                                      (c.id, "list_removed", webinar.id, "journey", "Onboarding", later)])
    # Back in again: a new added row; history keeps both.
    assert engine.add_members(webinar.id, [b.id], source="staff", actor="cs@example.com", now=later) == 1
    db.session.commit()
    assert [r.kind for r in changes() if r.contact_id == b.id] == ["list_added", "list_removed", "list_added"]


def test_membership_is_per_list(app, webinar, people):
    a, *_ = people
    beta = engine.create_list("Beta", actor=None, now=NOW)
    engine.add_members(webinar.id, [a.id], source="demo", actor=None, now=NOW)
    assert engine.add_members(beta.id, [a.id], source="demo", actor=None, now=NOW) == 1
    assert engine.remove_members(beta.id, [a.id], source="demo", actor=None, now=NOW) == 1
    db.session.commit()
    assert members(webinar.id) == {a.id} and members(beta.id) == set()
    assert [name for name_list, _at in engine.contact_lists(a.id) for name in [name_list.name]] == [
        "Webinar — March"]


def test_large_batches_are_a_few_statements_not_one_per_contact(app, webinar, make):
    acc = make.account()
    from models import Contact

    db.session.add_all([Contact(account_id=acc.id, external_id=f"bulk-{i}", email=f"b{i}@x.test")
                        for i in range(2000)])
    db.session.commit()
    ids = list(db.session.scalars(select(Contact.id)))
    statements = []

    def count(*_args):
        statements.append(1)

    engine_ = db.session.get_bind()
    event.listen(engine_, "before_cursor_execute", count)
    try:
        assert engine.add_members(webinar.id, ids, source="api", actor="k", now=NOW) == 2000
        assert engine.remove_members(webinar.id, ids[:1500], source="api", actor="k", now=NOW) == 1500
    finally:
        event.remove(engine_, "before_cursor_execute", count)
    db.session.commit()
    assert len(statements) <= 20  # a lock, then a count and 2 writes per chunk of 900 ids, each way
    assert db.session.scalar(select(func.count()).select_from(ContactChange)) == 3500


def test_the_change_rows_share_the_callers_transaction(app, webinar, people):
    """Nothing half-stored: a rollback after add_members takes the members and their feed rows."""
    a, b, *_ = people
    engine.add_members(webinar.id, [a.id, b.id], source="api", actor="k", now=NOW)
    db.session.rollback()
    assert members(webinar.id) == set() and changes() == []
    engine.add_members(webinar.id, [a.id], source="api", actor="k", now=NOW)
    db.session.commit()
    engine.remove_members(webinar.id, [a.id], source="api", actor="k", now=NOW)
    db.session.rollback()
    assert members(webinar.id) == {a.id} and len(changes()) == 1


def test_unknown_lists_and_sources_are_refused(app, people):
    with pytest.raises(engine.ListNotFound) as caught:
        engine.add_members(999, [people[0].id], source="api", actor="k", now=NOW)
    assert caught.value.field == "list_id" and "999" in caught.value.message
    with pytest.raises(engine.ListNotFound):
        engine.remove_members("1", [people[0].id], source="api", actor="k", now=NOW)
    with pytest.raises(engine.ListNotFound):
        engine.rename_list(999, "Anything")
    made = engine.create_list("L", actor=None, now=NOW)
    with pytest.raises(ValueError, match="unknown change source"):
        engine.add_members(made.id, [people[0].id], source="robot", actor=None, now=NOW)


def test_delete_is_refused_while_a_trigger_or_persona_uses_it(app, make, webinar, people):
    beta = engine.create_list("Beta", actor=None, now=NOW)
    db.session.commit()
    make.trigger(name="Joining details", kind="list_added", list_id=webinar.id, rule=None)
    make.trigger(name="Nested rule", rule={"user_types": ["product_user"], "all": [
        {"any": [{"not": {"list": webinar.id, "op": "member"}}, {"field": "contact.role", "op": "eq",
                                                                 "value": "admin"}]}]})
    make.persona(name="Webinar people", rule={"user_types": ["product_user"],
                                             "all": [{"list": webinar.id, "op": "member"}]})
    make.persona(name="Unrelated", rule={"user_types": ["product_user"],
                                         "all": [{"field": "contact.role", "op": "eq", "value": "list"}]})
    usage = engine.list_usage([webinar.id, beta.id])
    assert [n for _i, n in usage[webinar.id]["triggers"]] == ["Joining details", "Nested rule"]
    assert [n for _i, n in usage[webinar.id]["personas"]] == ["Webinar people"]
    assert usage[beta.id] == {"triggers": [], "personas": []}
    with pytest.raises(engine.ListInUse) as caught:
        engine.delete_list(webinar.id)
    message = caught.value.message
    assert "trigger “Joining details”" in message and "trigger “Nested rule”" in message
    assert "persona “Webinar people”" in message and "Unrelated" not in message
    db.session.rollback()
    assert db.session.get(ContactList, webinar.id) is not None


def test_delete_takes_the_members_and_the_history(app, webinar, people):
    engine.add_members(webinar.id, [p.id for p in people], source="api", actor="k", now=NOW)
    db.session.commit()
    assert engine.delete_list(webinar.id) == "Webinar — March"
    db.session.commit()
    assert db.session.get(ContactList, webinar.id) is None
    assert members(webinar.id) == set() and changes() == []


def test_contact_ids_for_external_ids_reports_each_bad_item_by_index(app, people):
    a, b, *_ = people
    ids, errors = engine.contact_ids_for_external_ids([a.external_id, "nobody", b.external_id, 7, "",
                                                       a.external_id, " "])
    assert ids == [a.id, b.id]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "contact_external_ids"), (3, "contact_external_ids"),
                                                          (4, "contact_external_ids"), (6, "contact_external_ids")]
    assert errors[0]["message"] == "unknown contact “nobody”"
    assert "external_id" in errors[1]["message"]


def test_references_are_external_ids_or_emails(app, make):
    acc = make.account()
    ann = make.contact(acc, email="Ann@Example.com", external_id="u-ann")
    make.contact(acc, email="shared@example.com")
    make.contact(acc, email="shared@example.com")
    ids, errors = engine.contact_ids_for_references(
        ["u-ann", " ann@example.com ", "", "shared@example.com", "ghost@example.com"])
    assert ids == [ann.id]
    assert [(e["value"], e["message"]) for e in errors] == [
        ("shared@example.com", "2 contacts have this email; use the external id"),
        ("ghost@example.com", "no contact has this email or external id")]


def test_list_usage_reads_lists_anywhere_in_a_rule(app):
    rule = {"all": [{"list": 3, "op": "member"}, {"any": [{"not": {"list": 5, "op": "not_member"}}]},
                    {"field": "contact.attributes.list", "op": "eq", "value": "list"}, {"list": True},
                    {"list": "7"}]}
    assert list_ids_used(rule) == [3, 5]
    assert list_ids_used(None) == []


def test_demo_lists_have_members_and_history(app):
    import random

    from devtools.demo import generate
    from devtools.demo_lists import seed_lists

    generate(accounts=30, contacts=300, events=0, seed=5, now=NOW)
    assert seed_lists(random.Random(1), NOW) > 0
    made = db.session.scalars(select(ContactList).order_by(ContactList.name)).all()
    assert len(made) >= 2 and all(engine.member_counts([m.id])[m.id] > 0 for m in made)
    sources = set(db.session.scalars(select(ContactChange.source)))
    kinds = set(db.session.scalars(select(ContactChange.kind)))
    assert sources == {"demo"} and kinds == {"created", "list_added", "list_removed"}
