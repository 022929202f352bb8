"""Issue 15 (wording): field errors read as full sentences and clear when their field is
edited, while the other fields keep theirs until they are fixed."""
import re

import pytest
from playwright.sync_api import expect
from tests.browser import shot

pytestmark = pytest.mark.browser


def _field(page, label):
    return page.locator(".field", has=page.get_by_label(label, exact=True))


def test_add_login_errors_are_sentences_and_clear_when_edited(page):
    page.login("admin")
    page.goto(page.base + "/settings/staff")
    form = page.locator("form", has=page.get_by_role("button", name="Add login"))
    form.get_by_label("Email").fill("not-an-email")
    form.get_by_label("Initial password").fill("short")
    form.get_by_role("button", name="Add login").click()

    email, password = _field(page, "Email"), _field(page, "Initial password")
    expect(email.locator(".error")).to_have_text("Enter a valid email address, like name@company.com.")
    expect(password.locator(".error")).to_have_text("A password needs 8 to 256 characters.")
    expect(page.get_by_label("Email", exact=True)).to_have_attribute("aria-invalid", "true")
    shot(page, "field-errors")

    page.get_by_label("Email", exact=True).fill("ann@example.com")  # fixed: its error goes
    expect(email.locator(".error")).to_have_count(0)
    expect(email).not_to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.get_by_label("Email", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(password.locator(".error")).to_have_count(1)  # not edited yet: still says why
    page.get_by_label("Initial password").type("-and-longer")
    expect(password.locator(".error")).to_have_count(0)
    shot(page, "field-errors-cleared")

    form.get_by_role("button", name="Add login").click()  # the server agrees now
    expect(page.locator(".flashes .flash").first).to_contain_text("ann@example.com can now sign in")


def test_account_page_errors_clear_when_edited(page):
    page.login("viewer")
    page.goto(page.base + "/account")
    page.get_by_role("button", name="Change password").click()
    current = _field(page, "Current password")
    expect(current.locator(".error")).to_have_text("Enter your current password.")
    expect(_field(page, "New password").locator(".error")).to_have_text("Choose a new password.")
    expect(_field(page, "Repeat the new password").locator(".error")).to_have_text(
        "Type the new password a second time.")
    shot(page, "account-errors")
    page.get_by_label("Current password").fill("x")
    expect(current.locator(".error")).to_have_count(0)
    expect(_field(page, "New password").locator(".error")).to_have_count(1)
