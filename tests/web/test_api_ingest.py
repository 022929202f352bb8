"""Ingest API contract (DESIGN.md "Public contracts"): every bad input is a clear 4xx and stores nothing."""
from datetime import datetime, timedelta

import pytest

from extensions import db
from models import Account, ApiKey, Contact, Event
from models.base import utcnow


def _count(model):
    return db.session.query(model).count()


def _account(**kw):
    item = {"external_id": "acme", "name": "Acme", "arr": 120000, "plan": "pro",
            "status": "active", "attributes": {"region": "EU"}}
    item.update(kw)
    return item


def _contact(**kw):
    item = {"external_id": "u1", "account_external_id": "acme", "email": "ann@acme.io",
            "first_name": "Ann", "last_name": "Lee", "role": "admin", "is_crm_contact": False,
            "is_product_user": True, "timezone": "Europe/Berlin",
            "created_at": "2025-11-02T10:00:00Z", "last_seen_at": "2026-01-04T09:30:00+01:00",
            "attributes": {"beta": True}}
    item.update(kw)
    return item


def test_accounts_create_then_update(api):
    res = api.post("/api/v1/accounts", json={"accounts": [_account(), _account(external_id="b", name="B")]})
    assert res.status_code == 200
    assert res.get_json() == {"created": 2, "updated": 0}
    res = api.post("/api/v1/accounts", json={"accounts": [
        {"external_id": "acme", "name": "Acme Inc", "status": "churned", "attributes": {"tier": 1}}]})
    assert res.get_json() == {"created": 0, "updated": 1}
    acme = Account.query.filter_by(external_id="acme").one()
    db.session.refresh(acme)
    assert acme.name == "Acme Inc" and acme.status == "churned"
    assert float(acme.arr) == 120000 and acme.plan == "pro"  # omitted fields keep their value
    assert acme.attributes == {"region": "EU", "tier": 1}  # attributes merge


def test_contacts_upsert_and_time_conversion(api):
    api.post("/api/v1/accounts", json={"accounts": [_account()]})
    res = api.post("/api/v1/contacts", json={"contacts": [_contact(), _contact(
        external_id="u2", email="Bob@ACME.io", timezone=None, last_seen_at=None)]})
    assert res.status_code == 200, res.get_json()
    assert res.get_json() == {"created": 2, "updated": 0}
    ann = Contact.query.filter_by(external_id="u1").one()
    assert ann.account.external_id == "acme"
    assert ann.last_seen_at == datetime(2026, 1, 4, 8, 30)  # naive UTC
    assert ann.created_at == datetime(2025, 11, 2, 10, 0)
    assert Contact.query.filter_by(external_id="u2").one().email == "Bob@acme.io"
    res = api.post("/api/v1/contacts", json={"contacts": [
        {"external_id": "u1", "account_external_id": "acme", "email": "ann@acme.io", "role": "owner"}]})
    assert res.get_json() == {"created": 0, "updated": 1}
    db.session.expire_all()
    ann = Contact.query.filter_by(external_id="u1").one()
    assert ann.role == "owner" and ann.first_name == "Ann" and ann.timezone == "Europe/Berlin"


def test_events_are_idempotent_by_external_id(api, make):
    c = make.contact(external_id="u9")
    events = [{"contact_external_id": "u9", "name": "report_created",
               "occurred_at": "2026-01-05T09:00:00Z", "properties": {"n": 1}, "external_id": "e1"},
              {"contact_external_id": "u9", "name": "login", "occurred_at": "2026-01-05T10:00:00Z"},
              {"contact_external_id": "u9", "name": "report_created",
               "occurred_at": "2026-01-05T09:00:00Z", "external_id": "e1"}]  # same batch repeat
    res = api.post("/api/v1/events", json={"events": events})
    assert res.get_json() == {"created": 2, "updated": 0}
    res = api.post("/api/v1/events", json={"events": events[:1]})  # re-sent
    assert res.get_json() == {"created": 0, "updated": 0}
    assert Event.query.filter_by(contact_id=c.id).count() == 2
    assert Event.query.filter_by(external_id="e1").one().properties == {"n": 1}


def test_events_queue_persona_refresh_for_touched_contacts(api, make, monkeypatch):
    personas = pytest.importorskip("engine.personas")
    if not hasattr(personas, "ring_refresh_for_contacts"):
        pytest.skip("personas area not landed")
    calls = []
    monkeypatch.setattr(personas, "ring_refresh_for_contacts", calls.append)
    c = make.contact(external_id="u5")
    api.post("/api/v1/events", json={"events": [
        {"contact_external_id": "u5", "name": "login", "occurred_at": "2026-01-05T10:00:00Z"}]})
    assert calls == [[c.id]]


def test_events_refresh_personas_end_to_end(api, make, run_jobs):
    # Events through the API -> RQ job on real Redis -> the contact enters the persona.
    from models import Persona, PersonaMember

    persona = Persona(name="Reporters", rule={"all": [
        {"event": "report_created", "op": "count_gte", "value": 1, "within_days": 30}]})
    db.session.add(persona)
    db.session.commit()
    c = make.contact(external_id="u7")
    yesterday = (utcnow() - timedelta(days=1)).isoformat() + "Z"
    res = api.post("/api/v1/events", json={"events": [
        {"contact_external_id": "u7", "name": "report_created", "occurred_at": yesterday}]})
    assert res.status_code == 200
    run_jobs()
    assert PersonaMember.query.filter_by(persona_id=persona.id, contact_id=c.id).count() == 1


@pytest.mark.parametrize("data", [b"{not json", b"[]", b'"text"', b""])
def test_bad_json_is_400(api, data):
    res = api.post("/api/v1/accounts", data=data, content_type="application/json")
    assert res.status_code == 400
    assert "error" in res.get_json()


@pytest.mark.parametrize("body", [{}, {"accounts": {"external_id": "x"}}, {"contacts": []}])
def test_missing_list_is_400(api, body):
    res = api.post("/api/v1/accounts", json=body)
    assert res.status_code == 400
    assert "accounts" in res.get_json()["error"]


def test_empty_batch_is_fine(api):
    assert api.post("/api/v1/events", json={"events": []}).get_json() == {"created": 0, "updated": 0}


@pytest.mark.parametrize("item, field", [
    (_account(arr="lots"), "arr"),
    (_account(arr=True), "arr"),
    (_account(arr=float("inf")), "arr"),
    (_account(status="gone"), "status"),
    (_account(attributes=[1]), "attributes"),
    (_account(name=""), "name"),
    (_account(name=None), "name"),
    (_account(external_id=7), "external_id"),
    (_account(external_id="x" * 256), "external_id"),
    (_account(colour="red"), "colour"),
    ({"name": "No id"}, "external_id"),
])
def test_invalid_account_items_are_422(api, item, field):
    res = api.post("/api/v1/accounts", json={"accounts": [_account(external_id="ok"), item]})
    assert res.status_code == 422
    errors = res.get_json()["errors"]
    assert {"index": 1, "field": field} == {k: errors[0][k] for k in ("index", "field")}
    assert errors[0]["message"]
    assert _count(Account) == 0  # atomic: the valid first item is not stored either


@pytest.mark.parametrize("item, field, message", [
    (_contact(email="not-an-email"), "email", "valid email"),
    (_contact(email="ann@localhost"), "email", "valid email"),
    (_contact(is_crm_contact="yes"), "is_crm_contact", "true or false"),
    (_contact(is_product_user=1), "is_product_user", "true or false"),
    (_contact(timezone="Mars/Olympus"), "timezone", "IANA"),
    (_contact(last_seen_at="yesterday"), "last_seen_at", "ISO-8601"),
    (_contact(created_at=1700000000), "created_at", "ISO-8601"),
    (_contact(created_at=None), "created_at", "ISO-8601"),
    (_contact(account_external_id="nope"), "account_external_id", "unknown account"),
    (_contact(attributes="x"), "attributes", "object"),
    (_contact(attributes={"score": float("nan")}), "attributes", "no NaN"),
])
def test_invalid_contact_items_are_422(api, item, field, message):
    api.post("/api/v1/accounts", json={"accounts": [_account()]})
    res = api.post("/api/v1/contacts", json={"contacts": [_contact(external_id="good"), item]})
    assert res.status_code == 422
    error = res.get_json()["errors"][0]
    assert (error["index"], error["field"]) == (1, field)
    assert message in error["message"]
    assert _count(Contact) == 0


def test_every_error_is_reported(api):
    res = api.post("/api/v1/contacts", json={"contacts": [
        "not an object", {"external_id": "a", "email": "x", "foo": 1}]})
    errors = res.get_json()["errors"]
    assert {"index": 0, "field": None, "message": "must be an object"} in errors
    fields = {e["field"] for e in errors if e["index"] == 1}
    assert fields == {"email", "foo", "account_external_id"}


def test_duplicate_external_id_in_batch(api):
    res = api.post("/api/v1/accounts", json={"accounts": [_account(), _account(name="Again")]})
    assert res.status_code == 422
    assert res.get_json()["errors"] == [
        {"index": 1, "field": "external_id", "message": "appears more than once in this batch"}]


def test_invalid_events_are_422(api, make):
    make.contact(external_id="u1")
    res = api.post("/api/v1/events", json={"events": [
        {"contact_external_id": "u1", "name": "login", "occurred_at": "2026-01-05T10:00:00Z"},
        {"contact_external_id": "ghost", "name": "login", "occurred_at": "2026-01-05T10:00:00Z"},
        {"contact_external_id": "u1", "name": "login"},
        {"contact_external_id": "u1", "name": "login", "occurred_at": "2026-01-05", "properties": 3},
    ]})
    assert res.status_code == 422
    got = {(e["index"], e["field"]) for e in res.get_json()["errors"]}
    assert got == {(1, "contact_external_id"), (2, "occurred_at"), (3, "properties")}
    assert _count(Event) == 0


def test_batch_too_large_is_413(api, app):
    app.config["API_MAX_BATCH"] = 3
    res = api.post("/api/v1/accounts", json={"accounts": [_account(external_id=str(i)) for i in range(4)]})
    assert res.status_code == 413
    assert "at most 3" in res.get_json()["error"]
    assert _count(Account) == 0


def test_default_limit_is_10000(api):
    items = [{"external_id": str(i)} for i in range(10_001)]
    assert api.post("/api/v1/accounts", json={"accounts": items}).status_code == 413


def test_401_without_or_with_bad_or_revoked_key(client, api, api_key):
    body = {"accounts": [_account()]}
    assert client.post("/api/v1/accounts", json=body).status_code == 401
    res = client.post("/api/v1/accounts", json=body, headers={"Authorization": "Bearer wrong"})
    assert res.status_code == 401 and res.get_json() == {"error": "missing or invalid API key"}
    key = ApiKey.query.one()
    key.revoked_at = utcnow()
    db.session.commit()
    assert api.post("/api/v1/accounts", json=body).status_code == 401
    assert _count(Account) == 0


def test_create_api_key_command(app, client):
    result = app.test_cli_runner().invoke(args=["nudge", "create-api-key", "CRM sync"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip()
    key = ApiKey.query.filter_by(name="CRM sync").one()
    assert raw not in (key.key_hash, key.prefix)  # only the hash is stored
    res = client.post("/api/v1/accounts", json={"accounts": [_account()]},
                      headers={"Authorization": f"Bearer {raw}"})
    assert res.status_code == 200
    db.session.refresh(key)
    assert key.last_used_at is not None


def test_last_used_is_kept_to_the_minute_without_a_write_per_call(app, client):
    from datetime import timedelta

    from models.base import utcnow

    raw = app.test_cli_runner().invoke(args=["nudge", "create-api-key", "Busy sync"]).output.strip()
    key = ApiKey.query.filter_by(name="Busy sync").one()
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.post("/api/v1/accounts", json={"accounts": [_account()]}, headers=headers).status_code == 200
    db.session.refresh(key)
    first = key.last_used_at
    assert client.post("/api/v1/accounts", json={"accounts": [_account()]}, headers=headers).status_code == 200
    db.session.refresh(key)
    assert key.last_used_at == first  # a second call within the minute writes nothing
    key.last_used_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert client.post("/api/v1/accounts", json={"accounts": [_account()]}, headers=headers).status_code == 200
    db.session.refresh(key)
    assert key.last_used_at > utcnow() - timedelta(minutes=1)
