"""Lists in a real browser: create a list, add a contact from its contact page (htmx), see
them on the list page and in its history; the pages at 1280 px and on a phone."""
import pytest
from playwright.sync_api import expect

from engine.contacts import lists as engine
from extensions import db
from models import ImportJob, ListMember
from models.base import utcnow
from tests import factories
from tests.browser import shot

pytestmark = pytest.mark.browser


def test_create_a_list_add_a_contact_from_its_page_and_see_the_history(page):
    staff = page.login("manager")
    acc = factories.account(name="Acme Analytics")
    ann = factories.contact(acc, first_name="Ann", last_name="Lee", email="ann@acme.io", external_id="u-ann")
    for i in range(4):
        factories.contact(acc, first_name=f"Bo{i}", last_name="Ray", email=f"bo{i}@acme.io")
    db.session.commit()

    page.goto(page.base + "/lists/")
    expect(page.get_by_role("link", name="Lists")).to_have_class("nav-item active")
    page.get_by_label("Name").fill("Webinar — March")
    page.get_by_role("button", name="Create list").click()
    expect(page.locator("h1")).to_have_text("Webinar — March")
    expect(page.get_by_text("Nobody in this list yet")).to_be_visible()

    page.goto(page.base + f"/contacts/{ann.id}")
    section = page.locator("#section-lists")
    expect(section.get_by_text("Not in any list.")).to_be_visible()
    section.get_by_label("List").select_option(label="Webinar — March")
    section.get_by_role("button", name="Add to list").click()
    expect(section.get_by_role("link", name="Webinar — March")).to_be_visible()
    expect(page.locator("#toast")).to_contain_text("Added Ann Lee to “Webinar — March”")
    db.session.expire_all()
    assert db.session.query(ListMember).count() == 1
    shot(page, "lists-contact-section")

    section.get_by_role("link", name="Webinar — March").click()
    members = page.locator("#list-tabs")
    expect(members.get_by_role("link", name="Ann Lee")).to_be_visible()
    expect(page.get_by_text("1 member ·")).to_be_visible()
    shot(page, "lists-detail")

    page.get_by_role("tab", name="History").click()
    row = page.locator(".history-table tbody tr").first
    expect(row).to_contain_text("Added")
    expect(row).to_contain_text("Ann Lee")
    expect(row).to_contain_text("Staff")
    expect(row).to_contain_text(staff.email)
    assert "tab=history" in page.url
    shot(page, "lists-history")

    # Several at once by email / external id, with one unknown: nothing is added, the line is named.
    page.get_by_role("tab", name="Members").click()
    page.get_by_label("Emails or external ids").fill("bo0@acme.io\nghost@acme.io\nu-ann")
    page.get_by_role("button", name="Add to list").click()
    expect(page.locator(".add-errors")).to_contain_text("ghost@acme.io")
    expect(page.get_by_text("so nobody was added")).to_be_visible()
    shot(page, "lists-add-errors")
    page.get_by_label("Emails or external ids").fill("bo0@acme.io\nbo1@acme.io\nu-ann")
    page.get_by_role("button", name="Add to list").click()
    expect(page.get_by_text("Added 2 people to “Webinar — March” (1 already in it).")).to_be_visible()

    page.goto(page.base + "/lists/")
    expect(page.locator(".lists-table tbody tr")).to_contain_text("Webinar — March")
    shot(page, "lists-index")


def test_the_pages_fit_a_phone_and_1280(_browser, live_server):
    from tests.conftest import sign_in

    acc = factories.account(name="Acme Analytics")
    people = [factories.contact(acc, first_name=f"Pat{i}", last_name="Lee", email=f"pat{i}@acme.io")
              for i in range(6)]
    made = engine.create_list("Beta group — early access for the new reporting suite", actor="cs@example.com",
                              now=utcnow())
    other = engine.create_list("Webinar — March", actor="cs@example.com", now=utcnow())
    engine.add_members(made.id, [p.id for p in people], source="api", actor="crm-sync", now=utcnow())
    engine.add_members(other.id, [people[0].id], source="import", actor="march.csv", now=utcnow())
    engine.remove_members(made.id, [people[1].id], source="staff", actor="cs@example.com", now=utcnow())
    db.session.commit()
    factories.trigger(name="Beta welcome", kind="list_added", list_id=made.id, rule=None)
    factories.persona(name="Beta people", rule={"user_types": ["product_user"],
                                               "all": [{"list": made.id, "op": "member"}]})
    job = ImportJob(kind="contacts", filename="march.csv", status="draft", total_rows=1,
                    csv_text="external_id,account_external_id,email\nx1,acc,a@b.io\n",
                    mapping={"external_id": "external_id", "account_external_id": "account_external_id",
                             "email": "email", "attributes": []})
    db.session.add(job)
    db.session.commit()
    for width in (1280, 390):
        context = _browser.new_context(viewport={"width": width, "height": 900}, timezone_id="Europe/Berlin")
        pg = context.new_page()
        pg.set_default_timeout(10_000)
        try:
            sign_in(pg, live_server.url, "admin")
            for name, path in (("index", "/lists/"), ("detail", f"/lists/{made.id}"),
                               ("history", f"/lists/{made.id}?tab=history"),
                               ("contact", f"/contacts/{people[0].id}"),
                               ("import-map", f"/settings/import/{job.id}/map")):
                pg.goto(live_server.url + path)
                shot(pg, f"lists-{name}-{width}")
                overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at {width}px"
            pg.goto(live_server.url + f"/lists/{made.id}")
            pg.get_by_role("button", name="Delete").or_(pg.locator("summary", has_text="Delete")).first.click()
            expect(pg.get_by_text("cannot be deleted while it is used by")).to_be_visible()
            shot(pg, f"lists-delete-refused-{width}")
        finally:
            context.close()


def test_the_states_the_page_sweep_does_not_reach_are_accessible(page):
    """The empty Lists page, the new-list form with its error, the add box with unknown
    people, the open Delete menu and the contact page's section (axe, as test_accessibility)."""
    from collections import Counter

    from axe_playwright_python.sync_playwright import Axe

    from tests.browser.test_accessibility import violations_of

    axe, totals, problems = Axe(), Counter(), []
    page.login("admin")
    acc = factories.account(name="Acme")
    ann = factories.contact(acc, first_name="Ann", last_name="Lee", email="ann@acme.io")
    db.session.commit()
    page.goto(page.base + "/lists/")
    problems += violations_of(axe, page, "/lists/ (empty)", totals)
    page.get_by_role("button", name="Create list").click()
    expect(page.get_by_text("Give the list a name.")).to_be_visible()
    problems += violations_of(axe, page, "/lists/ (name error)", totals)
    page.get_by_label("Name").fill("Webinar")
    page.get_by_role("button", name="Create list").click()
    page.get_by_label("Emails or external ids").fill("ghost@acme.io")
    page.get_by_role("button", name="Add to list").click()
    expect(page.locator(".add-errors")).to_be_visible()
    problems += violations_of(axe, page, "list page (unknown people)", totals)
    page.locator("summary", has_text="Delete").click()
    problems += violations_of(axe, page, "list page (delete menu)", totals)
    page.goto(page.base + f"/contacts/{ann.id}")
    problems += violations_of(axe, page, "contact page (lists section)", totals)
    assert problems == [], "\n".join(problems)
