"""Compiled rules against the database: operators, NULL semantics, window
edges, JSON attributes, user types. Runs on SQLite and PostgreSQL."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine.rules import matching_contacts_select, preview
from extensions import db

NOW = datetime(2026, 1, 10, 12, 0, 0)
D = timedelta(days=1)


def ids(rule, now=NOW):
    return sorted(r.contact_id for r in db.session.execute(matching_contacts_select(rule, now)))


@pytest.fixture
def people(make):
    big = make.account(name="Big Co", arr=90000, plan="enterprise", status="active",
                       attributes={"seats": 40, "beta": True, "renewal": "2026-03-01"})
    small = make.account(name="Small", arr=32000, plan="pro", status="churned",
                         attributes={"seats": "40", "beta": False})
    bare = make.account(name="Bare", arr=None, plan=None, attributes={})
    ann = make.contact(account=big, role="admin", email="ann@big.co", is_product_user=True,
                       is_crm_contact=False, last_seen_at=NOW - 14 * D,
                       attributes={"nps": 9, "tier": "Gold", "trial_end": "2026-01-03T10:00:00"})
    bob = make.contact(account=small, role="Admin", email="bob@small.io", is_product_user=False,
                       is_crm_contact=True, last_seen_at=None, attributes={"nps": None, "tier": ""})
    cat = make.contact(account=bare, role=None, email="cat@bare.net", is_product_user=False,
                       is_crm_contact=False, last_seen_at=NOW - 31 * D, attributes={"nps": "9"})
    return {"ann": ann.id, "bob": bob.id, "cat": cat.id}


def test_text_operators_and_null_semantics(app, people):
    p = people
    assert ids({"field": "contact.role", "op": "eq", "value": "admin"}) == [p["ann"]]
    # ne / not_in never match a missing value; `not` is the exact complement.
    assert ids({"field": "contact.role", "op": "ne", "value": "admin"}) == [p["bob"]]
    assert ids({"not": {"field": "contact.role", "op": "eq", "value": "admin"}}) == [p["bob"], p["cat"]]
    assert ids({"field": "contact.role", "op": "not_in", "value": ["owner"]}) == [p["ann"], p["bob"]]
    assert ids({"field": "contact.role", "op": "in", "value": ["Admin", "owner"]}) == [p["bob"]]
    assert ids({"field": "contact.role", "op": "contains", "value": "DM"}) == [p["ann"], p["bob"]]
    assert ids({"field": "contact.email", "op": "starts_with", "value": "BOB@"}) == [p["bob"]]
    assert ids({"field": "contact.role", "op": "is_not_set"}) == [p["cat"]]
    assert ids({"field": "account.plan", "op": "is_set"}) == [p["ann"], p["bob"]]


def test_like_wildcards_are_plain_characters(app, make):
    a = make.contact(email="a_b@x.io")
    make.contact(email="axb@x.io")
    assert ids({"field": "contact.email", "op": "contains", "value": "a_b"}) == [a.id]
    assert ids({"field": "contact.email", "op": "contains", "value": "%"}) == []


def test_case_folding_is_ascii_only_on_both_databases(app, make):
    upper = make.contact(role="ÄDMIN")
    assert ids({"field": "contact.role", "op": "contains", "value": "Ädmin"}) == [upper.id]
    assert ids({"field": "contact.role", "op": "contains", "value": "ädmin"}) == []


def test_number_operators(app, people):
    p = people
    assert ids({"field": "account.arr", "op": "gt", "value": 50000}) == [p["ann"]]
    assert ids({"field": "account.arr", "op": "lte", "value": 32000}) == [p["bob"]]
    assert ids({"field": "account.arr", "op": "between", "value": [32000, 90000]}) == [p["ann"], p["bob"]]
    assert ids({"field": "account.arr", "op": "ne", "value": 1}) == [p["ann"], p["bob"]]
    assert ids({"not": {"field": "account.arr", "op": "gt", "value": 50000}}) == [p["bob"], p["cat"]]


def test_time_operators_on_the_window_edges(app, people):
    p = people
    # ann was seen exactly 14 days ago: not "older than 14", but "within the last 14".
    assert ids({"field": "contact.last_seen_at", "op": "older_than_days", "value": 14}) == [p["cat"]]
    assert ids({"field": "contact.last_seen_at", "op": "older_than_days", "value": 13}) == [p["ann"], p["cat"]]
    assert ids({"field": "contact.last_seen_at", "op": "within_last_days", "value": 14}) == [p["ann"]]
    assert ids({"field": "contact.last_seen_at", "op": "is_not_set"}) == [p["bob"]]
    seen = (NOW - 14 * D).isoformat()
    assert ids({"field": "contact.last_seen_at", "op": "before", "value": seen}) == [p["cat"]]
    assert ids({"field": "contact.last_seen_at", "op": "after", "value": "2025-12-01"}) == [p["ann"], p["cat"]]


def test_custom_attributes_match_only_their_json_type(app, people):
    p = people
    assert ids({"field": "contact.attributes.nps", "op": "gte", "value": 9}) == [p["ann"]]
    assert ids({"field": "contact.attributes.nps", "op": "eq", "value": "9"}) == [p["cat"]]
    assert ids({"field": "contact.attributes.nps", "op": "is_set"}) == [p["ann"], p["cat"]]
    assert ids({"field": "contact.attributes.nps", "op": "is_not_set"}) == [p["bob"]]
    assert ids({"field": "contact.attributes.tier", "op": "is_set"}) == [p["ann"]]
    assert ids({"field": "contact.attributes.tier", "op": "contains", "value": "gold"}) == [p["ann"]]
    assert ids({"field": "contact.attributes.missing", "op": "ne", "value": "x"}) == []
    assert ids({"field": "account.attributes.beta", "op": "is_true"}) == [p["ann"]]
    assert ids({"field": "account.attributes.beta", "op": "is_false"}) == [p["bob"]]
    assert ids({"not": {"field": "account.attributes.beta", "op": "is_true"}}) == [p["bob"], p["cat"]]
    assert ids({"field": "account.attributes.seats", "op": "eq", "value": 40}) == [p["ann"]]
    assert ids({"field": "account.attributes.seats", "op": "in", "value": ["40"]}) == [p["bob"]]


def test_time_attributes_compare_iso_strings(app, people):
    p = people
    assert ids({"field": "contact.attributes.trial_end", "op": "before", "value": "2026-01-04"}) == [p["ann"]]
    assert ids({"field": "contact.attributes.trial_end", "op": "within_last_days", "value": 7}) == []
    assert ids({"field": "contact.attributes.trial_end", "op": "within_last_days", "value": 8}) == [p["ann"]]
    assert ids({"field": "contact.attributes.trial_end", "op": "older_than_days", "value": 7}) == [p["ann"]]
    assert ids({"field": "account.attributes.renewal", "op": "after", "value": "2026-02-28T23:59:59Z"}) == [p["ann"]]
    assert ids({"field": "contact.attributes.tier", "op": "before", "value": "2999-01-01"}) == []


def test_user_types_follow_natero(app, people):
    p = people
    everyone = [p["ann"], p["bob"], p["cat"]]
    assert ids({}) == everyone                      # key absent: not restricted
    assert ids({"user_types": []}) == []            # none checked: nobody
    assert ids({"user_types": ["product_user"]}) == [p["ann"]]
    assert ids({"user_types": ["crm_contact"]}) == [p["bob"]]
    assert ids({"user_types": ["inactive"]}) == [p["bob"], p["cat"]]  # never seen, 31 days
    assert ids({"user_types": ["churned_account"]}) == [p["bob"]]
    assert ids({"user_types": ["product_user", "churned_account"], "all": [
        {"field": "contact.role", "op": "contains", "value": "admin"}]}) == [p["ann"], p["bob"]]


def test_inactive_threshold_comes_from_config(app, people):
    app.config["INACTIVE_AFTER_DAYS"] = 10
    assert ids({"user_types": ["inactive"]}) == [people["ann"], people["bob"], people["cat"]]


def test_event_counts_and_windows(app, make, people):
    ann, bob = people["ann"], people["bob"]
    from models import Contact

    a, b = db.session.get(Contact, ann), db.session.get(Contact, bob)
    for days in (0.5, 1, 2, 10):
        make.event(a, name="report_created", occurred_at=NOW - days * D)
    make.event(a, name="report_created", occurred_at=NOW + D)  # future: never counted
    make.event(b, name="report_created", occurred_at=NOW - 9 * D)
    rc = {"event": "report_created"}
    assert ids({**rc, "op": "count_eq", "value": 0, "within_days": 10}) == [people["cat"]]
    # within 2 days: (NOW-2d, NOW] -> ann has 2 (0.5 and 1 day ago; exactly 2 days is outside)
    assert ids({**rc, "op": "count_eq", "value": 2, "within_days": 2}) == [ann]
    assert ids({**rc, "op": "count_gte", "value": 4}) == [ann]       # all time: 4 (future excluded)
    assert ids({**rc, "op": "count_lt", "value": 1, "within_days": 5}) == [bob, people["cat"]]
    assert ids({**rc, "op": "count_lte", "value": 1}) == [bob, people["cat"]]
    assert ids({**rc, "op": "count_gt", "value": 0, "within_days": 10}) == [ann, bob]
    assert ids({**rc, "op": "count_gt", "value": 0, "within_days": 9}) == [ann]  # 9 days: outside


def test_dropped_by_pct(app, make):
    c = make.contact()
    steady = make.contact()
    for days in (8, 9, 10, 11, 1):        # 4 in the previous week, 1 this week: -75%
        make.event(c, name="export", occurred_at=NOW - days * D)
    for days in (1, 9):                     # 1 and 1: no drop
        make.event(steady, name="export", occurred_at=NOW - days * D)
    rule = {"event": "export", "op": "dropped_by_pct", "value": 75, "within_days": 7}
    assert ids(rule) == [c.id]
    assert ids({**rule, "value": 76}) == []
    assert ids({**rule, "value": 0}) == [c.id, steady.id]


def test_one_select_usable_as_a_subquery(app, people):
    sub = matching_contacts_select({"field": "account.arr", "op": "gt", "value": 1}, NOW).subquery()
    assert db.session.execute(select(func.count()).select_from(sub)).scalar() == 2


def test_preview_counts_accounts_and_shows_the_rule_fields(app, make, people):
    from models import Contact

    make.event(db.session.get(Contact, people["ann"]), name="login", occurred_at=NOW - D)
    rule = {"any": [{"field": "account.arr", "op": "gt", "value": 1},
                    {"field": "contact.attributes.nps", "op": "is_set"},
                    {"event": "login", "op": "count_gte", "value": 1, "within_days": 7}]}
    result = preview(rule, NOW, limit=2)
    assert result["count"] == 3 and result["accounts"] == 3
    assert len(result["sample"]) == 2
    first = result["sample"][0]
    assert first["email"] == "ann@big.co" and first["account_name"] == "Big Co"
    assert first["fields"] == {"account.arr": 90000, "contact.attributes.nps": 9,
                               "login (last 7 days)": 1}
    with pytest.raises(ValueError):
        preview(rule, NOW, limit=0)


def test_cached_preview_statement_follows_now(app, make, people):
    """The preview reuses its built statement; every instant must follow `now`."""
    from models import Contact

    ann = db.session.get(Contact, people["ann"])
    make.event(ann, name="login", occurred_at=NOW - 2 * D)
    rule = {"user_types": ["product_user", "inactive"], "any": [
        {"field": "contact.last_seen_at", "op": "within_last_days", "value": 20},
        {"field": "contact.attributes.trial_end", "op": "older_than_days", "value": 10},
        {"event": "login", "op": "count_gte", "value": 1, "within_days": 3}]}
    for days_later in (0, 5, 9, 30, 0):
        now = NOW + days_later * D
        expected = ids(rule, now)
        got = preview(rule, now, limit=100)
        assert sorted(s["contact_id"] for s in got["sample"]) == expected, days_later
        assert got["count"] == len(expected)
