"""Triggers API: create/read/update/delete/activate/deactivate with the wizard's validation."""
import time as time_module
from datetime import time

import pytest

from extensions import db
from models import OutboxMessage, Trigger
from engine.triggers import FIELDS, READ_ONLY

RULE = {"user_types": ["product_user"], "all": [{"field": "account.arr", "op": "gt", "value": 50000}]}
BODY = {
    "name": "Big accounts weekly", "description": "Nudge admins of big accounts",
    "from_email": "cs@example.com", "bcc": None, "reply_to_name": "Customer Success",
    "reply_to_email": "help@example.com", "no_reply": False,
    "subject": "Hi {{ contact.first_name }}", "html": "<p>Hello {{ account.name }}</p>",
    "text": None, "template_id": None, "kind": "schedule", "persona_id": None,
    "event_name": None, "rule": RULE, "priority": 5, "global_delay_days": 2,
    "retrigger_delay_days": 7, "never_retrigger": False, "generate_at": "08:00",
    "send_at": "09:30", "timezone": "Europe/Berlin", "requires_approval": True,
}


def test_create_read_list(api):
    res = api.post("/api/v1/triggers", json=BODY)
    assert res.status_code == 201, res.get_json()
    data = res.get_json()
    assert set(data) == set(FIELDS) | set(READ_ONLY)
    assert {k: data[k] for k in BODY} == BODY
    assert (data["status"], data["started_at"], data["last_send_at"], data["next_send_at"],
            data["recipients_30d"]) == ("draft", None, None, None, 0)
    got = api.get(f"/api/v1/triggers/{data['id']}")
    assert got.status_code == 200 and got.get_json() == data
    listing = api.get("/api/v1/triggers").get_json()["triggers"]
    assert [t["id"] for t in listing] == [data["id"]]
    assert api.get("/api/v1/triggers?status=active").get_json() == {"triggers": []}
    assert api.get("/api/v1/triggers?status=weird").status_code == 400


def test_create_with_only_a_name_uses_defaults(api):
    res = api.post("/api/v1/triggers", json={"name": "Later"})
    assert res.status_code == 201
    data = res.get_json()
    assert (data["kind"], data["generate_at"], data["requires_approval"], data["timezone"]) == (
        "schedule", "08:00", True, "UTC")


def test_api_wizard_and_model_share_one_set_of_defaults(api, login, monkeypatch):
    """models.trigger.TRIGGER_DEFAULTS is the only place they are written: the API
    fills them in, the columns default to them, and the wizard falls back to them."""
    from engine.triggers.validation import STORED_AS
    from models.trigger import TRIGGER_DEFAULTS

    from_api = api.post("/api/v1/triggers", json={"name": "Defaults"}).get_json()
    assert {STORED_AS.get(k, k): from_api[k] for k in FIELDS if k != "name"} == {
        k: v.strftime("%H:%M") if isinstance(v, time) else v for k, v in TRIGGER_DEFAULTS.items()}
    bare = Trigger(name="Bare")
    db.session.add(bare)
    db.session.flush()
    assert {k: getattr(bare, k) for k in TRIGGER_DEFAULTS} == TRIGGER_DEFAULTS
    db.session.rollback()
    client = login("manager")
    res = client.post("/triggers/new", data={"name": "From the wizard", "action": "next"})
    assert res.status_code == 302
    made = db.session.scalars(db.select(Trigger).filter_by(name="From the wizard")).one()
    res = client.post(f"/triggers/{made.id}/edit/controls", data={
        "priority": "", "global_delay_days": "", "retrigger_delay_days": "", "generate_at": "08:00",
        "send_at": "09:00", "timezone": "UTC", "action": "save"})
    assert res.status_code == 302
    db.session.refresh(made)
    assert (made.priority, made.global_delay_days, made.retrigger_delay_days) == tuple(
        TRIGGER_DEFAULTS[k] for k in ("priority", "global_delay_days", "retrigger_delay_days"))


def test_invalid_create_is_422_and_nothing_saved(api):
    bad = dict(BODY, from_email="nope", subject="Hi\nBcc: x@y.io", generate_at="25:00",
               rule={"all": [{"field": "account.arr", "op": "gt", "value": "x"}]}, extra=1)
    res = api.post("/api/v1/triggers", json=bad)
    assert res.status_code == 422
    fields = {e["field"] for e in res.get_json()["errors"]}
    assert {"from_email", "subject", "generate_at", "extra"} <= fields
    assert any(f.startswith("rule.") for f in fields)
    assert all(set(e) == {"field", "message"} for e in res.get_json()["errors"])
    assert Trigger.query.count() == 0


def test_template_error_reports_line(api):
    res = api.post("/api/v1/triggers", json=dict(BODY, html="<p>\n{% for x in %}</p>"))
    assert res.status_code == 422
    assert any(e["field"] == "html" and "line 2" in e["message"] for e in res.get_json()["errors"])


def test_bad_body_is_400(api):
    assert api.post("/api/v1/triggers", data="nope", content_type="application/json").status_code == 400
    assert api.post("/api/v1/triggers", json=[BODY]).status_code == 400


def test_put_merges_and_validates(api):
    tid = api.post("/api/v1/triggers", json=BODY).get_json()["id"]
    res = api.put(f"/api/v1/triggers/{tid}", json={"priority": 9, "send_at": "10:00"})
    assert res.status_code == 200
    data = res.get_json()
    assert (data["priority"], data["send_at"], data["name"]) == (9, "10:00", BODY["name"])
    # A GET body sent back (computed fields included) is accepted as is.
    assert api.put(f"/api/v1/triggers/{tid}", json=data).status_code == 200
    res = api.put(f"/api/v1/triggers/{tid}", json={"send_at": "07:00"})
    assert res.status_code == 422 and res.get_json()["errors"][0]["field"] == "send_at"
    db.session.expire_all()
    assert db.session.get(Trigger, tid).send_at == time(10, 0)


def test_activate_deactivate(api):
    tid = api.post("/api/v1/triggers", json=dict(BODY, from_email=None)).get_json()["id"]
    res = api.post(f"/api/v1/triggers/{tid}/activate")
    assert res.status_code == 422
    assert [e["field"] for e in res.get_json()["errors"]] == ["from_email"]
    api.put(f"/api/v1/triggers/{tid}", json={"from_email": "cs@example.com"})
    res = api.post(f"/api/v1/triggers/{tid}/activate")
    assert res.status_code == 200
    data = res.get_json()
    assert data["status"] == "active" and data["started_at"].endswith("Z")
    assert data["next_send_at"].endswith("Z")
    # An active trigger must stay activatable.
    assert api.put(f"/api/v1/triggers/{tid}", json={"subject": ""}).status_code == 422
    res = api.post(f"/api/v1/triggers/{tid}/deactivate")
    assert res.status_code == 200 and res.get_json()["status"] == "inactive"
    assert res.get_json()["next_send_at"] is None


def test_deactivate_cancelling_waiting(api, make):
    trg = make.trigger()
    msg = make.outbox_message(trg, state="pending_approval")
    res = api.post(f"/api/v1/triggers/{trg.id}/deactivate?cancel_pending=true")
    assert res.status_code == 200 and res.headers["X-Cancelled-Messages"] == "1"
    db.session.expire_all()
    assert db.session.get(OutboxMessage, msg.id).state == "cancelled"


@pytest.mark.parametrize("how", ["", "?keep_waiting=true", "json"])
def test_deactivate_cancels_by_default_and_keeps_on_request(api, make, how):
    trg = make.trigger()
    msg = make.outbox_message(trg, state="approved")
    url = f"/api/v1/triggers/{trg.id}/deactivate" + (how if how != "json" else "")
    res = api.post(url, json={"keep_waiting": True} if how == "json" else None)
    assert res.status_code == 200 and res.get_json()["status"] == "inactive"
    db.session.expire_all()
    kept = how != ""
    assert res.headers["X-Cancelled-Messages"] == ("0" if kept else "1")
    assert db.session.get(OutboxMessage, msg.id).state == ("approved" if kept else "cancelled")


def test_delete_refused_while_waiting_then_cancelled(api, make):
    trg = make.trigger()
    make.outbox_message(trg, state="pending_approval")
    make.outbox_message(trg, state="sent")
    res = api.delete(f"/api/v1/triggers/{trg.id}")
    assert res.status_code == 409
    assert "cancel_waiting=true" in res.get_json()["error"] and res.get_json()["waiting"] == 1
    assert db.session.get(Trigger, trg.id) is not None
    res = api.delete(f"/api/v1/triggers/{trg.id}?cancel_waiting=true")
    assert res.status_code == 200 and res.get_json() == {"deleted": trg.id, "cancelled": 1}
    db.session.expire_all()
    assert db.session.get(Trigger, trg.id) is None


def test_unknown_id_is_404(api):
    for method, path in [("get", ""), ("put", ""), ("delete", ""), ("post", "/activate"),
                         ("post", "/deactivate")]:
        res = getattr(api, method)(f"/api/v1/triggers/12345{path}", json={})
        assert res.status_code == 404, (method, path)
        assert "12345" in res.get_json()["error"]


def test_needs_a_key(client):
    assert client.get("/api/v1/triggers").status_code == 401
    assert client.post("/api/v1/triggers", json=BODY).status_code == 401


def test_saving_a_template_bomb_through_the_api_is_a_fast_422(api):
    # The API runs the same save-time trial render (under the render budget) as the wizard.
    bombs = {"html": "{{ ([range(1500)|list] * 1500)|sum(start=[])|length }}",
             "text": "{{ 'x'.encode().zfill(2*10**9)|length }}",
             "subject": "{{ (['x' * 100000] * 10000)|join|length }}"}
    for field, src in bombs.items():
        start = time_module.thread_time()
        res = api.post("/api/v1/triggers", json={**BODY, field: src})
        assert time_module.thread_time() - start < 1.5, field
        assert res.status_code == 422, (field, res.get_json())
        assert any("blocked" in e["message"] for e in res.get_json()["errors"]), res.get_json()
    assert db.session.query(Trigger).count() == 0


def test_a_rule_number_outside_the_databases_range_is_422_and_no_trigger_is_stored(api, make):
    # Stored, it would fail in SQL on every tick (SQLite: OverflowError; PG: out of range).
    make.contact()
    raw = '{"name": "Huge", "rule": {"all": [{"field": "account.arr", "op": "gt", "value": %s}]}}'
    for value in ("10000000000000000000000000000000000000000", "9223372036854775808", "1e300"):
        res = api.post("/api/v1/triggers", data=raw % value, content_type="application/json")
        assert res.status_code == 422, res.get_data(as_text=True)
        [error] = res.get_json()["errors"]
        assert error["field"] == "rule.all[0].value" and "9223372036854775807" in error["message"]
    assert db.session.query(Trigger).count() == 0
    created = api.post("/api/v1/triggers", json={**BODY, "name": "Fine"}).get_json()
    res = api.put(f"/api/v1/triggers/{created['id']}", data=raw % "2e63", content_type="application/json")
    assert res.status_code == 422 and res.get_json()["errors"][0]["field"] == "rule.all[0].value"
    db.session.expire_all()
    assert db.session.get(Trigger, created["id"]).rule == RULE
