"""List conditions in the rule builder, the JSON tab, the live preview and explainer,
the preview and triggers APIs and the persona pages. List names are hostile text."""
import json

import pytest
from sqlalchemy import select

from blueprints.rules.builder import rule_to_tree
from extensions import db
from models import ContactList, ListMember, Persona, Trigger
from tests.web.test_api_triggers import BODY

HOSTILE = 'Webinar — March <script>alert("list")</script>'


def make_list(name, contacts=()):
    lst = ContactList(name=name)
    db.session.add(lst)
    db.session.flush()
    for c in contacts:
        db.session.add(ListMember(list_id=lst.id, contact_id=c.id))
    db.session.commit()
    return lst


@pytest.fixture
def webinar(make):
    acc = make.account(name="Bigco")
    ann = make.contact(acc, email="ann@bigco.test", first_name="Ann", is_product_user=True)
    make.contact(acc, email="bob@bigco.test", is_product_user=True)
    return make_list(HOSTILE, [ann])


def post_rule(client, url, rule, **extra):
    text = rule if isinstance(rule, str) else json.dumps(rule)
    return client.post(url, data={"rule_json": text, **extra}, headers={"HX-Request": "true"})


def test_the_list_picker_offers_the_lists_escaped(app, login, webinar):
    make_list("Beta group")
    c = login("viewer")
    html = c.get("/rules/condition?rb_field=list&section=user").get_data(as_text=True)
    assert 'data-value-kind="list_pick"' in html
    assert '<optgroup label="Lists">' in html and 'value="list" selected' in html
    assert 'value="member" selected' in html and ">is in<" in html and ">is not in<" in html
    assert "Webinar — March &lt;script&gt;alert(&#34;list&#34;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert html.index("Beta group") < html.index("&lt;script&gt;")  # by name
    assert "choose a list…" in html
    # Changing only the operator keeps the chosen list.
    kept = c.get(f"/rules/condition?rb_field=list&rb_op=not_member&rb_prev_type=list"
                 f"&rb_value={webinar.id}").get_data(as_text=True)
    assert 'value="not_member" selected' in kept and f'value="{webinar.id}" selected' in kept


def test_without_lists_the_row_says_where_to_make_one(app, login):
    html = login("viewer").get("/rules/condition?rb_field=list").get_data(as_text=True)
    assert "No lists yet" in html and 'href="/lists/"' in html


def test_the_account_section_offers_no_list_condition(app, login, webinar):
    html = login("viewer").get("/rules/condition?section=account&rb_field=list").get_data(as_text=True)
    assert 'value="account.arr" selected' in html and "Lists" not in html


def test_json_round_trip_through_the_visual_builder(app, login, webinar):
    rule = {"user_types": ["product_user"],
            "all": [{"any": [{"list": webinar.id, "op": "not_member"},
                             {"field": "contact.role", "op": "eq", "value": "admin"}]}]}
    tree = rule_to_tree(rule)
    assert tree["main"]["children"][0] == {"kind": "cond", "field": "list", "op": "not_member",
                                           "value": webinar.id, "within_days": None}
    html = post_rule(login("manager"), "/rules/builder", rule).get_data(as_text=True)
    assert 'value="list" selected' in html and 'value="not_member" selected' in html
    assert f'<option value="{webinar.id}" selected>Webinar — March &lt;script&gt;' in html
    assert "<script>alert" not in html


def test_validate_and_preview_refuse_an_unknown_list_with_its_path(app, login, webinar):
    c = login("viewer")
    bad = {"all": [{"list": webinar.id + 100, "op": "member"}]}
    body = post_rule(c, "/rules/validate", bad).get_data(as_text=True)
    assert "all[0].list" in body and f"no list with id {webinar.id + 100}" in body
    body = post_rule(c, "/rules/preview", bad).get_data(as_text=True)
    assert "all[0].list" in body and "data-rb-errors" in body
    body = post_rule(c, "/rules/validate", {"all": [{"list": webinar.id, "op": "in"}]}).get_data(as_text=True)
    assert "all[0].op" in body and "member, not_member" in body


def test_live_preview_counts_list_members_and_ignores_an_unpicked_list(app, login, webinar):
    c = login("viewer")
    html = post_rule(c, "/rules/preview", {"user_types": ["product_user"],
                                           "all": [{"list": webinar.id, "op": "member"}]}).get_data(as_text=True)
    assert "data-rb-count>1<" in html and "ann@bigco.test" in html and "bob@bigco.test" not in html
    html = post_rule(c, "/rules/preview", {"user_types": ["product_user"],
                                           "all": [{"list": webinar.id, "op": "not_member"}]}).get_data(as_text=True)
    assert "data-rb-count>1<" in html and "bob@bigco.test" in html
    half = post_rule(c, "/rules/preview", {"user_types": ["product_user"],
                                           "all": [{"list": None, "op": "member"}]}).get_data(as_text=True)
    assert "data-rb-count>2<" in half and "1 incomplete condition" in half


def test_explainer_says_in_list_yes_or_no_escaped(app, login, webinar):
    c = login("viewer")
    rule = {"user_types": ["product_user"], "all": [{"list": webinar.id, "op": "member"}]}
    yes = post_rule(c, "/rules/explain", rule, rb_explain="ann@bigco.test").get_data(as_text=True)
    assert 'data-rb-verdict="match"' in yes
    assert "In list Webinar — March &lt;script&gt;alert(&#34;list&#34;)&lt;/script&gt;: yes" in yes
    assert "<script>alert" not in yes
    no = post_rule(c, "/rules/explain", rule, rb_explain="bob@bigco.test").get_data(as_text=True)
    assert 'data-rb-verdict="no-match"' in no and "&lt;/script&gt;: no" in no


def test_preview_api_accepts_list_conditions_and_422s_an_unknown_list(api, webinar):
    res = api.post("/api/v1/preview", json={"rule": {"all": [{"list": webinar.id, "op": "member"}]}})
    assert res.status_code == 200 and res.get_json()["count"] == 1
    assert res.get_json()["sample"][0]["email"] == "ann@bigco.test"
    res = api.post("/api/v1/preview", json={"rule": {"any": [
        {"not": {"list": 424242, "op": "member"}}, {"list": "x", "op": "member"}]}})
    assert res.status_code == 422
    assert res.get_json()["errors"] == [
        {"path": "any[1].list", "message": "expected the id of a list (a whole number)"},
        {"path": "any[0].not.list", "message": "no list with id 424242"}]


def test_triggers_api_refuses_an_unknown_list_and_stores_nothing(api, webinar):
    rule = {"user_types": ["product_user"], "all": [{"list": 424242, "op": "member"}]}
    res = api.post("/api/v1/triggers", json={**BODY, "rule": rule})
    assert res.status_code == 422
    assert {"field": "rule.all[0].list", "message": "no list with id 424242"} in res.get_json()["errors"]
    assert db.session.query(Trigger).count() == 0
    ok = api.post("/api/v1/triggers", json={**BODY, "rule": {**rule, "all": [
        {"list": webinar.id, "op": "member"}]}})
    assert ok.status_code == 201, ok.get_json()


def test_persona_with_a_list_rule_saves_shows_and_refuses_an_unknown_list(app, login, webinar):
    c = login("manager")
    bad = {"user_types": ["product_user"], "all": [{"list": 424242, "op": "member"}]}
    res = c.post("/personas/new", data={"name": "Webinar people", "description": "",
                                        "rule_json": json.dumps(bad)})
    assert res.status_code == 422 and "no list with id 424242" in res.get_data(as_text=True)
    assert "“In list #424242”: no list with id 424242" in res.get_data(as_text=True)
    assert db.session.query(Persona).count() == 0
    good = {"user_types": ["product_user"], "all": [{"list": webinar.id, "op": "member"}]}
    res = c.post("/personas/new", data={"name": "Webinar people", "description": "",
                                        "rule_json": json.dumps(good)})
    assert res.status_code == 302
    persona = db.session.scalars(select(Persona)).one()
    assert persona.rule == good
    detail = c.get(f"/personas/{persona.id}").get_data(as_text=True)
    assert "In list" in detail and "&lt;script&gt;alert" in detail and "<script>alert" not in detail
    edit = c.get(f"/personas/{persona.id}/edit").get_data(as_text=True)
    assert 'value="list" selected' in edit and f'value="{webinar.id}" selected' in edit


def test_the_match_list_summary_names_the_list(app, login, webinar):
    rule = {"user_types": ["product_user"], "all": [{"list": webinar.id, "op": "not_member"}]}
    html = login("viewer").get("/rules/matches", query_string={"rule": json.dumps(rule)}).get_data(as_text=True)
    assert "Not in list" in html and "&lt;script&gt;alert" in html and "<script>alert" not in html
    assert "bob@bigco.test" in html and "ann@bigco.test" not in html


def test_the_trigger_wizard_refuses_an_unknown_list_and_keeps_a_good_list_rule(login, webinar):
    from tests.web.test_triggers_ui import RULE, _complete, _create

    client = login("admin")
    trigger = _complete(client, _create(client))
    bad = {"user_types": ["product_user"], "all": [{"list": 424242, "op": "member"}]}
    res = client.post(f"/triggers/{trigger.id}/edit/rule", data={
        "kind": "schedule", "audience": "rule", "rule-rule_json": json.dumps(bad), "action": "save"})
    assert res.status_code == 422
    page = res.get_data(as_text=True)
    assert "all[0].list" in page and "no list with id 424242" in page
    db.session.refresh(trigger)
    assert trigger.rule == RULE
    good = {"user_types": ["product_user"], "all": [{"list": webinar.id, "op": "not_member"}]}
    res = client.post(f"/triggers/{trigger.id}/edit/rule", data={
        "kind": "schedule", "audience": "rule", "rule-rule_json": json.dumps(good), "action": "save"})
    assert res.status_code == 302
    db.session.refresh(trigger)
    assert trigger.rule == good
