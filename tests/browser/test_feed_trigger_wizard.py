"""Building a field_updated trigger in the wizard in Chromium: the kind, the
field picker and from/to values on the Rule step, the once-in-24-hours control
(on by default), the Review step's description and the triggers list's Kind
column. The database is checked at each step."""
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models import Trigger
from tests.browser import shot

pytestmark = pytest.mark.browser


def test_build_a_field_updated_trigger_in_the_wizard(page, make):
    make.contact(first_name="Ada", email="ada@acme.test", attributes={"plan": "trial"})
    make.contact_list("Webinar — March")
    page.login("manager")
    page.goto(page.base + "/triggers/new")
    page.fill("input[name=name]", "Welcome to pro")
    page.fill("input[name=from_email]", "success@example.com")
    page.fill("input[name=subject]", "Welcome to pro, {{ contact.first_name }}")
    page.fill("textarea[name=html]", "<p>Hi {{ contact.first_name }}, welcome to pro.</p>")
    page.get_by_role("button", name="Save & continue").click()

    # --- Rule: "A contact field is updated", plan, trial -> pro -----------------------------
    expect(page).to_have_url(re.compile(r"/triggers/\d+/edit/rule$"))
    trigger_id = int(re.search(r"/triggers/(\d+)/", page.url).group(1))
    field_card = page.locator(".card", has=page.get_by_role("heading", name="Contact field"))
    expect(field_card).to_be_hidden()  # a schedule trigger has no field
    shot(page, "ftrig-01-rule-kinds")
    page.get_by_label("A contact field is updated").check()
    expect(field_card).to_be_visible()
    expect(page.locator("#rule-card")).to_be_hidden()  # the rule is an optional filter here
    page.get_by_label("Contact field", exact=True).select_option("contact.attributes.plan")
    page.get_by_label("From value (optional)").fill("trial")
    page.get_by_label("To value (optional)").fill("pro")
    shot(page, "ftrig-02-rule-field-updated")
    page.get_by_label("A contact is added to a list").check()
    shot(page, "ftrig-03-rule-list-added")
    page.get_by_label("A contact field is updated").check()
    page.get_by_role("button", name="Save & continue").click()

    # --- Controls: the 24-hour control is on by default ------------------------------------
    expect(page).to_have_url(re.compile(rf"/triggers/{trigger_id}/edit/controls$"))
    db.session.rollback()
    saved = db.session.get(Trigger, trigger_id)
    assert (saved.kind, saved.field, saved.from_value, saved.to_value, saved.once_per_24h) == (
        "field_updated", "contact.attributes.plan", '"trial"', '"pro"', True)
    once = page.get_by_label("Send to the same contact at most once in 24 hours")
    expect(once).to_be_checked()
    shot(page, "ftrig-04-controls")
    page.get_by_role("button", name="Save & continue").click()

    # --- Review and the list -------------------------------------------------------------------
    expect(page).to_have_url(re.compile(rf"/triggers/{trigger_id}/edit/review"))
    summary = page.locator(".card", has=page.get_by_role("heading", name="Summary")).locator(".props")
    expect(summary).to_contain_text("Field updated: plan trial → pro")
    expect(summary).to_contain_text("at most once in 24 hours")
    shot(page, "ftrig-05-review")
    page.get_by_role("button", name="Activate trigger").click()
    expect(page).to_have_url(re.compile(r"/triggers/$"))
    row = page.locator("#trigger-list tbody tr").filter(
        has=page.get_by_role("link", name="Welcome to pro", exact=True))
    expect(row).to_contain_text("Field updated: plan trial → pro")
    expect(row).to_contain_text("On change")
    shot(page, "ftrig-06-list")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "ftrig-07-list-phone")
    db.session.rollback()
    assert db.session.get(Trigger, trigger_id).status == "active"
