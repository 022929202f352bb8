"""Issue 15 polish: the why / why not explainer on a contact's page (check against a
trigger or persona) and on a trigger's details page (pick a contact), with the
builder's field labels, in a browser in Europe/Berlin."""
import pytest
from playwright.sync_api import expect

from extensions import db
from models import PersonaMember
from models.base import utcnow
from tests.conftest import sign_in
from tests.browser import shot

pytestmark = pytest.mark.browser




@pytest.fixture
def world(make):
    big = make.account(name="Bigco", arr=90000, plan="enterprise")
    small = make.account(name="Smallco", arr=5000, plan="starter")
    sam = make.contact(small, role="admin", email="sam@smallco.test", first_name="Sam", last_name="Small",
                       unsubscribed_at=utcnow())
    dora = make.contact(big, role="admin", email="dora@bigco.test", first_name="Dora", last_name="Big")
    trigger = make.trigger(name="Big admins", rule={"user_types": ["product_user", "crm_contact"], "all": [
        {"field": "contact.role", "op": "eq", "value": "admin"},
        {"field": "account.arr", "op": "gt", "value": 50000}]})
    persona = make.persona(name="Enterprise", rule={"all": [
        {"field": "account.plan", "op": "eq", "value": "enterprise"}]})
    db.session.add(PersonaMember(persona_id=persona.id, contact_id=dora.id, entered_at=utcnow()))
    db.session.commit()
    return {"sam": sam, "dora": dora, "trigger": trigger, "persona": persona}


def test_contact_page_checks_against_a_trigger_or_persona(berlin_page, world):
    page = berlin_page
    page.login("viewer")  # read-only: every role may look
    page.goto(page.base + f"/contacts/{world['sam'].id}")
    section = page.locator("#section-explain")
    expect(section).to_contain_text("Check against a trigger or persona")
    section.locator("select[name=check]").select_option(f"trigger:{world['trigger'].id}")
    expect(section.locator("[data-explain-verdict]")).to_have_attribute("data-explain-verdict", "no-match")
    failing = section.locator(".rb-explain-list li.fail")
    expect(failing.last).to_contain_text("ARR: 5,000")  # the builder's label, not account.arr
    expect(failing.last).to_contain_text("needs > 50,000")
    expect(section.locator(".rb-explain-list")).not_to_contain_text("account.arr")
    expect(section).to_contain_text("every run holds this contact back: unsubscribed")
    shot(page, "contact-explainer")
    section.locator("select[name=check]").select_option(f"persona:{world['persona'].id}")
    expect(section).to_contain_text("Not a member of the persona “Enterprise”")
    expect(section.locator(".rb-explain-list")).to_contain_text("Plan: starter")


def test_trigger_page_explains_a_picked_contact(berlin_page, world):
    page = berlin_page
    page.login("manager")
    page.goto(page.base + f"/reports/triggers/{world['trigger'].id}")
    card = page.locator("#trigger-explain")
    card.locator("input[name=contact]").fill("dora@bigco.test")
    card.locator("button:has-text('Explain')").click()
    expect(card.locator("[data-explain-verdict]")).to_have_attribute("data-explain-verdict", "match")
    expect(card.locator(".rb-explain-list")).to_contain_text("Role: admin")
    card.locator("input[name=contact]").fill("sam@smallco.test")
    card.locator("input[name=contact]").press("Enter")
    expect(card.locator("[data-explain-verdict]")).to_have_attribute("data-explain-verdict", "no-match")
    expect(card.locator(".rb-explain-list li.fail").last).to_contain_text("ARR: 5,000")
    shot(card, "trigger-details-explainer")
    card.locator("input[name=contact]").fill("nobody@x.test")
    card.locator("input[name=contact]").press("Enter")
    expect(card).to_contain_text("No contact has the email or external id “nobody@x.test”")
