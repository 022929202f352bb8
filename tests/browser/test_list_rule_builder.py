"""A list condition in the rule builder, in a real browser: pick "List membership",
choose the list, watch the live count, flip to "is not in", use it inside a group,
read it on the JSON tab, explain a contact and save the persona."""
import json
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models import ContactList, ListMember, Persona
from tests.browser import shot
from tests.browser.test_rule_builder import add_condition, choose, count, last_row

pytestmark = pytest.mark.browser
WEBINAR = 'Webinar — March <img src=x onerror="window.pwned=1">'


@pytest.fixture
def lists(make):
    from engine.rules import fields as rule_fields
    rule_fields._cache.clear()
    big = make.account(name="Bigco")
    people = [make.contact(big, role=role, email=f"{name}@bigco.test", first_name=name.title())
              for name, role in (("ann", "admin"), ("bob", "admin"), ("cy", "user"), ("di", "user"))]
    webinar, beta = ContactList(name=WEBINAR), ContactList(name="Beta group")
    db.session.add_all([webinar, beta])
    db.session.flush()
    db.session.add_all([ListMember(list_id=webinar.id, contact_id=c.id) for c in people[:3]]
                       + [ListMember(list_id=beta.id, contact_id=people[0].id)])
    db.session.commit()
    return {"webinar": webinar, "beta": beta}


def test_build_a_list_condition_and_see_the_preview_count(page, lists):
    webinar = lists["webinar"]
    page.login("manager")
    page.goto(page.base + "/personas/new")
    expect(count(page)).to_have_text("4")

    add_condition(page, 1)
    choose(last_row(page), "field", "list")
    row = last_row(page)
    expect(row).to_have_attribute("data-value-kind", "list_pick")
    expect(row.locator("[data-rb=op] option:checked")).to_have_text("is in")
    # Not picked yet: left out of the preview and marked as unfinished.
    expect(row.locator(".rb-incomplete-tag")).to_be_visible()
    row.locator("[data-rb=list-id]").select_option(str(webinar.id))
    expect(count(page)).to_have_text("3")
    expect(row.locator(".rb-incomplete-tag")).to_have_count(0)
    assert page.evaluate("window.pwned") is None  # the list name is text, never markup
    expect(row.locator("[data-rb=list-id] option:checked")).to_have_text(WEBINAR)

    choose(last_row(page), "op", "not_member")
    expect(last_row(page).locator("[data-rb=list-id]")).to_have_value(str(webinar.id))
    expect(count(page)).to_have_text("1")
    expect(page.locator(".rb-sample")).to_contain_text("di@bigco.test")

    # Inside a group (a new group is "any of"): only ann is in Beta group, and she is in
    # the webinar; as "none of" the group lets di through again.
    page.click(".rb-root > .rb-group-head button:has-text('Group')")
    group = page.locator(".rb-root > .rb-children > .rb-group")
    inner = group.locator(".rb-cond").first
    choose(inner, "field", "list")
    group.locator(".rb-cond").first.locator("[data-rb=list-id]").select_option(str(lists["beta"].id))
    expect(count(page)).to_have_text("0")
    group.locator("[data-rb=mode]").select_option("none")
    expect(count(page)).to_have_text("1")
    shot(page, "builder-list-condition")

    # Why / why not for a webinar registrant.
    page.fill("[data-rb-explain-input]", "ann@bigco.test")
    page.press("[data-rb-explain-input]", "Enter")
    expect(page.locator("[data-rb-verdict]")).to_have_attribute("data-rb-verdict", "no-match")
    expect(page.locator(".rb-explain-list")).to_contain_text(f"In list {WEBINAR}: yes")
    expect(page.locator(".rb-explain-list")).to_contain_text("needs not to be in the list")
    expect(page.locator(".rb-explain-list")).to_contain_text("In list Beta group: yes")
    shot(page.locator(".rb-preview-card"), "explainer-list-condition")

    # The JSON tab shows the list nodes; an edit there comes back to the visual builder.
    page.click("[data-rb-tab=json]")
    rule = json.loads(page.locator(".rb-json").input_value())
    assert rule["all"] == [{"list": webinar.id, "op": "not_member"},
                           {"not": {"any": [{"list": lists["beta"].id, "op": "member"}]}}]
    rule["all"][0]["op"] = "member"
    page.fill(".rb-json", json.dumps(rule))
    expect(count(page)).to_have_text("2")
    page.click("[data-rb-tab=visual]")
    expect(page.locator(".rb-root > .rb-children > .rb-cond [data-rb=op]").first).to_have_value("member")

    page.fill("input[name=name]", "Webinar registrants")
    page.click("button[type=submit]:has-text('Create persona')")
    expect(page).to_have_url(re.compile(r"/personas/\d+$"))
    expect(page.locator(".rb-summary")).to_contain_text(f"In list {WEBINAR}")
    shot(page, "persona-list-summary")
    saved = db.session.scalars(db.select(Persona)).one()
    assert saved.rule["all"][0] == {"list": webinar.id, "op": "member"}
    # On a phone: the saved rule opens in the builder with its lists picked.
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(page.base + f"/personas/{saved.id}/edit")
    expect(page.locator(".rb-root [data-rb=list-id]").first).to_have_value(str(webinar.id))
    expect(count(page)).to_have_text("2")
    shot(page, "builder-list-condition-phone")


def test_without_lists_the_condition_points_at_the_lists_page(page, make):
    make.contact()
    page.login("manager")
    page.goto(page.base + "/personas/new")
    add_condition(page, 1)
    choose(last_row(page), "field", "list")
    expect(last_row(page).locator(".rb-no-lists")).to_contain_text("No lists yet")
    expect(last_row(page).locator(".rb-no-lists a")).to_have_attribute("href", "/lists/")
    expect(count(page)).to_have_text("1")  # the unfinished condition is left out
