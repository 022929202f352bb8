"""Issue 15: a password change on one's own account page, and an admin-issued reset link
(Settings -> Staff -> Reset link -> the page at the link), in a real browser."""
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models import Staff
from tests import factories
from tests.browser import shot

pytestmark = pytest.mark.browser


def _password_ok(staff_id, password):
    db.session.rollback()  # what the live server committed
    return db.session.get(Staff, staff_id).check_password(password)


def test_changing_your_password_on_the_account_page(_browser, page):
    me = page.login("manager")
    # The same person is also signed in on another computer.
    other = _browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
    laptop = other.new_page()
    laptop.set_default_timeout(10_000)
    laptop.goto(page.base + "/login")
    laptop.fill("input[name=email]", me.email)
    laptop.fill("input[name=password]", "correct-horse-1")
    laptop.click("button[type=submit]")
    laptop.wait_for_url(page.base + "/")
    page.goto(page.base + "/account")
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("brand-new-pass-7")
    page.get_by_label("Repeat the new password").fill("brand-new-pass-7")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".field.has-error .error")).to_have_text("That is not your current password.")
    shot(page, "account-wrong-current")
    assert _password_ok(me.id, "correct-horse-1")

    page.get_by_label("Current password").fill("correct-horse-1")
    page.get_by_label("New password", exact=True).fill("brand-new-pass-7")
    page.get_by_label("Repeat the new password").fill("brand-new-pass-7")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".flashes .flash").first).to_contain_text("Your password is changed")
    assert _password_ok(me.id, "brand-new-pass-7")
    page.reload()  # this browser stays signed in
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    laptop.goto(page.base + "/account")  # the other one was signed out
    expect(laptop).to_have_url(re.compile(r"/login"))
    other.close()


def test_an_admin_reset_link_lets_the_member_set_a_password_once(_browser, page):
    page.login("admin")
    member = factories.staff(role="viewer", email="forgot@example.com")
    db.session.commit()
    page.goto(page.base + "/settings/staff")
    page.get_by_role("button", name="Create a password reset link for forgot@example.com").click()
    field = page.get_by_role("textbox", name="Reset link for forgot@example.com")
    expect(field).to_be_visible()
    expect(page.locator(".reset-link-card")).to_contain_text("works once")
    shot(page, "staff-reset-link")
    url = field.input_value()
    assert "/reset/" in url

    # The member opens it in their own browser.
    context = _browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
    theirs = context.new_page()
    theirs.set_default_timeout(10_000)
    try:
        theirs.goto(url)
        expect(theirs.get_by_role("heading", name="Set a new password")).to_be_visible()
        theirs.get_by_label("New password", exact=True).fill("fresh-start-42")
        theirs.get_by_label("Repeat the new password").fill("fresh-start-4")
        theirs.get_by_role("button", name="Set password").click()
        expect(theirs.locator(".field.has-error .error")).to_contain_text("not the same")
        shot(theirs, "reset-page-error")
        theirs.get_by_label("New password", exact=True).fill("fresh-start-42")
        theirs.get_by_label("Repeat the new password").fill("fresh-start-42")
        theirs.get_by_role("button", name="Set password").click()
        expect(theirs.locator(".flashes .flash").first).to_contain_text("Your new password is set")
        assert _password_ok(member.id, "fresh-start-42")
        theirs.fill("input[name=email]", "forgot@example.com")
        theirs.fill("input[name=password]", "fresh-start-42")
        theirs.click("button[type=submit]")
        theirs.wait_for_url(page.base + "/")

        theirs.goto(url)  # used
        expect(theirs.get_by_role("heading", name="This link cannot be used")).to_be_visible()
        expect(theirs.locator(".reset-refused")).to_contain_text("already used")
        shot(theirs, "reset-page-used")
    finally:
        context.close()
