"""The trigger wizard end to end in Chromium: write the message with variables,
build the rule with the live count, set the controls, preview the email for a
chosen recipient, send a test to the dev inbox, activate; then copy, deactivate
and delete from the triggers list. The database is checked at each step."""
import re
from datetime import time

import pytest
from playwright.sync_api import expect

from extensions import db
from models import SinkMessage, Trigger

pytestmark = pytest.mark.browser

HTML = ('<p>Hi {{ contact.first_name }},</p>\n'
        '<p>{{ account.name }} can now build reports in one click.</p>\n'
        '<p><a href="https://docs.example.com/reports?ref={{ contact.external_id }}">Read the guide</a></p>\n'
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')


def fresh():
    """End the test thread's transaction so the next query sees the server's commits."""
    db.session.rollback()


def trigger_named(name):
    fresh()
    return db.session.scalars(db.select(Trigger).where(Trigger.name == name)).one_or_none()


def list_row(page, name):
    """The triggers-list row whose name link is exactly `name`."""
    return page.locator("#trigger-list tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True))


def row_action(page, name, action):
    row = list_row(page, name)
    row.locator("details.menu > summary").click()
    row.locator(".menu-items").get_by_role(
        "link" if action.endswith("…") else "button", name=action).click()


def test_wizard_create_preview_test_send_activate_copy_deactivate_delete(page, make, dev_inbox):
    acme = make.account(name="Acme Analytics", plan="enterprise")
    globex = make.account(name="Globex")
    make.contact(acme, role="admin", first_name="Ada", email="ada@acme.test")
    make.contact(globex, role="admin", first_name="Grace", email="grace@globex.test")
    make.contact(acme, role="user", first_name="Uma", email="uma@acme.test")
    make.contact(globex, role="user", first_name="Otto", email="otto@globex.test")
    staff = page.login("admin")
    flash = page.locator(".flashes .flash")

    # --- Step 1: Message -------------------------------------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Triggers").click()
    page.get_by_role("link", name="New trigger").click()
    expect(page.locator(".steps .step.active")).to_contain_text("Message")
    page.fill("input[name=name]", "Reports launch")
    page.fill("textarea[name=description]", "Tell admins about one-click reports")
    page.fill("input[name=from_email]", "success@example.com")
    page.fill("input[name=reply_to_name]", "Customer Success")
    page.fill("input[name=reply_to_email]", "cs@example.com")
    page.fill("input[name=subject]", "{{ contact.first_name }}, reports are here for ")
    page.locator("input[name=subject]").press("End")
    # The variable picker inserts at the cursor of the field focused last.
    page.locator("[data-insert-var='{{ account.name }}']").click()
    expect(page.locator("input[name=subject]")).to_have_value(
        "{{ contact.first_name }}, reports are here for {{ account.name }}")
    page.fill("textarea[name=html]", HTML)
    page.get_by_role("button", name="Save & continue").click()

    # --- Step 2: Rule (visual builder, live count) -------------------------------------
    expect(page).to_have_url(re.compile(r"/triggers/\d+/edit/rule$"))
    trigger_id = int(re.search(r"/triggers/(\d+)/", page.url).group(1))
    draft = db.session.get(Trigger, trigger_id)
    assert (draft.status, draft.subject, draft.reply_to_email) == (
        "draft", "{{ contact.first_name }}, reports are here for {{ account.name }}", "cs@example.com")
    count = page.locator("[data-rb-count]")
    expect(count).to_have_text("4")
    page.click(".rb-root > .rb-group-head button:has-text('Condition')")
    condition = page.locator(".rb-root > .rb-children > .rb-cond").last
    expect(condition.locator("[data-rb=field]")).to_have_value("contact.role")
    condition.locator("[data-rb=value]").fill("admin")
    expect(count).to_have_text("2")
    expect(page.locator(".rb-sample")).to_contain_text("ada@acme.test")
    page.get_by_role("button", name="Save & continue").click()

    # --- Step 3: Controls ----------------------------------------------------------------
    expect(page).to_have_url(re.compile(rf"/triggers/{trigger_id}/edit/controls$"))
    assert trigger_named("Reports launch").rule["all"] == [
        {"field": "contact.role", "op": "eq", "value": "admin"}]
    expect(page.locator("input[name=timezone]")).to_have_value("America/New_York")  # the browser's (Intl)
    page.fill("input[name=priority]", "7")
    page.fill("input[name=retrigger_delay_days]", "14")
    page.fill("input[name=generate_at]", "08:30")
    page.fill("input[name=send_at]", "10:00")
    page.fill("input[name=timezone]", "Europe/Berlin")
    page.get_by_role("button", name="Save & continue").click()

    # --- Step 4: Review: preview for a chosen recipient ----------------------------------
    expect(page).to_have_url(re.compile(rf"/triggers/{trigger_id}/edit/review"))
    saved = trigger_named("Reports launch")
    assert (saved.priority, saved.retrigger_delay_days, saved.generate_at, saved.send_at,
            saved.timezone, saved.requires_approval) == (7, 14, time(8, 30), time(10, 0),
                                                         "Europe/Berlin", True)
    expect(page.locator("body")).to_contain_text("2 contacts at 2 accounts match right now")
    expect(page.locator(".card", has_text="Ready to go?")).to_contain_text("Everything required is set.")
    preview = page.locator("#review-preview")
    recipient = page.get_by_label("Recipient")
    grace = recipient.locator("option", has_text="grace@globex.test").get_attribute("value")
    recipient.select_option(grace)
    expect(preview).to_contain_text("grace@globex.test")
    expect(preview).to_contain_text("Grace, reports are here for Globex")
    expect(preview).to_contain_text("Customer Success")
    srcdoc = preview.locator("iframe.email-frame").get_attribute("srcdoc")
    assert "Globex can now build reports" in srcdoc and "Hi Grace," in srcdoc
    preview.get_by_role("tab", name="Plain text").click()
    expect(preview.locator("[data-part=text]")).to_contain_text("Globex can now build reports")

    # "Send a test to me": the [TEST] copy, rendered for the chosen recipient, reaches the dev inbox.
    page.get_by_role("button", name="Send a test to me").click()
    expect(flash.first).to_contain_text(f"Sent a [TEST] copy to {staff.email}")
    fresh()
    sunk = db.session.scalars(db.select(SinkMessage)).one()
    assert (sunk.subject, sunk.rcpt_to) == ("[TEST] Grace, reports are here for Globex", staff.email)
    page.goto(page.base + "/settings/")
    page.locator("a.settings-card", has_text="Dev inbox").click()
    inbox_row = page.locator("#inbox-list tbody tr").first
    expect(inbox_row).to_contain_text("[TEST] Grace, reports are here for Globex")
    expect(inbox_row).to_contain_text(staff.email)
    inbox_row.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("[TEST] Grace, reports are here for Globex")
    assert "Hi Grace," in page.locator("iframe.email-frame").get_attribute("srcdoc")

    # --- Activate ---------------------------------------------------------------------------
    page.goto(page.base + f"/triggers/{trigger_id}/edit/review")
    page.get_by_role("button", name="Activate trigger").click()
    expect(page).to_have_url(re.compile(r"/triggers/$"))
    expect(flash.first).to_contain_text("“Reports launch” is active.")
    active = trigger_named("Reports launch")
    assert active.status == "active" and active.started_at is not None
    row = list_row(page, "Reports launch")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("Daily schedule")
    expect(row.locator("td").first).to_have_text("7")

    # --- Copy: a "Copy of …" draft, opened in the wizard ---------------------------------------
    row_action(page, "Reports launch", "Copy")
    expect(page).to_have_url(re.compile(r"/triggers/\d+/edit/message$"))
    expect(page.locator("input[name=name]")).to_have_value("Copy of Reports launch")
    copy = trigger_named("Copy of Reports launch")
    assert (copy.status, copy.started_at, copy.rule, copy.subject, copy.priority) == (
        "draft", None, active.rule, active.subject, 7)
    assert copy.id != active.id
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Triggers").click()
    expect(list_row(page, "Copy of Reports launch")).to_contain_text("Draft")

    # --- Deactivate -------------------------------------------------------------------------------
    row_action(page, "Reports launch", "Deactivate…")
    expect(page.locator("h1")).to_have_text("Deactivate “Reports launch”?")
    expect(page.locator("main")).to_contain_text("No emails of this trigger are waiting")
    page.get_by_role("button", name="Deactivate trigger").click()
    expect(flash.first).to_contain_text("“Reports launch” is inactive.")
    expect(list_row(page, "Reports launch")).to_contain_text("Inactive")
    assert trigger_named("Reports launch").status == "inactive"

    # --- Delete, with a confirmation page (first keep it, then really delete) -------------------------
    row_action(page, "Reports launch", "Delete…")
    expect(page.locator("h1")).to_have_text("Delete “Reports launch”?")
    page.get_by_role("link", name="Keep it").click()
    expect(list_row(page, "Reports launch")).to_have_count(1)
    assert trigger_named("Reports launch") is not None
    row_action(page, "Reports launch", "Delete…")
    page.get_by_role("button", name="Delete trigger").click()
    expect(page).to_have_url(re.compile(r"/triggers/$"))
    expect(flash.first).to_contain_text("Deleted “Reports launch”.")
    expect(list_row(page, "Reports launch")).to_have_count(0)
    expect(list_row(page, "Copy of Reports launch")).to_have_count(1)
    assert trigger_named("Reports launch") is None
    fresh()
    assert db.session.scalars(db.select(Trigger.name)).all() == ["Copy of Reports launch"]
