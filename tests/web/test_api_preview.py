"""POST /api/v1/preview (DESIGN.md "Public contracts")."""
from datetime import timedelta

import pytest

from models.base import utcnow


def test_preview_returns_count_accounts_and_sample(api, make):
    big = make.account(arr=90000, name="Big")
    for i in range(3):
        make.contact(account=big, role="admin", email=f"admin{i}@big.co")
    make.contact(account=make.account(arr=1000), role="admin")
    make.contact(account=big, role="user")
    resp = api.post("/api/v1/preview", json={"rule": {"all": [
        {"field": "contact.role", "op": "eq", "value": "admin"},
        {"field": "account.arr", "op": "gt", "value": 50000}]}, "limit": 2})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["count"] == 3 and body["accounts"] == 1
    assert [s["email"] for s in body["sample"]] == ["admin0@big.co", "admin1@big.co"]
    first = body["sample"][0]
    assert {"external_id", "email", "name", "account_name", "account_external_id",
            "fields"} <= set(first)
    assert first["fields"] == {"contact.role": "admin", "account.arr": 90000}
    assert body["warnings"] == []


def test_preview_default_limit_and_event_warning(api, make):
    c = make.contact()
    make.event(c, name="login", occurred_at=utcnow() - timedelta(hours=1))
    resp = api.post("/api/v1/preview", json={"rule": {"any": [
        {"event": "login", "op": "count_gte", "value": 1, "within_days": 1},
        {"event": "logn", "op": "count_gte", "value": 1}]}})
    body = resp.get_json()
    assert resp.status_code == 200 and body["count"] == 1
    assert body["warnings"] == ['no event named "logn" has been received yet']


def test_bad_rule_is_422_with_paths(api):
    resp = api.post("/api/v1/preview", json={"rule": {"all": [
        {"field": "contact.role", "op": "eq", "value": "admin"},
        {"field": "account.arr", "op": "gt", "value": "lots"},
        {"field": "contact.nope", "op": "eq", "value": 1}]}})
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == [
        {"path": "all[1].value", "message": "expected a number"},
        {"path": "all[2].field", "message": 'unknown field "contact.nope"'}]


def test_missing_rule_malformed_body_and_bad_limits(api, client):
    assert api.post("/api/v1/preview", json={}).status_code == 422
    assert api.post("/api/v1/preview", data="{nope", content_type="application/json").status_code == 400
    for limit in (0, 101, "5", True, 2.5):
        resp = api.post("/api/v1/preview", json={"rule": {}, "limit": limit})
        assert resp.status_code == 400, limit
        assert "limit" in resp.get_json()["error"]
    assert api.post("/api/v1/preview", json={"rule": "{oops"}).get_json()["errors"][0]["path"] == ""
    assert client.post("/api/v1/preview", json={"rule": {}}).status_code == 401


# Raw JSON, as an attacker types it: 1e400 is read as infinity, 2**63 just overflows BIGINT.
OUT_OF_RANGE = [
    ('{"field": "account.arr", "op": "gt", "value": 10000000000000000000000000000000000000000}', "all[0].value"),
    ('{"field": "account.arr", "op": "gt", "value": 9223372036854775808}', "all[0].value"),
    ('{"field": "account.arr", "op": "lt", "value": -9223372036854775809}', "all[0].value"),
    ('{"field": "account.arr", "op": "gte", "value": 1e300}', "all[0].value"),
    ('{"field": "account.arr", "op": "gte", "value": 1e400}', "all[0].value"),
    ('{"field": "account.arr", "op": "between", "value": [0, 1e40]}', "all[0].value"),
    ('{"field": "account.attributes.score", "op": "eq", "value": 9223372036854775808}', "all[0].value"),
    ('{"field": "account.attributes.score", "op": "gt", "value": -1e300}', "all[0].value"),
    ('{"event": "login", "op": "count_gt", "value": 9223372036854775808}', "all[0].value"),
    ('{"event": "login", "op": "count_gte", "value": 2147483648}', "all[0].value"),  # INTEGER on PG
]


@pytest.mark.parametrize("condition, path", OUT_OF_RANGE)
def test_numbers_outside_the_databases_range_are_422_with_the_path(api, make, condition, path):
    make.contact(account=make.account(arr=90000, attributes={"score": 3}))
    body = '{"rule": {"all": [' + condition + ']}}'
    resp = api.post("/api/v1/preview", data=body, content_type="application/json")
    assert resp.status_code == 422, resp.get_data(as_text=True)
    [error] = resp.get_json()["errors"]
    assert error["path"] == path
    assert ("from -9223372036854775808 to 9223372036854775807" in error["message"]
            or "events must be from 0 to 2147483647" in error["message"])


def test_the_largest_numbers_the_databases_hold_still_work(api, make):
    make.contact(account=make.account(arr=90000, attributes={"score": 3}))
    for value in (9223372036854775807, -9223372036854775808, 9.2e18, 1e-300):
        resp = api.post("/api/v1/preview", json={"rule": {"any": [
            {"field": "account.arr", "op": "lt", "value": value},
            {"field": "account.attributes.score", "op": "lt", "value": value},
            {"event": "login", "op": "count_lt", "value": 2**31 - 1},
            {"event": "login", "op": "count_gte", "value": 2**31 - 1}]}})
        assert resp.status_code == 200, (value, resp.get_data(as_text=True))


def test_preview_adds_held_back_counts(api, make):
    """Issue 15 defect 11: additive fields only; count stays every match."""
    acc = make.account()
    make.contact(account=acc, role="admin")
    make.contact(account=acc, role="admin", unsubscribed_at=utcnow())
    resp = api.post("/api/v1/preview", json={"rule": {"field": "contact.role", "op": "eq",
                                                      "value": "admin"}})
    body = resp.get_json()
    assert resp.status_code == 200 and body["count"] == 2
    assert body["held_back"] == {"unsubscribed": 1, "bounced": 0, "no_email": 0}
    assert body["reachable"] == 1
