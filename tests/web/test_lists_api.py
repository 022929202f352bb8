"""Lists API (DESIGN.md "Lists and the change feed"): GET|POST /api/v1/lists and
POST|DELETE /api/v1/lists/<id>/members, atomic batches, the 401/404/413/422 shapes."""
import pytest
from sqlalchemy import func, select

from engine.contacts import lists as engine
from extensions import db
from models import ContactChange, ContactList, ListMember
from models.base import utcnow


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def people(make):
    acc = make.account()
    return [make.contact(acc, external_id=f"u{i}") for i in range(3)]


@pytest.fixture
def webinar(app):
    made = engine.create_list("Webinar — March", actor="cs@example.com", now=utcnow())
    db.session.commit()
    return made


def test_create_and_list(api):
    res = api.post("/api/v1/lists", json={"name": "  Beta   group "})
    assert res.status_code == 201
    made = res.get_json()
    assert made["name"] == "Beta group" and made["members"] == 0 and made["created_at"].endswith("Z")
    assert db.session.get(ContactList, made["id"]).created_by == "api: tests"
    api.post("/api/v1/lists", json={"name": "Alpha"})
    listing = api.get("/api/v1/lists").get_json()["lists"]
    assert [entry["name"] for entry in listing] == ["Alpha", "Beta group"]
    assert set(listing[0]) == {"id", "name", "members", "created_at"}


@pytest.mark.parametrize("body, message", [
    ({"name": ""}, "Give the list a name."),
    ({}, "Give the list a name."),
    ({"name": "x" * 10_000}, "at most 200 characters"),
    ({"name": ["a"]}, "must be text"),
    ({"name": "webinar — MARCH"}, "Another list already has this name."),
])
def test_bad_names_are_422_with_the_field(api, webinar, body, message):
    res = api.post("/api/v1/lists", json=body)
    assert res.status_code == 422
    (error,) = res.get_json()["errors"]
    assert error["field"] == "name" and message in error["message"]
    assert _count(ContactList) == 1


def test_add_and_remove_members_with_their_change_rows(api, webinar, people):
    url = f"/api/v1/lists/{webinar.id}/members"
    res = api.post(url, json={"contact_external_ids": ["u0", "u1", "u1"]})
    assert res.status_code == 200 and res.get_json() == {"added": 2}
    # Already in: a no-op that records nothing.
    assert api.post(url, json={"contact_external_ids": ["u0", "u1"]}).get_json() == {"added": 0}
    assert api.get("/api/v1/lists").get_json()["lists"][0]["members"] == 2
    res = api.delete(url, json={"contact_external_ids": ["u1", "u2"]})
    assert res.status_code == 200 and res.get_json() == {"removed": 1}
    assert api.delete(url, json={"contact_external_ids": ["u2"]}).get_json() == {"removed": 0}
    rows = db.session.execute(select(ContactChange.kind, ContactChange.source, ContactChange.actor)
                              .order_by(ContactChange.id)).all()
    assert rows == [("list_added", "api", "tests")] * 2 + [("list_removed", "api", "tests")]


def test_unknown_contacts_are_422_and_nothing_changes(api, webinar, people):
    url = f"/api/v1/lists/{webinar.id}/members"
    res = api.post(url, json={"contact_external_ids": ["u0", "ghost", 5, "u1", ""]})
    assert res.status_code == 422
    assert res.get_json() == {"errors": [
        {"index": 1, "field": "contact_external_ids", "message": "unknown contact “ghost”"},
        {"index": 2, "field": "contact_external_ids", "message": "must be a contact's external_id (text)"},
        {"index": 4, "field": "contact_external_ids", "message": "must be a contact's external_id (text)"}]}
    assert _count(ListMember) == 0 and _count(ContactChange) == 0
    api.post(url, json={"contact_external_ids": ["u0"]})
    assert api.delete(url, json={"contact_external_ids": ["u0", "ghost"]}).status_code == 422
    assert _count(ListMember) == 1 and _count(ContactChange) == 1


def test_unknown_list_is_404(api, people):
    for method in (api.post, api.delete):
        res = method("/api/v1/lists/999/members", json={"contact_external_ids": ["u0"]})
        assert res.status_code == 404 and res.get_json() == {"error": "no list with id 999"}
    assert api.post("/api/v1/lists/abc/members", json={}).status_code == 404


@pytest.mark.parametrize("body", [None, [], {"contact_external_ids": "u0"}, {"ids": ["u0"]}])
def test_malformed_bodies_are_400(api, webinar, body):
    res = api.post(f"/api/v1/lists/{webinar.id}/members", json=body)
    assert res.status_code == 400 and "contact_external_ids" in res.get_json()["error"]
    assert api.post("/api/v1/lists", json=["x"]).status_code == 400


def test_more_than_the_batch_limit_is_413(api, app, webinar, people):
    app.config["API_MAX_BATCH"] = 3
    res = api.post(f"/api/v1/lists/{webinar.id}/members", json={"contact_external_ids": ["u0"] * 4})
    assert res.status_code == 413 and "at most 3" in res.get_json()["error"]
    assert api.post(f"/api/v1/lists/{webinar.id}/members",
                    json={"contact_external_ids": ["u0", "u1", "u2"]}).get_json() == {"added": 3}


def test_ten_thousand_ids_is_the_default_limit(api, webinar, people):
    ids = ["u0"] * 10_000
    assert api.post(f"/api/v1/lists/{webinar.id}/members",
                    json={"contact_external_ids": ids}).get_json() == {"added": 1}
    res = api.post(f"/api/v1/lists/{webinar.id}/members", json={"contact_external_ids": ids + ["u1"]})
    assert res.status_code == 413


def test_without_a_key_it_is_401(client, webinar):
    for method, path in (("GET", "/api/v1/lists"), ("POST", "/api/v1/lists"),
                         ("POST", f"/api/v1/lists/{webinar.id}/members"),
                         ("DELETE", f"/api/v1/lists/{webinar.id}/members")):
        res = client.open(path, method=method, json={"name": "x", "contact_external_ids": []},
                          headers={"Authorization": "Bearer wrong"})
        assert res.status_code == 401 and res.get_json() == {"error": "missing or invalid API key"}
    assert _count(ContactList) == 1
