"""The why / why not explainer: each node true/false with the actual value."""
from datetime import datetime, timedelta

import pytest

from engine.rules import explain, matching_contacts_select
from extensions import db

NOW = datetime(2026, 1, 10, 12, 0, 0)
RULE = {
    "user_types": ["product_user", "crm_contact"],
    "all": [
        {"field": "contact.role", "op": "eq", "value": "admin"},
        {"field": "account.arr", "op": "gt", "value": 50000},
        {"event": "report_created", "op": "count_eq", "value": 0, "within_days": 10},
        {"any": [{"field": "account.plan", "op": "in", "value": ["pro", "enterprise"]},
                 {"not": {"field": "contact.attributes.beta", "op": "is_true"}}]},
    ],
}


def test_explain_marks_each_condition_with_actual_values(app, make):
    acc = make.account(arr=32000, plan="starter")
    c = make.contact(account=acc, role="admin", is_product_user=True, attributes={"beta": True})
    make.event(c, name="report_created", occurred_at=NOW - timedelta(days=2))
    result = explain(RULE, c.id, NOW)
    assert result["matches"] is False
    nodes = {n["path"]: n for n in result["nodes"]}
    assert [n["path"] for n in result["nodes"]] == [
        "user_types", "", "all[0]", "all[1]", "all[2]", "all[3]", "all[3].any[0]",
        "all[3].any[1]", "all[3].any[1].not"]
    assert nodes["user_types"]["passed"] is True
    assert nodes["all[0]"]["passed"] is True
    assert nodes["all[1]"]["label"] == "account.arr = 32,000 — needs > 50,000 ✗"
    assert nodes["all[2]"]["actual"] == "1" and nodes["all[2]"]["passed"] is False
    assert nodes["all[3].any[0]"]["actual"] == "starter"
    assert nodes["all[3].any[1].not"]["passed"] is True
    assert nodes["all[3].any[1]"]["passed"] is False and nodes["all[3]"]["passed"] is False
    assert nodes[""]["actual"] == "1 of 4 true"
    assert [n["depth"] for n in result["nodes"]] == [0, 0, 1, 1, 1, 1, 2, 2, 3]


def test_explain_agrees_with_the_select(app, make):
    acc = make.account(arr=90000, plan="pro")
    yes = make.contact(account=acc, role="admin", is_product_user=True)
    no = make.contact(account=acc, role="admin", is_product_user=False, is_crm_contact=False)
    matched = {r.contact_id for r in db.session.execute(matching_contacts_select(RULE, NOW))}
    assert matched == {yes.id}
    assert explain(RULE, yes.id, NOW)["matches"] is True
    result = explain(RULE, no.id, NOW)
    assert result["matches"] is False
    assert result["nodes"][0]["passed"] is False and "neither" in result["nodes"][0]["actual"]


def test_explain_time_and_drop_texts(app, make):
    c = make.contact(last_seen_at=NOW - timedelta(days=20))
    for days in (8, 9, 1):
        make.event(c, name="export", occurred_at=NOW - timedelta(days=days))
    rule = {"all": [{"field": "contact.last_seen_at", "op": "older_than_days", "value": 14},
                    {"event": "export", "op": "dropped_by_pct", "value": 50, "within_days": 7},
                    {"field": "contact.timezone", "op": "is_set"}]}
    seen, drop, tz = explain(rule, c.id, NOW)["nodes"][2:]
    assert seen["label"] == ("contact.last_seen_at = 2025-12-21 12:00 UTC (20 days ago) — needs "
                             "more than 14 days ago ✓")
    assert drop["actual"] == "1 vs 2 in the 7 days before (-50%)" and drop["passed"] is True
    assert tz["actual"] == "(not set)" and tz["passed"] is False


def test_explain_unknown_contact(app):
    with pytest.raises(LookupError):
        explain(RULE, 12345, NOW)
