"""The reusable rule builder endpoints: rows, groups, JSON <-> visual, preview, explainer."""
import json
from datetime import timedelta

import pytest

from blueprints.rules.builder import rule_to_tree
from models.base import utcnow

ADMINS = {"user_types": ["product_user"], "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]}


@pytest.fixture
def data(make):
    from engine.rules import fields as rule_fields
    rule_fields._cache.clear()  # the catalog caches choices from the data for a minute
    big = make.account(name="Bigco", arr=90000, plan="enterprise", attributes={"tier": "gold"})
    small = make.account(name="Smallco", arr=5000, plan="starter")
    ann = make.contact(big, role="admin", email="ann@bigco.test", first_name="Ann", last_name="Admin")
    bob = make.contact(small, role="admin", email="bob@smallco.test")
    cy = make.contact(big, role="user", email="cy@bigco.test")
    return {"ann": ann, "bob": bob, "cy": cy}


def post_rule(client, url, rule, **extra):
    text = rule if isinstance(rule, str) else json.dumps(rule)
    return client.post(url, data={"rule_json": text, **extra}, headers={"HX-Request": "true"})


def test_condition_row_fits_the_field_type(app, login, data):
    c = login("viewer")
    number = c.get("/rules/condition?rb_field=account.arr&section=user").get_data(as_text=True)
    assert 'data-value-kind="number"' in number and 'value="gt"' in number
    plan = c.get("/rules/condition?rb_field=account.plan&rb_op=in&rb_prev_type=text").get_data(as_text=True)
    assert 'data-value-kind="checks"' in plan
    assert 'value="enterprise"' in plan and 'value="starter"' in plan  # choices from the data
    days = c.get("/rules/condition?rb_field=contact.last_seen_at&rb_op=older_than_days"
                 "&rb_prev_type=time&rb_value=14").get_data(as_text=True)
    assert 'data-value-kind="days"' in days and 'value="14"' in days
    # Changing to a field of another type resets the operator and value.
    switched = c.get("/rules/condition?rb_field=contact.role&rb_op=gt&rb_prev_type=number&rb_value=5")
    assert 'data-value-kind="text"' in switched.get_data(as_text=True)
    event = c.get("/rules/condition?rb_field=event:&rb_event_name=report_created").get_data(as_text=True)
    assert 'data-value-kind="event_count"' in event and "report_created" in event
    # The account section offers account fields only.
    account = c.get("/rules/condition?section=account&rb_field=contact.role").get_data(as_text=True)
    assert 'value="account.arr" selected' in account and "contact.role" not in account
    custom = c.get("/rules/condition?rb_field=account.attributes.tier").get_data(as_text=True)
    assert "Custom attributes" in custom and 'value="account.attributes.tier" selected' in custom


def test_group_and_visual_render(app, login, data):
    c = login("manager")
    group = c.get("/rules/group?mode=any").get_data(as_text=True)
    assert 'value="any" selected' in group and "rb-cond" in group
    nested = {"user_types": [], "all": [
        {"any": [{"field": "contact.role", "op": "eq", "value": "admin"},
                 {"not": {"field": "account.plan", "op": "in", "value": ["starter"]}}]},
        {"field": "account.arr", "op": "gt", "value": 50000}]}
    res = post_rule(c, "/rules/builder", nested)
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert 'value="any" selected' in html and 'value="none" selected' in html
    assert 'data-rb="account-enabled" checked' in html  # account.arr moved to the account rule
    assert "this rule matches nobody" in html  # no user type checked
    bad = post_rule(c, "/rules/builder", '{"all": [')
    assert bad.status_code == 422 and "malformed JSON" in bad.get_data(as_text=True)


def test_rule_to_tree_round_trip_shapes():
    tree = rule_to_tree({"all": [{"not": {"not": {"field": "contact.role", "op": "is_set"}}},
                                 {"field": "account.plan", "op": "eq", "value": "pro"}]})
    assert tree["user_types"] == ["product_user", "crm_contact", "inactive", "churned_account"]
    assert tree["account"][0]["field"] == "account.plan"
    assert tree["main"]["children"][0]["field"] == "contact.role"
    assert rule_to_tree({"any": []})["main"]["mode"] == "any"
    assert rule_to_tree({"field": "contact.role", "op": "is_set"})["main"]["children"][0]["op"] == "is_set"


def test_validate_shows_inline_errors(app, login):
    c = login("viewer")
    bad = post_rule(c, "/rules/validate", {"all": [{"field": "account.arr", "op": "gt", "value": "x"}]})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "all[0].value" in body and "expected a number" in body
    ok = post_rule(c, "/rules/validate", {"all": [{"event": "never_seen", "op": "count_eq", "value": 0}]})
    assert "Valid rule" in ok.get_data(as_text=True) and "never_seen" in ok.get_data(as_text=True)


def test_preview_counts_and_samples(app, login, data):
    c = login("viewer")
    rule = {"user_types": ["product_user"], "all": [
        {"field": "contact.role", "op": "eq", "value": "admin"},
        {"field": "account.arr", "op": "gt", "value": 50000}]}
    html = post_rule(c, "/rules/preview", rule).get_data(as_text=True)
    assert 'data-rb-count>1<' in html and 'data-rb-accounts>1<' in html
    assert "ann@bigco.test" in html and "bob@smallco.test" not in html
    assert "ARR" in html and "90,000" in html  # the fields the rule uses
    assert "/rules/matches?rule=" in html
    everyone = post_rule(c, "/rules/preview", ADMINS).get_data(as_text=True)
    assert 'data-rb-count>2<' in everyone and 'data-rb-accounts>2<' in everyone


@pytest.mark.parametrize("text, message", [
    ('{"all": [', "malformed JSON"),
    ('{"all": [{"field": "contact.nope", "op": "eq", "value": 1}]}', "unknown field"),
    ('{"all": [{"field": "account.arr", "op": "contains", "value": "1"}]}', "does not apply"),
    (json.dumps({"all": [{"field": "contact.role", "op": "in", "value": [str(i) for i in range(1001)]}]}),
     "too many values"),
    ("", "the rule is empty"),
    ("[1, 2]", "expected a JSON object"),
])
def test_preview_with_a_bad_rule_shows_the_error_not_a_500(app, login, text, message):
    res = post_rule(login("viewer"), "/rules/preview", text)
    assert res.status_code == 200
    assert message in res.get_data(as_text=True)
    assert "data-rb-errors" in res.get_data(as_text=True)


def test_preview_warns_about_unknown_events_and_no_user_types(app, login, data):
    c = login("viewer")
    html = post_rule(c, "/rules/preview", {"user_types": ["product_user"], "all": [
        {"event": "ghost_event", "op": "count_eq", "value": 0, "within_days": 7}]}).get_data(as_text=True)
    assert "ghost_event" in html and 'data-rb-count>3<' in html
    nobody = post_rule(c, "/rules/preview", {"user_types": [], "all": []}).get_data(as_text=True)
    assert "No user type is checked" in nobody and 'data-rb-count>0<' in nobody


def test_explainer_marks_each_condition(app, login, data, make):
    make.event(data["ann"], "report_created", occurred_at=utcnow() - timedelta(days=1))
    c = login("viewer")
    rule = {"user_types": ["product_user"], "all": [
        {"field": "contact.role", "op": "eq", "value": "admin"},
        {"field": "account.arr", "op": "gt", "value": 50000}]}
    html = post_rule(c, "/rules/explain", rule, rb_explain="BOB@smallco.test").get_data(as_text=True)
    assert 'data-rb-verdict="no-match"' in html
    assert "ARR: 5,000" in html and "✗" in html and "✓" in html  # builder labels, not paths
    match = post_rule(c, "/rules/explain", rule, rb_explain=data["ann"].external_id).get_data(as_text=True)
    assert 'data-rb-verdict="match"' in match
    missing = post_rule(c, "/rules/explain", rule, rb_explain="nobody@x.test").get_data(as_text=True)
    assert "No contact has the email" in missing
    broken = post_rule(c, "/rules/explain", '{"all": 3}', rb_explain="ann@bigco.test")
    assert broken.status_code == 200 and "Fix the rule first" in broken.get_data(as_text=True)
    assert post_rule(c, "/rules/explain", rule, rb_explain="").status_code == 200


def test_full_match_list_is_paginated(app, login, data, make):
    acc = make.account(name="Many")
    for _ in range(55):
        make.contact(acc, role="admin")
    c = login("viewer")
    text = json.dumps(ADMINS)
    first = c.get("/rules/matches", query_string={"rule": text})
    body = first.get_data(as_text=True)
    assert first.status_code == 200 and "57" in body and "Page 1 of 2" in body
    second = c.get("/rules/matches", query_string={"rule": text, "page": 2},
                   headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Page 2 of 2" in second and "<html" not in second
    assert c.get("/rules/matches", query_string={"rule": "{bad"}).status_code == 404


def test_builder_endpoints_need_login(client):
    assert client.post("/rules/preview", data={"rule_json": "{}"}).status_code in (302, 401)
    assert client.get("/rules/condition").status_code in (302, 401)


def test_iso_text_values_show_as_times_in_the_viewers_timezone(app):
    from blueprints.rules.values import show

    with app.test_request_context(headers={"Cookie": "tz=Europe%2FBerlin"}):
        assert show("2026-01-05T09:00:00Z") == "05 Jan 2026, 10:00 Berlin"
        assert show("2026-01-05T10:00:00+01:00") == "05 Jan 2026, 10:00 Berlin"  # the offset counts
        assert show("2026-01-05T09:00") == "05 Jan 2026, 10:00 Berlin"  # no offset: UTC
        assert show("2026-01-05T09:00, roughly") == "2026-01-05T09:00, roughly"


def test_full_match_list_says_how_many_are_held_back(app, login, make):
    """Issue 15 defect 11: the "see all matches" page counts like the preview."""
    from models.base import utcnow

    acc = make.account()
    make.contact(acc, role="admin")
    make.contact(acc, role="admin", unsubscribed_at=utcnow())
    c = login("viewer")
    rule = json.dumps({"field": "contact.role", "op": "eq", "value": "admin"})
    html = c.get("/rules/matches", query_string={"rule": rule}).get_data(as_text=True)
    text = " ".join(html.replace("</strong>", "").split())
    assert "2 match · 1 will be held back (unsubscribed), so 1 can be emailed" in text
