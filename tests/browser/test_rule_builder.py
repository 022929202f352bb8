"""The rule builder in a real browser: build a 3-condition rule, watch the live
count change, explain a contact, use the JSON tab, save the persona."""
import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from extensions import db
from models import Persona
from models.base import utcnow

pytestmark = pytest.mark.browser


@pytest.fixture
def people(make):
    from engine.rules import fields as rule_fields
    rule_fields._cache.clear()
    now = utcnow()
    big = make.account(name="Bigco", arr=90000, plan="enterprise")
    small = make.account(name="Smallco", arr=5000, plan="starter")
    old, fresh = now - timedelta(days=30), now - timedelta(days=1)
    return {
        "dormant_big_admin": make.contact(big, role="admin", last_seen_at=old, email="dora@bigco.test"),
        "active_big_admin": make.contact(big, role="admin", last_seen_at=fresh, email="abe@bigco.test"),
        "dormant_small_admin": make.contact(small, role="admin", last_seen_at=old, email="sam@smallco.test"),
        "dormant_big_user": make.contact(big, role="user", last_seen_at=old, email="uma@bigco.test"),
        "other": make.contact(small, role="user", last_seen_at=fresh, email="ola@smallco.test"),
    }


def count(page):
    return page.locator("[data-rb-count]")


def last_row(page, scope=".rb-root > .rb-children"):
    return page.locator(f"{scope} > .rb-cond").last


def add_condition(page, expected_rows):
    page.click(".rb-root > .rb-group-head button:has-text('Condition')")
    expect(page.locator(".rb-root > .rb-children > .rb-cond")).to_have_count(expected_rows)


def choose(row, what, value):
    """Pick a field/operator and wait until the server has re-rendered the row."""
    before = row.get_attribute("data-rb-uid")
    row.locator(f"[data-rb={what}]").select_option(value)
    expect(row).not_to_have_attribute("data-rb-uid", before)
    # The new row is live once htmx has settled it (a change fired before then is lost).
    expect(row).not_to_have_class(re.compile(r"\bhtmx-(added|settling)\b"))


def test_build_a_rule_watch_the_count_and_explain(page, people):
    page.login("manager")
    page.goto(page.base + "/personas/new")
    expect(count(page)).to_have_text("5")

    # 1. Role is admin
    add_condition(page, 1)
    row = last_row(page)
    expect(row.locator("[data-rb=field]")).to_have_value("contact.role")
    row.locator("[data-rb=value]").fill("admin")
    expect(count(page)).to_have_text("3")

    # 2. Last seen more than 14 days ago (the row re-renders for the field's type)
    add_condition(page, 2)
    choose(last_row(page), "field", "contact.last_seen_at")
    expect(last_row(page)).to_have_attribute("data-value-kind", "date")
    choose(last_row(page), "op", "older_than_days")
    expect(last_row(page)).to_have_attribute("data-value-kind", "days")
    last_row(page).locator("[data-rb=value]").fill("14")
    expect(count(page)).to_have_text("2")

    # 3. Account rule: ARR > 50,000
    page.check("[data-rb=account-enabled]")
    page.click("button:has-text('Account condition')")
    expect(page.locator("[data-rb=account-children] > .rb-cond")).to_have_count(1)
    acct = page.locator("[data-rb=account-children] > .rb-cond").last
    expect(acct.locator("[data-rb=field]")).to_have_value("account.arr")
    choose(acct, "op", "gt")
    expect(acct).to_have_attribute("data-value-kind", "number")
    acct.locator("[data-rb=value]").fill("50000")
    expect(count(page)).to_have_text("1")
    expect(page.locator(".rb-sample")).to_contain_text("dora@bigco.test")

    # Why / why not for someone who does not match (Enter must not submit the form).
    page.fill("[data-rb-explain-input]", "sam@smallco.test")
    page.press("[data-rb-explain-input]", "Enter")
    expect(page.locator("[data-rb-verdict]")).to_have_attribute("data-rb-verdict", "no-match")
    failing = page.locator(".rb-explain-list li.fail")
    expect(failing).to_have_count(2)  # the rule as a whole, and the ARR condition
    expect(failing.last).to_contain_text("5,000")
    # The "why?" link on a sample row explains that contact.
    page.click(".rb-sample [data-rb-why]")
    expect(page.locator("[data-rb-verdict]")).to_have_attribute("data-rb-verdict", "match")

    # The JSON tab shows the same rule; a bad edit shows its error inline.
    page.click("[data-rb-tab=json]")
    text = page.locator(".rb-json").input_value()
    rule = json.loads(text)
    assert rule["all"] == [
        {"field": "contact.role", "op": "eq", "value": "admin"},
        {"field": "contact.last_seen_at", "op": "older_than_days", "value": 14},
        {"field": "account.arr", "op": "gt", "value": 50000},
    ]
    page.fill(".rb-json", text.replace("50000", '"lots"'))
    expect(page.locator(".rb-json-errors")).to_contain_text("all[2].value")
    expect(page.locator(".rb-preview-error")).to_contain_text("expected a number")
    page.click("[data-rb-tab=visual]")  # refused while the JSON is invalid
    expect(page.locator("[data-rb-panel=json]")).to_be_visible()
    page.fill(".rb-json", text.replace("50000", "1000"))
    expect(count(page)).to_have_text("2")
    page.click("[data-rb-tab=visual]")
    expect(page.locator("[data-rb=account-children] [data-rb=value]")).to_have_value("1000")

    # Remove the role condition from the visual builder, then save.
    page.locator(".rb-root > .rb-children > .rb-cond").first.locator("[data-rb-remove]").click()
    expect(count(page)).to_have_text("3")
    page.fill("input[name=name]", "Dormant people")
    page.click("button[type=submit]:has-text('Create persona')")
    expect(page).to_have_url(re.compile(r"/personas/\d+$"))
    saved = db.session.scalars(db.select(Persona)).one()
    assert saved.rule["all"] == [
        {"field": "contact.last_seen_at", "op": "older_than_days", "value": 14},
        {"field": "account.arr", "op": "gt", "value": 1000},
    ]


def test_groups_and_user_types(page, people):
    page.login("admin")
    page.goto(page.base + "/personas/new")
    expect(count(page)).to_have_text("5")
    page.click(".rb-root > .rb-group-head button:has-text('Group')")
    group = page.locator(".rb-root > .rb-children > .rb-group")
    expect(group).to_have_count(1)
    group.locator("[data-rb=mode]").select_option("none")
    group.locator(".rb-cond [data-rb=value]").fill("admin")
    expect(count(page)).to_have_text("2")  # none of: role is admin
    for box in page.locator("[data-rb=user-type]").all():
        box.uncheck()
    expect(page.locator(".rb-types-none")).to_be_visible()
    expect(count(page)).to_have_text("0")
