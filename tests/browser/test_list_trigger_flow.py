"""Issue 16 end to end in Chromium: create a list, add a contact to it from the
contact's page, build a list_added trigger in the wizard and activate it, add
another contact to the list through the API, tick, approve in the outbox, tick
after the hold, and read the email in the dev inbox. The contact added before
the trigger was active gets nothing (a trigger never fires for history)."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from engine.tick import run_tick
from extensions import db
from models import ContactList, OutboxMessage, SinkMessage, Trigger
from models.base import utcnow
from tests.browser import shot

pytestmark = pytest.mark.browser


def fresh():
    """End the test thread's transaction so the next query sees the server's commits."""
    db.session.rollback()


def test_list_added_trigger_from_list_to_inbox(page, make, api, dev_inbox, run_jobs):
    acme = make.account(name="Acme Analytics")
    ann = make.contact(acme, first_name="Ann", last_name="Lee", email="ann@acme.example.com",
                       external_id="u-ann")
    make.contact(acme, first_name="Bob", last_name="Ray", email="bob@acme.example.com",
                 external_id="u-bob")
    db.session.commit()
    page.login("admin")

    # --- A list, and Ann in it from her contact page -----------------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lists").click()
    page.get_by_label("Name").fill("Webinar — March")
    page.get_by_role("button", name="Create list").click()
    expect(page.locator("h1")).to_have_text("Webinar — March")
    fresh()
    webinar = db.session.scalars(db.select(ContactList)).one()

    page.goto(page.base + f"/contacts/{ann.id}")
    section = page.locator("#section-lists")
    section.get_by_label("List").select_option(label="Webinar — March")
    section.get_by_role("button", name="Add to list").click()
    expect(section.get_by_role("link", name="Webinar — March")).to_be_visible()

    # --- A list_added trigger in the wizard -------------------------------------------------
    page.goto(page.base + "/triggers/new")
    page.fill("input[name=name]", "Webinar joining details")
    page.fill("input[name=from_email]", "events@example.com")
    page.fill("input[name=subject]", "{{ contact.first_name }}, your webinar link")
    page.fill("textarea[name=html]", "<p>Hi {{ contact.first_name }}, here is how to join.</p>")
    page.get_by_role("button", name="Save & continue").click()
    expect(page).to_have_url(re.compile(r"/triggers/\d+/edit/rule$"))
    page.get_by_label("A contact is added to a list").check()
    page.get_by_label("List", exact=True).select_option(label="Webinar — March")
    page.get_by_role("button", name="Save & continue").click()
    expect(page).to_have_url(re.compile(r"/edit/controls$"))
    expect(page.get_by_label("Send to the same contact at most once in 24 hours")).to_be_checked()
    page.get_by_role("button", name="Save & continue").click()
    expect(page).to_have_url(re.compile(r"/edit/review"))
    page.get_by_role("button", name="Activate trigger").click()
    expect(page).to_have_url(re.compile(r"/triggers/$"))
    row = page.locator("#trigger-list tbody tr").filter(
        has=page.get_by_role("link", name="Webinar joining details", exact=True))
    expect(row).to_contain_text("Added to list: Webinar — March")
    shot(page, "list-trigger-01-triggers")
    fresh()
    trigger = db.session.scalars(db.select(Trigger)).one()
    assert (trigger.status, trigger.kind, trigger.list_id) == ("active", "list_added", webinar.id)

    # --- Bob joins through the API; the tick queues his email, not Ann's ----------------------
    added = api.post(f"/api/v1/lists/{webinar.id}/members", json={"contact_external_ids": ["u-bob"]})
    assert added.status_code == 200 and added.get_json() == {"added": 1}
    summary = run_tick(utcnow())
    assert summary["generate_step"][str(trigger.id)]["created"] == 1
    run_jobs()
    fresh()
    waiting = db.session.scalars(db.select(OutboxMessage)).all()
    assert [(m.to_email, m.state) for m in waiting] == [("bob@acme.example.com", "pending_approval")]

    # --- Approve in the outbox, tick after the hold: in the dev inbox --------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox").click()
    message_row = page.locator(f"#msg-{waiting[0].id}")
    expect(message_row).to_contain_text("Bob, your webinar link")
    message_row.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#toast")).to_contain_text("Approved 1 email")
    fresh()
    approved = db.session.get(OutboxMessage, waiting[0].id)
    assert approved.state == "approved"
    run_tick(approved.hold_until + timedelta(minutes=1))
    run_jobs()
    fresh()
    assert db.session.get(OutboxMessage, approved.id).state == "sent"
    assert [m.rcpt_to for m in db.session.scalars(db.select(SinkMessage))] == ["bob@acme.example.com"]

    page.goto(page.base + "/settings/inbox")
    inbox_row = page.locator("#inbox-list tbody tr", has_text="bob@acme.example.com")
    expect(inbox_row).to_contain_text("Bob, your webinar link")
    inbox_row.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Bob, your webinar link")
    shot(page, "list-trigger-02-inbox")
