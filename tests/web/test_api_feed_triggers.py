"""Triggers API for the change-feed kinds: list_id, field, from, to and the
additive once_per_24h field; every bad input is a 422 naming the field, and
nothing is stored."""
import pytest

from extensions import db
from models import Trigger

BASE = {"name": "Welcome to pro", "from_email": "cs@example.com", "subject": "Hi {{ contact.first_name }}",
        "html": "<p>Welcome to pro</p>", "rule": None}


def test_field_updated_round_trips_with_from_to_and_defaults_once_per_24h_on(api):
    res = api.post("/api/v1/triggers", json=dict(BASE, kind="field_updated",
                                                  field="contact.attributes.plan", to="pro"))
    assert res.status_code == 201, res.get_json()
    data = res.get_json()
    assert (data["kind"], data["field"], data["from"], data["to"], data["once_per_24h"],
            data["list_id"]) == ("field_updated", "contact.attributes.plan", None, "pro", True, None)
    stored = db.session.get(Trigger, data["id"])
    assert (stored.from_value, stored.to_value) == (None, '"pro"')  # the feed's JSON text
    assert api.get(f"/api/v1/triggers/{data['id']}").get_json() == data
    # A GET body sent back is accepted; typed values stay typed.
    res = api.put(f"/api/v1/triggers/{data['id']}", json=dict(data, **{"from": 3, "to": True}))
    assert res.status_code == 200
    assert (res.get_json()["from"], res.get_json()["to"]) == (3, True)
    assert api.post(f"/api/v1/triggers/{data['id']}/activate").status_code == 200


def test_built_in_contact_columns_are_fields_too(api):
    res = api.post("/api/v1/triggers", json=dict(BASE, kind="field_updated", field="contact.role",
                                                  **{"from": "user", "to": "admin"}))
    assert res.status_code == 201 and res.get_json()["field"] == "contact.role"


def test_list_kinds_and_contact_created(api, make):
    webinar = make.contact_list("Webinar — March")
    for kind in ("list_added", "list_removed"):
        res = api.post("/api/v1/triggers", json=dict(BASE, kind=kind, list_id=webinar.id))
        assert res.status_code == 201 and res.get_json()["list_id"] == webinar.id
    res = api.post("/api/v1/triggers", json=dict(BASE, kind="contact_created", once_per_24h=False))
    assert res.status_code == 201 and res.get_json()["once_per_24h"] is False


def test_old_kinds_default_once_per_24h_off_and_may_turn_it_on(api):
    res = api.post("/api/v1/triggers", json=dict(BASE, kind="event", event_name="export_failed"))
    assert res.get_json()["once_per_24h"] is False
    res = api.post("/api/v1/triggers", json=dict(BASE, name="Daily", rule={"all": []}, once_per_24h=True))
    assert res.status_code == 201 and res.get_json()["once_per_24h"] is True


def test_a_put_changing_the_kind_takes_its_default_unless_given(api):
    tid = api.post("/api/v1/triggers", json=dict(BASE, rule={"all": []})).get_json()["id"]
    res = api.put(f"/api/v1/triggers/{tid}", json={"kind": "contact_created"})
    assert res.get_json()["once_per_24h"] is True
    res = api.put(f"/api/v1/triggers/{tid}", json={"kind": "schedule", "once_per_24h": True})
    assert res.get_json()["once_per_24h"] is True


def test_fields_another_kind_does_not_use_are_cleared(api, make):
    webinar = make.contact_list()
    res = api.post("/api/v1/triggers", json=dict(BASE, kind="contact_created", list_id=webinar.id,
                                                  field="contact.role", to="admin"))
    data = res.get_json()
    assert (data["list_id"], data["field"], data["to"]) == (None, None, None)


@pytest.mark.parametrize("body, field, words", [
    ({"kind": "field_updated"}, "field", "choose the contact field"),
    ({"kind": "field_updated", "field": "contact.nope"}, "field", "is not a contact field"),
    ({"kind": "field_updated", "field": "account.plan"}, "field", "is not a contact field"),
    ({"kind": "field_updated", "field": "contact.attributes."}, "field", "is not a contact field"),
    ({"kind": "field_updated", "field": 7}, "field", "must be a string"),
    ({"kind": "field_updated", "field": "contact.attributes.plan", "from": "pro", "to": "pro"},
     "to", "is the same as the from value"),
    ({"kind": "field_updated", "field": "contact.attributes.plan", "to": ["pro"]}, "to", "must be a text"),
    ({"kind": "field_updated", "field": "contact.attributes.plan", "from": {"a": 1}}, "from", "must be a text"),
    ({"kind": "list_added"}, "list_id", "choose the list"),
    ({"kind": "list_removed", "list_id": 999999}, "list_id", "no such list"),
    ({"kind": "list_added", "list_id": "3"}, "list_id", "whole number"),
    ({"kind": "contact_created", "once_per_24h": "yes"}, "once_per_24h", "true or false"),
    ({"kind": "contact_changed"}, "kind", "must be one of"),
])
def test_bad_feed_fields_are_422_with_the_field_and_nothing_stored(api, body, field, words):
    res = api.post("/api/v1/triggers", json=dict(BASE, **body))
    assert res.status_code == 422
    errors = res.get_json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors
    assert Trigger.query.count() == 0


def test_a_bad_put_changes_nothing(api, make):
    webinar = make.contact_list()
    tid = api.post("/api/v1/triggers", json=dict(BASE, kind="list_added", list_id=webinar.id)).get_json()["id"]
    res = api.put(f"/api/v1/triggers/{tid}", json={"list_id": 424242, "name": "Renamed"})
    assert res.status_code == 422 and res.get_json()["errors"][0]["field"] == "list_id"
    db.session.expire_all()
    stored = db.session.get(Trigger, tid)
    assert (stored.list_id, stored.name) == (webinar.id, BASE["name"])
