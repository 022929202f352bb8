"""Issue 15, the rule builder's live preview (defects 10 and 11), in a browser
with a non-UTC time zone: a half-typed condition is left out of the preview and
marked (saving still refuses it); the count says how many matches every run
holds back (unsubscribed, no email address)."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from extensions import db
from models import Persona
from models.base import utcnow
from tests.conftest import sign_in
from tests.browser import shot

pytestmark = pytest.mark.browser




@pytest.fixture
def people(make):
    from engine.rules import fields as rule_fields
    rule_fields._cache.clear()
    now = utcnow()
    big = make.account(name="Bigco", arr=90000, plan="enterprise")
    small = make.account(name="Smallco", arr=5000, plan="starter")
    out = {
        "admin1": make.contact(big, role="admin", email="dora@bigco.test"),
        "admin2": make.contact(big, role="admin", email="abe@bigco.test",
                               unsubscribed_at=now - timedelta(days=3)),
        "admin3": make.contact(small, role="admin", email="sam@smallco.test"),
        "user": make.contact(small, role="user", email="ola@smallco.test",
                             unsubscribed_at=now - timedelta(days=1)),
        "user2": make.contact(small, role="user", email="uma@smallco.test"),
    }
    db.session.commit()
    return out


def count(page):
    return page.locator("[data-rb-count]")


def test_half_typed_condition_is_ignored_and_marked(ny_page, people):
    page = ny_page
    page.login("manager")
    page.goto(page.base + "/personas/new")
    expect(count(page)).to_have_text("5")
    page.click(".rb-root > .rb-group-head button:has-text('Condition')")
    row = page.locator(".rb-root > .rb-children > .rb-cond").last
    expect(row.locator("[data-rb=field]")).to_have_value("contact.role")
    # "Role is ___": the preview leaves it out instead of saying "Nobody matches".
    expect(row).to_have_class(re.compile(r"\brb-incomplete\b"))
    expect(row.locator(".rb-incomplete-tag")).to_have_text("incomplete — ignored in the preview")
    expect(count(page)).to_have_text("5")
    expect(page.locator(".rb-nobody")).to_have_count(0)
    expect(page.locator(".rb-ignored-note")).to_contain_text("1 incomplete condition ignored")
    shot(page, "builder-incomplete-condition")
    # Typing the value makes it count, and the mark goes away.
    row.locator("[data-rb=value]").fill("admin")
    expect(count(page)).to_have_text("3")
    expect(row).not_to_have_class(re.compile(r"\brb-incomplete\b"))
    expect(row.locator(".rb-incomplete-tag")).to_have_count(0)
    expect(page.locator(".rb-ignored-note")).to_have_count(0)
    # Emptied again: ignored again; saving refuses the incomplete rule, clearly.
    row.locator("[data-rb=value]").fill("")
    expect(row.locator(".rb-incomplete-tag")).to_be_visible()
    expect(count(page)).to_have_text("5")
    page.fill("input[name=name]", "Half typed")
    page.click("button[type=submit]:has-text('Create persona')")
    expect(page.locator(".rb-json-errors")).to_contain_text("a value is required")
    saved = page.locator(".rb-saved-errors")  # named in the visual builder, not only on the JSON tab
    expect(saved).to_contain_text("“Role is …”: a value is required — this condition is not finished")
    expect(page.locator(".rb-root .rb-cond .rb-incomplete-tag")).to_be_visible()
    shot(page, "builder-incomplete-refused")
    page.locator(".rb-root > .rb-children > .rb-cond").last.locator("[data-rb=value]").fill("admin")
    expect(count(page)).to_have_text("3")
    expect(saved).to_have_count(0)  # fixed: the list of problems goes
    assert db.session.scalar(db.select(db.func.count()).select_from(Persona)) == 0


def test_preview_says_how_many_are_held_back(ny_page, people):
    page = ny_page
    page.login("manager")
    page.goto(page.base + "/personas/new")
    expect(count(page)).to_have_text("5")
    held = page.locator("[data-rb-held]")
    expect(held).to_have_attribute("data-rb-held", "2")
    expect(held).to_contain_text("5 match · 2 will be held back")
    expect(held).to_contain_text("(unsubscribed)")
    expect(held).to_contain_text("so 3 can be emailed")
    page.click(".rb-root > .rb-group-head button:has-text('Condition')")
    page.locator(".rb-root > .rb-children > .rb-cond").last.locator("[data-rb=value]").fill("admin")
    expect(count(page)).to_have_text("3")
    expect(held).to_contain_text("3 match · 1 will be held back (unsubscribed)")
    shot(page, "builder-held-back")
    # Nobody held back: no line.
    page.locator(".rb-root > .rb-children > .rb-cond").last.locator("[data-rb=value]").fill("user")
    expect(count(page)).to_have_text("2")
    expect(held).to_contain_text("2 match · 1 will be held back")
