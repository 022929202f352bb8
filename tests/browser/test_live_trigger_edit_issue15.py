"""Issue 15 defect 7: editing an active trigger says it is live, and a message
change asks what happens to the emails already waiting (re-render by default, or
keep), and does it -- in a browser in America/New_York."""
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models import OutboxMessage
from models.base import utcnow
from tests.conftest import sign_in
from tests.browser import shot

pytestmark = pytest.mark.browser




@pytest.fixture
def live(make):
    acc = make.account(name="Globex")
    trigger = make.trigger(name="Weekly tips", status="active", subject="Old subject {{ contact.first_name }}",
                           html="<p>Old body</p>", started_at=utcnow())
    rows = []
    for i, state in enumerate(("pending_approval", "pending_approval", "approved")):
        c = make.contact(acc, first_name=f"P{i}", email=f"p{i}@globex.test")
        rows.append(make.outbox_message(trigger, c, state=state, subject=f"Old subject P{i}",
                                        html="<p>Old body</p>", text="Old body",
                                        approved_at=utcnow() if state == "approved" else None))
    sent = make.outbox_message(trigger, make.contact(acc, first_name="S"), state="sent",
                               subject="Old subject S", sent_at=utcnow())
    db.session.commit()
    return {"trigger": trigger, "rows": rows, "sent": sent}


def _subjects(ids):
    db.session.expire_all()
    return [db.session.get(OutboxMessage, i).subject for i in ids]


def test_live_trigger_edit_rerenders_waiting_emails(ny_page, live):
    page = ny_page
    page.login("manager")
    tid = live["trigger"].id
    page.goto(page.base + f"/triggers/{tid}/edit/message")
    note = page.locator("[data-trigger-live]")
    expect(note).to_contain_text("This trigger is live")
    expect(note).to_contain_text("3 emails already wait in the outbox")
    expect(page.get_by_text("sends nothing until you activate it")).to_have_count(0)
    page.fill("input[name=subject]", "New subject {{ contact.first_name }}")
    page.click("button[value=save]")
    # Asked first; nothing saved yet; re-render is the default.
    choice = page.locator("#waiting-choice")
    expect(choice).to_contain_text("3 emails of this trigger are already in the outbox")
    expect(choice).to_contain_text("2 waiting for approval, 1 approved")
    expect(choice.locator("input[value=rerender]")).to_be_checked()
    expect(page.locator("input[name=subject]")).to_have_value("New subject {{ contact.first_name }}")
    shot(page, "live-edit-waiting-choice")
    ids = [r.id for r in live["rows"]]
    assert _subjects(ids) == ["Old subject P0", "Old subject P1", "Old subject P2"]
    choice.locator("button:has-text('Save the message')").click()
    expect(page.locator(".flash, .alert-success").first).to_contain_text("3 waiting emails re-rendered")
    assert _subjects(ids) == ["New subject P0", "New subject P1", "New subject P2"]
    db.session.expire_all()
    assert [db.session.get(OutboxMessage, i).state for i in ids] == [
        "pending_approval", "pending_approval", "approved"]
    assert _subjects([live["sent"].id]) == ["Old subject S"]  # a sent email is history


def test_live_trigger_edit_can_keep_waiting_emails(ny_page, live):
    page = ny_page
    page.login("admin")
    tid = live["trigger"].id
    page.goto(page.base + f"/triggers/{tid}/edit/message")
    page.fill("input[name=subject]", "Another subject")
    page.click("button[value=next]")
    page.locator("#waiting-choice input[value=keep]").check()
    page.locator("#waiting-choice button:has-text('Save the message')").click()
    expect(page).to_have_url(re.compile(rf"/triggers/{tid}/edit/rule"))
    expect(page.locator(".flash, .alert-success").first).to_contain_text("keep the content they were rendered with")
    assert _subjects([r.id for r in live["rows"]]) == ["Old subject P0", "Old subject P1", "Old subject P2"]
    db.session.expire_all()
    assert live["trigger"].subject == "Another subject"
    # A change that is not the message (the name) asks nothing.
    page.goto(page.base + f"/triggers/{tid}/edit/message")
    page.fill("input[name=name]", "Weekly tips (renamed)")
    page.click("button[value=save]")
    expect(page.locator("#waiting-choice")).to_have_count(0)
    expect(page.locator(".flash, .alert-success").first).to_contain_text("Saved.")


def test_live_trigger_rule_step_says_waiting_emails_stay(ny_page, live):
    page = ny_page
    page.login("manager")
    page.goto(page.base + f"/triggers/{live['trigger'].id}/edit/rule")
    expect(page.locator("[data-trigger-live]")).to_contain_text("a change here does not touch them")
    page.click(".rb-root > .rb-group-head button:has-text('Condition')")
    row = page.locator(".rb-root > .rb-children > .rb-cond").last
    expect(row.locator(".rb-incomplete-tag")).to_be_visible()
    expect(page.locator("[data-rb-count]")).to_have_text("4")
    shot(page, "wizard-rule-step-live-incomplete")
