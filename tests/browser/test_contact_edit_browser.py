"""The contact page's Edit contact form and Changes section, in a browser (issue 16)."""
import pytest
from playwright.sync_api import expect

from tests.browser import shot

pytestmark = pytest.mark.browser


def test_edit_a_contact_and_see_the_change(page, make):
    person = make.contact(email="ann@acme.io", first_name="Ann", last_name="Lee", role="user",
                          timezone="Europe/Berlin", attributes={"plan": "trial"})
    page.login("manager")
    page.goto(page.base + f"/contacts/{person.id}")
    card = page.locator("#edit-contact")
    card.locator("summary").click()
    card.locator("input[name=email]").fill("not an address")
    card.locator("input[name=role]").fill("owner")
    card.locator("button:has-text('Save changes')").click()
    expect(page.locator("#edit-contact")).to_contain_text("Enter a valid email address")
    shot(page, "contact-edit-error")
    card = page.locator("#edit-contact")
    card.locator("input[name=email]").fill("ann.lee@acme.io")
    card.locator("button:has-text('Save changes')").click()
    expect(page.locator(".flashes")).to_contain_text("Saved 2 changes to Ann Lee")
    changes = page.locator("#section-changes")
    expect(changes).to_contain_text("ann.lee@acme.io")
    expect(changes).to_contain_text("owner")
    shot(page, "contact-changes")
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#edit-contact summary").click()
    shot(page, "contact-edit-phone")
