"""Issue 15 through the test client: the live trigger's message change (defect 7),
the review step's mismatch and held-back count (defects 6, 11), with roles,
CSRF and bad input."""
import pytest

from extensions import db
from models import OutboxMessage
from models.base import utcnow


def _message(trigger, **overrides):
    data = {"name": trigger.name, "from_email": trigger.from_email, "template_id": "",
            "subject": trigger.subject, "html": trigger.html, "text": "", "action": "save",
            "track_opens": "y", "track_clicks": "y"}
    data.update(overrides)
    return data


@pytest.fixture
def live(make):
    trigger = make.trigger(status="active", subject="Old {{ contact.first_name }}", html="<p>Old</p>")
    row = make.outbox_message(trigger, make.contact(first_name="Ann"), subject="Old Ann")
    db.session.commit()
    return trigger, row


def test_message_change_asks_then_rerenders(login, live):
    trigger, row = live
    client = login("manager")
    page = client.get(f"/triggers/{trigger.id}/edit/message").get_data(as_text=True)
    assert "This trigger is live" in page and "sends nothing until you activate it" not in page
    res = client.post(f"/triggers/{trigger.id}/edit/message", data=_message(trigger, subject="New {{ contact.first_name }}"))
    assert res.status_code == 200 and 'id="waiting-choice"' in res.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).subject == "Old Ann"
    assert trigger.subject == "Old {{ contact.first_name }}"  # nothing saved yet
    # A made-up choice is asked again, not guessed.
    res = client.post(f"/triggers/{trigger.id}/edit/message",
                      data=_message(trigger, subject="New {{ contact.first_name }}", waiting_emails="<b>x"))
    assert res.status_code == 200 and 'id="waiting-choice"' in res.get_data(as_text=True)
    assert "<b>x" not in res.get_data(as_text=True)
    res = client.post(f"/triggers/{trigger.id}/edit/message",
                      data=_message(trigger, subject="New {{ contact.first_name }}", waiting_emails="rerender"))
    assert res.status_code == 302
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).subject == "New Ann"


def test_same_message_with_crlf_newlines_asks_nothing(login, make):
    trigger = make.trigger(status="active", html="<p>One</p>\n<p>Two</p>")
    make.outbox_message(trigger, make.contact())
    db.session.commit()
    client = login("manager")
    res = client.post(f"/triggers/{trigger.id}/edit/message",
                      data=_message(trigger, html="<p>One</p>\r\n<p>Two</p>", name="Renamed"))
    assert res.status_code == 302


def test_draft_without_waiting_emails_asks_nothing(login, make):
    trigger = make.trigger(status="draft")
    db.session.commit()
    client = login("admin")
    page = client.get(f"/triggers/{trigger.id}/edit/message").get_data(as_text=True)
    assert "sends nothing until you activate it" in page
    res = client.post(f"/triggers/{trigger.id}/edit/message", data=_message(trigger, subject="Other"))
    assert res.status_code == 302


@pytest.mark.parametrize("role", ["approver", "viewer"])
def test_only_editors_may_change_the_message(login, live, role):
    trigger, row = live
    client = login(role)
    res = client.post(f"/triggers/{trigger.id}/edit/message",
                      data=_message(trigger, subject="New", waiting_emails="rerender"))
    assert res.status_code == 403
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).subject == "Old Ann"


def test_message_change_needs_csrf(login, live, app):
    trigger, row = live
    client = login("admin")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        res = client.post(f"/triggers/{trigger.id}/edit/message",
                          data=_message(trigger, subject="New", waiting_emails="rerender"))
        assert res.status_code in (400, 422)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).subject == "Old Ann"


def test_review_names_a_contact_who_does_not_match(login, make):
    acc = make.account()
    admin = make.contact(acc, role="admin", email="a@x.test")
    make.contact(acc, role="admin", email="u@x.test", unsubscribed_at=utcnow())
    other = make.contact(acc, role="<script>alert(1)</script>", email="o@x.test")
    trigger = make.trigger(status="draft", rule={"all": [{"field": "contact.role", "op": "eq", "value": "admin"}]})
    db.session.commit()
    client = login("manager")
    page = client.get(f"/triggers/{trigger.id}/edit/review").get_data(as_text=True)
    assert "2 match · 1 will be held back" in page and "does not match this rule" not in page
    page = client.get(f"/triggers/{trigger.id}/edit/review?contact_id={other.id}").get_data(as_text=True)
    assert "does not match this rule" in page
    assert f'<option value="{other.id}" selected>' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    # The htmx partial (picker change) carries the verdict too.
    part = client.get(f"/triggers/{trigger.id}/edit/review?contact_id={other.id}",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "does not match this rule" in part
    part = client.get(f"/triggers/{trigger.id}/edit/review?contact_id={admin.id}",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "does not match" not in part
    assert client.get(f"/triggers/{trigger.id}/edit/review?contact_id=99999999999").status_code == 200


def test_rule_step_refuses_an_incomplete_condition_clearly(login, make):
    import json

    trigger = make.trigger(status="draft")
    db.session.commit()
    client = login("manager")
    rule = {"user_types": ["product_user"], "all": [{"field": "contact.role", "op": "eq", "value": None}]}
    res = client.post(f"/triggers/{trigger.id}/edit/rule", data={
        "kind": "schedule", "audience": "rule", "rule-rule_json": json.dumps(rule), "action": "save"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "“Role is …”: a value is required — this condition is not finished" in html
    db.session.refresh(trigger)
    assert trigger.rule == {"user_types": ["product_user"], "all": []}
    # The live preview of the same rule ignores the condition instead of matching nobody.
    make.contact(role="admin", is_product_user=True)
    db.session.commit()
    part = client.post("/rules/preview", data={"prefix": "rule-", "rule-rule_json": json.dumps(rule)},
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "data-rb-count>1<" in part and "rb-nobody" not in part
    assert "data-rb-ignored='[\"all[0]\"]'" in part and "1 incomplete condition ignored" in part
