"""The wizard's change-feed kinds: the Rule step's field and list pickers, the
Controls step's once-in-24-hours checkbox (on by default for these kinds), the
Review step, the triggers list's Kind column and the details page."""
import pytest

from engine.contacts.changes import encode_value
from extensions import db
from models import Trigger
from tests.web.test_triggers_ui import MESSAGE, _create

CONTROLS = {"priority": "1", "global_delay_days": "0", "retrigger_delay_days": "0",
            "generate_at": "08:00", "send_at": "09:00", "timezone": "UTC"}


def _rule(client, trigger, **data):
    return client.post(f"/triggers/{trigger.id}/edit/rule", data=dict(action="next", **data))


def test_field_updated_through_the_wizard(login, make):
    make.contact(attributes={"plan": "trial", "seats": 3})
    client = login("manager")
    trigger = _create(client)
    page = client.get(f"/triggers/{trigger.id}/edit/rule").get_data(as_text=True)
    assert "A contact field is updated" in page and "A contact is added to a list" in page
    assert '<option value="contact.attributes.plan">plan (custom attribute)</option>' in page
    assert '<option value="contact.role">Role</option>' in page
    res = _rule(client, trigger, kind="field_updated", field="contact.attributes.plan",
                from_value="trial", to_value="pro")
    assert res.status_code == 302 and res.location.endswith("/edit/controls")
    db.session.refresh(trigger)
    assert (trigger.kind, trigger.field, trigger.from_value, trigger.to_value, trigger.once_per_24h) == (
        "field_updated", "contact.attributes.plan", '"trial"', '"pro"', True)
    controls = client.get(f"/triggers/{trigger.id}/edit/controls").get_data(as_text=True)
    assert "Send to the same contact at most once in 24 hours" in controls
    assert '<input checked id="once_per_24h" name="once_per_24h" type="checkbox"' in controls
    review = client.get(f"/triggers/{trigger.id}/edit/review").get_data(as_text=True)
    assert "Field updated: plan trial → pro" in review and "at most once in 24 hours" in review
    listing = client.get("/triggers/").get_data(as_text=True)
    assert "Field updated: plan trial → pro" in listing
    # Reopening the step shows what was saved.
    again = client.get(f"/triggers/{trigger.id}/edit/rule").get_data(as_text=True)
    assert 'value="trial"' in again and 'value="pro"' in again


def test_a_number_field_stores_a_number(login, make):
    make.contact(attributes={"seats": 3})
    client = login("manager")
    trigger = _create(client)
    _rule(client, trigger, kind="field_updated", field="contact.attributes.seats", to_value="10")
    db.session.refresh(trigger)
    assert trigger.to_value == encode_value(10)


def test_once_per_24h_can_be_turned_off_and_old_kinds_default_off(login):
    client = login("manager")
    trigger = _create(client)
    _rule(client, trigger, kind="contact_created")
    db.session.refresh(trigger)
    assert trigger.once_per_24h is True
    res = client.post(f"/triggers/{trigger.id}/edit/controls", data=dict(CONTROLS, action="next"))
    assert res.status_code == 302
    db.session.refresh(trigger)
    assert trigger.once_per_24h is False
    other = _create(client)
    _rule(client, other, kind="event", event_name="export_failed")
    db.session.refresh(other)
    assert other.once_per_24h is False


@pytest.mark.parametrize("data, message", [
    ({"kind": "field_updated"}, "choose the contact field"),
    ({"kind": "field_updated", "field": "contact.nope"}, "is not a contact field"),
    ({"kind": "field_updated", "field": "contact.attributes.plan", "from_value": "pro", "to_value": "pro"},
     "is the same as the from value"),
    ({"kind": "list_added", "list_id": "424242"}, "No such list"),
    ({"kind": "list_removed"}, "Choose the list"),
])
def test_bad_rule_step_input_is_shown_and_nothing_saved(login, make, data, message):
    make.contact_list("Beta")
    client = login("manager")
    trigger = _create(client)
    res = _rule(client, trigger, **data)
    assert res.status_code == 422
    assert message.lower() in res.get_data(as_text=True).lower()
    db.session.refresh(trigger)
    assert (trigger.kind, trigger.field, trigger.list_id) == ("schedule", None, None)


def test_list_kinds_pick_a_list_and_the_names_are_escaped(login, make):
    hostile = make.contact_list('<script>alert(1)</script> Webinar — March')
    client = login("manager")
    trigger = _create(client)
    page = client.get(f"/triggers/{trigger.id}/edit/rule").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Webinar — March" in page
    res = _rule(client, trigger, kind="list_added", list_id=str(hostile.id))
    assert res.status_code == 302
    db.session.refresh(trigger)
    assert (trigger.kind, trigger.list_id) == ("list_added", hostile.id)
    listing = client.get("/triggers/").get_data(as_text=True)
    assert "Added to list: &lt;script&gt;alert(1)&lt;/script&gt; Webinar — March" in listing
    assert "<script>alert(1)</script>" not in listing
    details = client.get(f"/reports/triggers/{trigger.id}").get_data(as_text=True)
    assert "Added to list: &lt;script&gt;alert(1)&lt;/script&gt; Webinar — March" in details
    assert "<script>alert(1)</script>" not in details and "On change" in details
    review = client.get(f"/triggers/{trigger.id}/edit/review").get_data(as_text=True)
    assert "Added to list: &lt;script&gt;" in review and "<script>alert(1)</script>" not in review


def test_no_lists_says_so_and_links_to_lists(login):
    client = login("manager")
    trigger = _create(client)
    page = client.get(f"/triggers/{trigger.id}/edit/rule").get_data(as_text=True)
    assert "There are no lists yet." in page and 'href="/lists' in page


def test_kind_column_for_every_feed_kind(login, make):
    webinar = make.contact_list("Webinar — March")
    make.trigger(kind="contact_created", rule=None)
    make.trigger(kind="field_updated", field="contact.attributes.plan", to_value='"pro"', rule=None)
    make.trigger(kind="list_removed", list_id=webinar.id, rule=None)
    listing = login("viewer").get("/triggers/").get_data(as_text=True)
    for label in ("Contact created", "Field updated: plan → pro", "Removed from list: Webinar — March"):
        assert label in listing
    assert listing.count("On change") == 3


@pytest.mark.parametrize("role", ["approver", "viewer"])
def test_only_editors_may_save_a_feed_rule(login, role):
    trigger = Trigger(name="Mine", kind="schedule", status="draft")
    db.session.add(trigger)
    db.session.commit()
    client = login(role)
    res = client.post(f"/triggers/{trigger.id}/edit/rule", data={"kind": "contact_created", "action": "next"})
    assert res.status_code == 403
    db.session.refresh(trigger)
    assert trigger.kind == "schedule"


def test_the_rule_step_needs_the_csrf_token(login, app):
    client = login("manager")
    trigger = _create(client)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert _rule(client, trigger, kind="contact_created").status_code in (400, 422)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.refresh(trigger)
    assert trigger.kind == "schedule"


def test_a_copy_keeps_the_feed_fields(login, make):
    original = make.trigger(kind="field_updated", field="contact.attributes.plan", from_value='"trial"',
                            to_value='"pro"', once_per_24h=True, rule=None)
    client = login("manager")
    assert client.post(f"/triggers/{original.id}/copy").status_code == 302
    copy = db.session.scalars(db.select(Trigger).filter_by(name=f"Copy of {original.name}")).one()
    assert (copy.kind, copy.field, copy.from_value, copy.to_value, copy.once_per_24h, copy.status) == (
        "field_updated", "contact.attributes.plan", '"trial"', '"pro"', True, "draft")
