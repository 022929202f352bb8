"""Issue 15 defect 6 (the review step names who it shows, and says when they do
not match) and 11 (its count says how many are held back), in Europe/Berlin."""
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models.base import utcnow
from tests.conftest import sign_in
from tests.browser import shot

pytestmark = pytest.mark.browser




@pytest.fixture
def setup(make):
    acc = make.account(name="Globex", arr=90000)
    admin = make.contact(acc, role="admin", email="ada@globex.test", first_name="Ada", last_name="Admin")
    make.contact(acc, role="admin", email="gone@globex.test", first_name="Gus", last_name="Gone",
                 unsubscribed_at=utcnow())
    user = make.contact(acc, role="user", email="uli@globex.test", first_name="Uli", last_name="User",
                        is_product_user=True)
    trigger = make.trigger(name="Admins digest", status="draft",
                           rule={"user_types": ["product_user", "crm_contact"],
                                 "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]})
    db.session.commit()
    return {"admin": admin, "user": user, "trigger": trigger}


def test_review_says_when_the_shown_contact_does_not_match(berlin_page, setup):
    page = berlin_page
    page.login("manager")
    tid = setup["trigger"].id
    page.goto(page.base + f"/triggers/{tid}/edit/review")
    picker = page.get_by_label("Recipient")
    expect(picker).to_have_value(str(setup["admin"].id))
    expect(page.locator("[data-review-held]")).to_contain_text("2 match · 1 will be held back (unsubscribed)")
    expect(page.locator("[data-review-verdict]")).to_have_count(0)
    # Look up someone the rule does not match: the picker names them, the page says so.
    page.fill("input[name=email]", "uli@globex.test")
    page.click("button:has-text('Show')")
    expect(page).to_have_url(re.compile(rf"contact_id={setup['user'].id}"))
    expect(picker).to_have_value(str(setup["user"].id))
    expect(picker.locator("option:checked")).to_contain_text("uli@globex.test")
    expect(picker.locator("option:checked")).to_contain_text("does not match")
    verdict = page.locator("[data-review-verdict=no-match]")
    expect(verdict).to_contain_text("Uli User does not match this rule")
    failing = verdict.locator(".rb-explain-list li.fail")
    expect(failing.last).to_contain_text("Role: user")  # the builder's label, not contact.role
    expect(failing.last).to_contain_text("needs = admin")
    expect(page.locator("#review-preview")).to_contain_text("uli@globex.test")
    expect(page.locator("#test-send-contact")).to_have_value(str(setup["user"].id))
    shot(page, "wizard-review-no-match")
    # Back to a matching contact from the picker: the warning goes, the picker agrees.
    picker.select_option(str(setup["admin"].id))
    expect(page.locator("#review-preview")).to_contain_text("ada@globex.test")
    expect(page.locator("[data-review-verdict]")).to_have_count(0)
    expect(page.locator("#test-send-contact")).to_have_value(str(setup["admin"].id))
