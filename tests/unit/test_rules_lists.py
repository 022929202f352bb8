"""List conditions in rules ({"list": <id>, "op": "member" | "not_member"}): validation
with paths, the compiled [NOT] EXISTS on both databases, the explainer, the live
preview's incomplete handling and persona refresh."""
from datetime import datetime

import pytest
from sqlalchemy import select

from engine import personas
from engine.rules import (
    RuleError, explain, for_live_preview, list_ids_used, matching_contacts_select, parse_rule,
    preview,
)
from engine.rules.nodes import ListCond
from extensions import db
from models import ContactList, ListMember, PersonaMember

NOW = datetime(2026, 3, 10, 12, 0)


def make_list(name, contacts=()):
    lst = ContactList(name=name)
    db.session.add(lst)
    db.session.flush()
    for c in contacts:
        db.session.add(ListMember(list_id=lst.id, contact_id=c.id))
    db.session.commit()
    return lst


def matched(rule):
    return {r.contact_id for r in db.session.execute(matching_contacts_select(rule, NOW))}


def errors_of(rule):
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    return {e["path"]: e["message"] for e in info.value.errors}


def test_a_list_condition_parses_anywhere_in_the_tree(app):
    webinar = make_list("Webinar — March")
    rule = parse_rule({"all": [{"field": "contact.role", "op": "eq", "value": "admin"},
                               {"any": [{"not": {"list": webinar.id, "op": "member"}}]}]})
    node = rule.root.children[1].children[0].child
    assert isinstance(node, ListCond) and node.path == "all[1].any[0].not"
    assert (node.list_id, node.op, node.name) == (webinar.id, "member", "Webinar — March")
    assert rule.list_ids() == [webinar.id]
    assert parse_rule({"list": webinar.id, "op": "not_member"}).root.op == "not_member"


def test_bad_list_conditions_are_refused_with_their_paths(app):
    webinar = make_list("Webinar")
    errors = errors_of({"all": [
        {"list": webinar.id, "op": "member"},
        {"list": webinar.id, "op": "in"},
        {"list": 999, "op": "member"},
        {"list": "3", "op": "member"},
        {"list": True, "op": "member"},
        {"list": 2.5, "op": "not_member"},
        {"any": [{"list": 998, "op": "not_member", "value": 1}]},
        {"list": webinar.id, "field": "contact.role", "op": "member"},
    ]})
    assert errors == {
        "all[1].op": "expected one of: member, not_member",
        "all[2].list": "no list with id 999",
        "all[3].list": "expected the id of a list (a whole number)",
        "all[4].list": "expected the id of a list (a whole number)",
        "all[5].list": "expected the id of a list (a whole number)",
        "all[6].any[0].value": "unknown key",
        "all[6].any[0].list": "no list with id 998",
        "all[7]": 'a condition has one of "field", "event" or "list", not several',
    }


def test_unknown_lists_are_looked_up_once_and_reported_with_other_errors(app):
    errors = errors_of({"all": [{"list": 5, "op": "member"},
                                {"field": "account.arr", "op": "gt", "value": "x"}]})
    assert errors == {"all[0].list": "no list with id 5", "all[1].value": "expected a number"}


def test_member_and_not_member_select_the_list_and_the_rest(app, make):
    a, b, c = (make.contact(is_product_user=True) for _ in range(3))
    beta = make_list("Beta", [a, b])
    other = make_list("Other", [c])
    assert matched({"list": beta.id, "op": "member"}) == {a.id, b.id}
    assert matched({"list": beta.id, "op": "not_member"}) == {c.id}
    assert matched({"not": {"list": beta.id, "op": "member"}}) == {c.id}
    assert matched({"any": [{"list": beta.id, "op": "member"},
                            {"list": other.id, "op": "member"}]}) == {a.id, b.id, c.id}
    assert matched({"all": [{"list": beta.id, "op": "member"},
                            {"list": other.id, "op": "member"}]}) == set()
    assert matched({"user_types": ["crm_contact"], "list": beta.id, "op": "member"}) == set()
    empty = make_list("Empty")
    assert matched({"list": empty.id, "op": "member"}) == set()
    assert matched({"list": empty.id, "op": "not_member"}) == {a.id, b.id, c.id}


def test_the_compiled_condition_is_an_exists_on_list_members(app):
    beta = make_list("Beta")
    sql = str(matching_contacts_select({"list": beta.id, "op": "not_member"}, NOW)
              .compile(db.engine))
    assert "NOT (EXISTS (SELECT" in sql and "list_members" in sql


def test_preview_counts_list_members(app, make):
    a, b = make.contact(), make.contact()
    make.contact()
    beta = make_list("Beta", [a, b])
    result = preview({"list": beta.id, "op": "member"}, NOW, limit=20)
    assert result["count"] == 2 and {s["contact_id"] for s in result["sample"]} == {a.id, b.id}


def test_explain_says_whether_the_contact_is_in_the_list(app, make):
    a, b = make.contact(), make.contact()
    webinar = make_list("Webinar — March <b>", [a])
    rule = {"all": [{"list": webinar.id, "op": "member"},
                    {"not": {"list": webinar.id, "op": "not_member"}}]}
    yes = explain(rule, a.id, NOW)
    nodes = {n["path"]: n for n in yes["nodes"]}
    assert yes["matches"] is True
    assert nodes["all[0]"]["text"] == "In list Webinar — March <b>: yes"
    assert nodes["all[0]"]["passed"] is True and nodes["all[0]"]["expected"] == "to be in the list"
    assert nodes["all[1].not"]["passed"] is False and nodes["all[1].not"]["actual"] == "yes"
    no = explain(rule, b.id, NOW)
    nodes = {n["path"]: n for n in no["nodes"]}
    assert no["matches"] is False
    assert nodes["all[0]"]["text"] == "In list Webinar — March <b>: no"
    assert nodes["all[0]"]["label"].endswith("✗")
    assert explain({"list": webinar.id, "op": "not_member"}, b.id, NOW)["matches"] is True


def test_the_live_preview_leaves_out_a_list_not_picked_yet(app):
    beta = make_list("Beta")
    stripped, ignored, errors = for_live_preview(
        {"all": [{"list": None, "op": "member"}, {"list": beta.id, "op": "member"}]})
    assert ignored == ["all[0]"] and errors == []
    assert stripped == {"all": [{"list": beta.id, "op": "member"}]}
    _, ignored, errors = for_live_preview({"all": [{"list": 404, "op": "member"}]})
    assert ignored == [] and errors == [{"path": "all[0].list", "message": "no list with id 404"}]


def test_list_ids_used_finds_every_list_without_a_database(app):
    rule = {"all": [{"list": 3, "op": "member"}, {"any": [{"not": {"list": 4, "op": "member"}},
                                                         {"list": 3, "op": "not_member"}]}]}
    assert list_ids_used(rule) == [3, 4]
    assert list_ids_used({"list": "3"}) == [] and list_ids_used("nonsense") == []


def test_persona_refresh_follows_list_membership(app, make):
    a, b = make.contact(is_product_user=True), make.contact(is_product_user=True)
    beta = make_list("Beta", [a])
    persona = make.persona(rule={"user_types": ["product_user"],
                                 "all": [{"list": beta.id, "op": "member"}]})
    assert personas.refresh_persona(persona.id, NOW) == {"entered": 1, "left": 0}
    db.session.commit()
    db.session.add(ListMember(list_id=beta.id, contact_id=b.id))
    db.session.execute(ListMember.__table__.delete().where(ListMember.contact_id == a.id))
    db.session.commit()
    assert personas.refresh_persona(persona.id, NOW) == {"entered": 1, "left": 1}
    db.session.commit()
    assert set(db.session.scalars(select(PersonaMember.contact_id)
                                  .where(PersonaMember.persona_id == persona.id))) == {b.id}


def test_a_persona_whose_list_was_deleted_reports_an_invalid_rule(app, make):
    beta = make_list("Beta")
    persona = make.persona(rule={"list": beta.id, "op": "member"})
    db.session.delete(beta)
    db.session.commit()
    results = personas.refresh_all_personas(NOW)
    assert "no list with id" in results[persona.id]["error"]
