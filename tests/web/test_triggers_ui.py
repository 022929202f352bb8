"""The trigger wizard and triggers list, through the Flask test client."""
import json

import pytest

from extensions import db
from models import OutboxMessage, Trigger

RULE = {"user_types": ["product_user"], "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]}
MESSAGE = {
    "name": "Win back admins", "description": "Admins who went quiet", "from_email": "cs@example.com",
    "bcc": "", "reply_to_name": "Customer Success", "reply_to_email": "help@example.com",
    "template_id": "", "subject": "Hi {{ contact.first_name }}",
    "html": "<p>Hello {{ contact.first_name }} from {{ account.name }}</p>", "text": "",
}


def _create(client, **overrides):
    res = client.post("/triggers/new", data=dict(MESSAGE, action="next", **overrides))
    assert res.status_code == 302, res.data.decode()[:2000]
    return db.session.scalars(db.select(Trigger).order_by(Trigger.id.desc())).first()


def _complete(client, trigger):
    res = client.post(f"/triggers/{trigger.id}/edit/rule", data={
        "kind": "schedule", "audience": "rule", "rule-rule_json": json.dumps(RULE), "action": "next"})
    assert res.status_code == 302, res.data.decode()[:2000]
    res = client.post(f"/triggers/{trigger.id}/edit/controls", data={
        "priority": "3", "global_delay_days": "2", "retrigger_delay_days": "7", "generate_at": "08:00",
        "send_at": "09:30", "timezone": "Europe/Berlin", "action": "next"})
    assert res.status_code == 302, res.data.decode()[:2000]
    db.session.refresh(trigger)
    return trigger


def test_list_is_empty_and_honest(login):
    client = login("viewer")
    res = client.get("/triggers/")
    assert res.status_code == 200
    assert b"No triggers yet" in res.data


def test_viewers_and_approvers_cannot_change_triggers(login, make):
    for role in ("viewer", "approver"):
        client = login(role)
        assert client.get("/triggers/new").status_code == 403
        assert client.post("/triggers/new", data=MESSAGE).status_code == 403
    assert db.session.scalar(db.select(db.func.count()).select_from(Trigger)) == 0


def test_wizard_saves_each_step_and_activates(login, make):
    client = login("manager")
    acc = make.account(name="Acme")
    make.contact(account=acc, role="admin", first_name="Ada", email="ada@acme.example")
    trigger = _create(client)
    assert trigger.status == "draft" and trigger.name == "Win back admins"
    trigger = _complete(client, trigger)
    assert trigger.rule == RULE and trigger.priority == 3 and trigger.timezone == "Europe/Berlin"
    assert trigger.requires_approval is True

    review = client.get(f"/triggers/{trigger.id}/edit/review")
    assert review.status_code == 200
    page = review.data.decode()
    assert "Hi Ada" in page and "Hello Ada from Acme" in page  # rendered for the first match
    assert "1 contact at 1 account" in page

    res = client.post(f"/triggers/{trigger.id}/activate")
    assert res.status_code == 302
    db.session.refresh(trigger)
    assert trigger.status == "active" and trigger.started_at is not None

    listing = client.get("/triggers/").data.decode()
    assert "Win back admins" in listing and "Active" in listing


def test_bad_input_is_refused_with_a_message_and_nothing_saved(login):
    client = login("admin")
    res = client.post("/triggers/new", data=dict(MESSAGE, from_email="not-an-email", action="next"))
    assert res.status_code == 422
    assert b"Nothing was saved" in res.data
    res = client.post("/triggers/new", data=dict(MESSAGE, subject="Hi\r\nBcc: x@evil.example", action="next"))
    assert res.status_code == 422
    res = client.post("/triggers/new", data=dict(MESSAGE, html="{{ ''.__class__.__mro__ }}", action="next"))
    assert res.status_code == 422
    assert db.session.scalar(db.select(db.func.count()).select_from(Trigger)) == 0


def test_bad_rule_keeps_the_old_one(login):
    client = login("admin")
    trigger = _complete(client, _create(client))
    bad = {"all": [{"field": "account.arr", "op": "gt", "value": "lots"}]}
    res = client.post(f"/triggers/{trigger.id}/edit/rule", data={
        "kind": "schedule", "audience": "rule", "rule-rule_json": json.dumps(bad), "action": "save"})
    assert res.status_code == 422
    assert b"all[0].value" in res.data
    db.session.refresh(trigger)
    assert trigger.rule == RULE


def test_activation_refuses_with_specific_problems(login):
    client = login("admin")
    trigger = _create(client, from_email="", subject="")
    res = client.post(f"/triggers/{trigger.id}/activate", follow_redirects=True)
    page = res.data.decode()
    assert "can&#39;t be activated" in page or "can't be activated" in page
    db.session.refresh(trigger)
    assert trigger.status == "draft"


def test_copy_deactivate_and_delete(login, make):
    client = login("admin")
    trigger = _complete(client, _create(client))
    client.post(f"/triggers/{trigger.id}/activate")
    client.post(f"/triggers/{trigger.id}/copy")
    copy = db.session.scalars(db.select(Trigger).where(Trigger.name == "Copy of Win back admins")).one()
    assert copy.status == "draft" and copy.rule == RULE

    client.post(f"/triggers/{trigger.id}/deactivate")
    db.session.refresh(trigger)
    assert trigger.status == "inactive"

    contact = make.contact()
    db.session.add(OutboxMessage(trigger_id=trigger.id, contact_id=contact.id, account_id=contact.account_id,
                                 occurrence_key="2026-01-01", state="pending_approval", to_email=contact.email))
    db.session.commit()
    page = client.get(f"/triggers/{trigger.id}/delete").data.decode()
    assert "1 email of this trigger" in page and "1 waiting for approval, 0 approved" in page
    assert f'href="/outbox/?trigger={trigger.id}"' in page  # the outbox filters on trigger=
    res = client.post(f"/triggers/{trigger.id}/delete", data={}, follow_redirects=True)
    assert db.session.get(Trigger, trigger.id) is not None  # refused without cancelling
    res = client.post(f"/triggers/{trigger.id}/delete", data={"cancel_waiting": "1"})
    assert res.status_code == 302
    db.session.expire_all()
    assert db.session.get(Trigger, trigger.id) is None


def test_send_a_test_to_me(login, make, smtp_sink):
    client = login("manager")
    contact = make.contact(role="admin", first_name="Bo")
    trigger = _complete(client, _create(client))
    res = client.post(f"/triggers/{trigger.id}/test-send", data={"contact_id": contact.id}, follow_redirects=True)
    assert b"Sent a [TEST] copy" in res.data
    assert len(smtp_sink.messages) == 1
    msg = smtp_sink.messages[0]["message"]
    assert msg["Subject"] == "[TEST] Hi Bo"
    assert smtp_sink.messages[0]["rcpt_tos"] == [client.staff.email]


def test_rule_step_suggests_the_event_names_received(login, make):
    """The event name input's list= names a <datalist> that exists (it pointed at nothing),
    offering the names of events received so far."""
    client = login("manager")
    contact = make.contact()
    for name in ("payment_failed", "login"):
        make.event(contact, name=name)
    trigger = _create(client)
    html = client.get(f"/triggers/{trigger.id}/edit/rule").get_data(as_text=True)
    assert 'list="event-names"' in html
    datalist = html.split('<datalist id="event-names">', 1)[1].split("</datalist>", 1)[0]
    assert datalist == '<option value="login"><option value="payment_failed">'


def _active_with_waiting(client, make):
    trigger = _complete(client, _create(client))
    client.post(f"/triggers/{trigger.id}/activate")
    contact = make.contact()
    for day, state in enumerate(("pending_approval", "pending_approval", "approved", "sent")):
        db.session.add(OutboxMessage(trigger_id=trigger.id, contact_id=contact.id,
                                     account_id=contact.account_id, occurrence_key=f"day-{day}",
                                     state=state, to_email=contact.email))
    db.session.commit()
    return trigger


def _states(trigger):
    db.session.expire_all()
    return sorted(m.state for m in OutboxMessage.query.filter_by(trigger_id=trigger.id))


def test_deactivating_asks_first_and_cancels_the_waiting_emails_by_default(login, make):
    client = login("manager")
    trigger = _active_with_waiting(client, make)
    page = client.get(f"/triggers/{trigger.id}/deactivate").data.decode()
    assert "3 emails of this trigger" in page and "2 waiting for approval, 1 approved" in page
    assert 'value="cancel" checked' in page and 'value="keep" >' in page
    db.session.refresh(trigger)
    assert trigger.status == "active"  # asking changed nothing

    res = client.post(f"/triggers/{trigger.id}/deactivate", data={}, follow_redirects=True)
    assert "3 waiting emails cancelled" in res.data.decode()
    db.session.refresh(trigger)
    assert trigger.status == "inactive" and not trigger.keep_queued_when_inactive
    assert _states(trigger) == ["cancelled", "cancelled", "cancelled", "sent"]
    listing = client.get("/outbox/?tab=rejected").data.decode()
    assert "Trigger deactivated" in listing


def test_deactivating_can_keep_the_waiting_emails(login, make):
    client = login("admin")
    trigger = _active_with_waiting(client, make)
    res = client.post(f"/triggers/{trigger.id}/deactivate", data={"waiting": "keep"},
                      follow_redirects=True)
    assert "3 waiting emails kept" in res.data.decode()
    db.session.refresh(trigger)
    assert trigger.status == "inactive" and trigger.keep_queued_when_inactive
    assert _states(trigger) == ["approved", "pending_approval", "pending_approval", "sent"]


def test_deactivate_refuses_bad_input_and_roles(login, make, app):
    client = login("admin")
    trigger = _active_with_waiting(client, make)
    res = client.post(f"/triggers/{trigger.id}/deactivate", data={"waiting": "<script>x"})
    assert res.status_code == 400 and b"Choose whether to cancel or keep" in res.data
    assert b"<script>x" not in res.data
    assert client.get("/triggers/2147483647/deactivate").status_code == 404
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post(f"/triggers/{trigger.id}/deactivate", data={}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.refresh(trigger)
    assert trigger.status == "active" and _states(trigger).count("cancelled") == 0
    # Not active: nothing to ask.
    client.post(f"/triggers/{trigger.id}/deactivate", data={"waiting": "keep"})
    res = client.get(f"/triggers/{trigger.id}/deactivate", follow_redirects=True)
    assert "is not active" in res.data.decode()


@pytest.mark.parametrize("role", ["approver", "viewer"])
def test_only_editors_may_deactivate(login, make, role):
    trigger = make.trigger(status="active")
    make.outbox_message(trigger, state="pending_approval")
    client = login(role)
    assert client.get(f"/triggers/{trigger.id}/deactivate").status_code == 403
    assert client.post(f"/triggers/{trigger.id}/deactivate").status_code == 403
    db.session.refresh(trigger)
    assert trigger.status == "active" and _states(trigger) == ["pending_approval"]


@pytest.mark.parametrize("field", ["priority", "global_delay_days"])
def test_controls_refuse_negative_numbers_alike(login, field):
    """Priority -3 was accepted while a global delay of -2 was refused (issue 15)."""
    client = login("manager")
    trigger = _complete(client, _create(client))
    data = {"priority": "3", "global_delay_days": "2", "retrigger_delay_days": "7",
            "generate_at": "08:00", "send_at": "09:30", "timezone": "Europe/Berlin",
            "action": "next", field: "-3"}
    res = client.post(f"/triggers/{trigger.id}/edit/controls", data=data)
    assert res.status_code in (200, 422) and "must be between 0 and" in res.data.decode()
    db.session.refresh(trigger)
    assert (trigger.priority, trigger.global_delay_days) == (3, 2)  # unchanged
