"""Rule parsing and validation: every problem reported with the path of its node."""
import json
from datetime import datetime

import pytest

from engine.rules.nodes import EventCond, FieldCond, Group, Not
from engine.rules import (
    MAX_CONDITIONS, MAX_IN_VALUES, RuleError, field_catalog, parse_rule, rule_fields_used,
)

DESIGN_EXAMPLE = {
    "user_types": ["product_user", "crm_contact", "inactive", "churned_account"],
    "all": [
        {"field": "contact.role", "op": "eq", "value": "admin"},
        {"field": "account.arr", "op": "gt", "value": 50000},
        {"field": "contact.last_seen_at", "op": "older_than_days", "value": 14},
        {"event": "report_created", "op": "count_eq", "value": 0, "within_days": 10},
        {"any": [{"field": "account.plan", "op": "in", "value": ["pro", "enterprise"]},
                 {"not": {"field": "contact.attributes.beta", "op": "is_true"}}]},
    ],
}


def errors_of(rule):
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    return {e["path"]: e["message"] for e in info.value.errors}


def test_design_example_parses_into_the_ast():
    rule = parse_rule(DESIGN_EXAMPLE)
    assert rule.user_types == ("product_user", "crm_contact", "inactive", "churned_account")
    assert isinstance(rule.root, Group) and rule.root.kind == "all"
    role, arr, seen, event, any_group = rule.root.children
    assert isinstance(role, FieldCond) and role.field.type == "text" and role.path == "all[0]"
    assert arr.field.type == "number" and arr.value == 50000
    assert isinstance(event, EventCond) and event.within_days == 10
    assert isinstance(any_group.children[1], Not)
    beta = any_group.children[1].child
    assert beta.field.key == "beta" and beta.field.type == "boolean"
    assert beta.path == "all[4].any[1].not"
    assert rule_fields_used(DESIGN_EXAMPLE) == [
        "contact.role", "account.arr", "contact.last_seen_at", "account.plan",
        "contact.attributes.beta"]


def test_json_text_is_accepted_and_malformed_json_is_a_clean_error():
    assert parse_rule(json.dumps(DESIGN_EXAMPLE)).user_types is not None
    errors = errors_of('{"all": [')
    assert list(errors) == [""] and errors[""].startswith("malformed JSON")


def test_all_errors_are_collected_with_paths():
    errors = errors_of({"user_types": ["admins"], "all": [
        {"field": "contact.shoe_size", "op": "eq", "value": 1},
        {"field": "account.arr", "op": "gt", "value": "a lot"},
        {"field": "contact.role", "op": "gt", "value": 3},
        {"field": "contact.last_seen_at", "op": "before", "value": "yesterday"},
        {"event": "login", "op": "count_gte", "value": -1, "within_days": 0},
        {"any": [{"field": "account.plan", "op": "in", "value": []}, 7]},
        {"event": "login", "op": "dropped_by_pct", "value": 50},
        {"field": "account.arr", "op": "between", "value": [10, 1]},
        {"field": "contact.role", "op": "eq", "value": "x", "colour": "red"},
    ]})
    assert errors == {
        "user_types[0]": errors["user_types[0]"],
        "all[0].field": 'unknown field "contact.shoe_size"',
        "all[1].value": "expected a number",
        "all[2].op": errors["all[2].op"],
        "all[3].value": "expected a date or date-time (ISO 8601, e.g. 2026-01-05)",
        "all[4].value": "expected a whole number of events (0 or more)",
        "all[4].within_days": "expected a whole number of days from 1 to 36500",
        "all[5].any[0].value": "expected a non-empty list of texts",
        "all[5].any[1]": errors["all[5].any[1]"],
        "all[6].within_days": "dropped_by_pct needs within_days (the window length)",
        "all[7].value": "low must not be greater than high",
        "all[8].colour": "unknown key",
    }
    assert 'operator "gt" does not apply to text field contact.role' in errors["all[2].op"]
    assert "unknown user type" in errors["user_types[0]"]


def test_str_of_the_error_names_paths():
    with pytest.raises(RuleError) as info:
        parse_rule({"all": [{"field": "contact.role"}, {"field": "account.arr", "op": "gt", "value": True}]})
    assert str(info.value) == "all[0].op: expected an operator; all[1].value: expected a number"


def test_limits_are_enforced_with_clear_messages():
    big = {"field": "account.plan", "op": "in", "value": [str(i) for i in range(MAX_IN_VALUES + 1)]}
    assert errors_of({"all": [big]}) == {"all[0].value": "too many values (1001; at most 1000)"}
    leaf = {"field": "contact.role", "op": "is_set"}
    many = errors_of({"any": [leaf] * (MAX_CONDITIONS + 1)})
    assert many == {"": "too many conditions (101; at most 100)"}
    deep = leaf
    for _ in range(9):
        deep = {"not": deep}
    path, message = next(iter(errors_of(deep).items()))
    assert path == ".".join(["not"] * 9) and "nested too deeply" in message
    ok = leaf
    for _ in range(8):
        ok = {"not": ok}
    parse_rule(ok)


@pytest.mark.parametrize("rule, path, message", [
    ([], "", "expected a JSON object"),
    ({"colour": "red"}, "colour", "unknown key"),
    ({"all": {"field": "contact.role"}}, "all", "expected a list of conditions"),
    ({"all": [], "any": []}, "", "a node is either one group (all / any / not) or one condition"),
    ({"field": "contact.attributes.a b", "op": "is_set"}, "field", "custom attribute keys use letters, digits, _ and - (max 64)"),
    ({"field": "contact.attributes.x", "op": "eq", "value": True}, "value", "expected a text or a number"),
    ({"field": "contact.attributes.x", "op": "wobble"}, "op", 'unknown operator "wobble"'),
    ({"field": "contact.role", "op": "contains", "value": ""}, "value", "expected a non-empty text"),
    ({"field": "contact.last_seen_at", "op": "older_than_days", "value": 1.5}, "value",
     "expected a whole number of days from 0 to 36500"),
    ({"event": "login", "op": "dropped_by_pct", "value": 120, "within_days": 7}, "value",
     "expected a percentage from 0 to 100"),
    ({"event": "login", "op": "count_between", "value": 1}, "op", None),
    ({"field": "contact.role", "event": "login"}, "", 'a condition has one of "field", "event" or "list", not several'),
    ({"user_types": "inactive"}, "user_types", "expected a list of user types"),
])
def test_single_bad_nodes(rule, path, message):
    errors = errors_of(rule)
    assert path in errors
    if message:
        assert errors[path] == message


def test_empty_rules_and_user_types_forms():
    assert parse_rule({}).user_types is None
    assert parse_rule({"user_types": []}).user_types == ()
    assert parse_rule({"user_types": None, "all": []}).user_types is None
    single = parse_rule({"field": "contact.is_crm_contact", "op": "is_true"})
    assert isinstance(single.root, FieldCond) and single.root.path == ""
    # Valueless operators ignore whatever value the builder sends along.
    assert parse_rule({"field": "contact.role", "op": "is_set", "value": ""}).root.value is None


def test_attribute_type_comes_from_operator_and_value():
    def typ(cond):
        return parse_rule(cond).root.field.type

    assert typ({"field": "account.attributes.seats", "op": "eq", "value": 5}) == "number"
    assert typ({"field": "account.attributes.seats", "op": "eq", "value": "5"}) == "text"
    assert typ({"field": "account.attributes.seats", "op": "gte", "value": 5}) == "number"
    assert typ({"field": "contact.attributes.beta", "op": "is_false"}) == "boolean"
    assert typ({"field": "contact.attributes.trial_end", "op": "before", "value": "2026-02-01"}) == "time"
    assert typ({"field": "contact.attributes.any", "op": "is_set"}) == "any"


def test_time_values_are_normalised_to_naive_utc():
    rule = parse_rule({"field": "contact.created_at", "op": "after", "value": "2026-01-05T10:00:00+02:00"})
    assert rule.root.value.isoformat() == "2026-01-05T08:00:00"
    for text in ("2026-01-05T08:00:00Z", "2026-01-05t08:00z", " 2026-01-05 08:00 ", "2026-01-05T09:00+01:00"):
        assert parse_rule({"field": "contact.created_at", "op": "after", "value": text}).root.value \
            == datetime(2026, 1, 5, 8), text
    assert parse_rule({"field": "contact.created_at", "op": "after", "value": "2026-01-05"}).root.value \
        == datetime(2026, 1, 5)
    with pytest.raises(RuleError, match="value"):
        parse_rule({"field": "contact.created_at", "op": "after", "value": "5 Jan 2026"})


def test_field_catalog_lists_every_column_with_type_operators():
    catalog = {f["path"]: f for f in field_catalog(with_data=False)}
    assert catalog["account.arr"]["type"] == "number"
    assert catalog["contact.last_seen_at"]["operators"][:2] == ["before", "after"]
    assert catalog["contact.role"]["group"] == "Contact"
    assert catalog["account.plan"]["group"] == "Account"


def test_field_catalog_with_data_lists_choices_attributes_and_events(app, make):
    acc = make.account(plan="enterprise", attributes={"seats": 12, "beta": True})
    con = make.contact(account=acc, role="admin", attributes={"nps": "great"})
    for name in ("report_created", "export", "login", "export"):
        make.event(con, name=name)
    catalog = {f["path"]: f for f in field_catalog()}
    assert [f["event"] for f in catalog.values() if f["group"] == "Events"] == [
        "export", "login", "report_created"]
    assert "enterprise" in catalog["account.plan"]["choices"]
    assert "admin" in catalog["contact.role"]["choices"]
    assert catalog["account.attributes.seats"]["type"] == "number"
    assert catalog["account.attributes.beta"]["type"] == "boolean"
    assert catalog["contact.attributes.nps"]["group"] == "Custom attributes"
    assert catalog["event:report_created"]["type"] == "event"
