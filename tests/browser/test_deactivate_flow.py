"""Deactivating a trigger whose emails wait in the outbox (issue 15, defect 2): the
list asks first, says how many wait, cancels them by default (they land in
Rejected, "Trigger deactivated"), and nothing of that trigger is sent afterwards;
"keep them" leaves them approvable and sendable."""
import re

import pytest
from playwright.sync_api import expect

from engine import outbox
from engine.sending.loop import send_due
from extensions import db
from models import OutboxMessage
from models.base import utcnow

pytestmark = pytest.mark.browser


def _states(ids):
    db.session.rollback()  # see what the server committed
    return [db.session.get(OutboxMessage, i).state for i in ids]


def _deactivate_from_the_list(page, name):
    page.goto(page.base + "/triggers/")
    row = page.locator("#trigger-list tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True))
    row.locator("details.menu > summary").click()
    row.locator(".menu-items").get_by_role("link", name="Deactivate…").click()
    expect(page.locator("h1")).to_have_text(f"Deactivate “{name}”?")


def test_deactivating_cancels_the_waiting_emails_and_none_is_sent(page, make, smtp_sink):
    staff = page.login("manager")
    trigger = make.trigger(name="Payment failed", status="active")
    ids = [make.outbox_message(trigger=trigger, subject=f"Card declined {i}").id for i in range(3)]
    outbox.approve(ids[:1], staff.id, utcnow())
    db.session.commit()

    page.goto(page.base + "/outbox/")
    expect(page.get_by_text("Approve all")).to_be_visible()

    _deactivate_from_the_list(page, "Payment failed")
    summary = page.locator("#waiting-summary")
    expect(summary).to_contain_text("3 emails of this trigger are still in the outbox")
    expect(summary).to_contain_text("2 waiting for approval, 1 approved")
    expect(page.get_by_role("radio", name=re.compile("^Cancel them"))).to_be_checked()
    page.get_by_role("button", name="Deactivate trigger").click()
    expect(page.locator(".flashes .flash").first).to_contain_text("3 waiting emails cancelled")
    assert _states(ids) == ["cancelled"] * 3

    page.goto(page.base + "/outbox/")
    expect(page.get_by_text("Approve all")).to_have_count(0)
    expect(page.locator("[data-tab=waiting] .count")).to_have_text("0")
    page.locator("[data-tab=rejected]").click()
    expect(page.locator(f"#msg-{ids[0]}")).to_contain_text("Trigger deactivated")

    assert send_due()["sent"] == 0 and smtp_sink.messages == []


def test_keeping_the_waiting_emails_leaves_them_approvable_and_sent(page, make, smtp_sink):
    page.login("admin")
    trigger = make.trigger(name="Welcome, power user", status="active")
    ids = [make.outbox_message(trigger=trigger).id for _ in range(2)]
    db.session.commit()

    _deactivate_from_the_list(page, "Welcome, power user")
    page.get_by_role("radio", name=re.compile("^Keep them")).check()
    page.get_by_role("button", name="Deactivate trigger").click()
    expect(page.locator(".flashes .flash").first).to_contain_text("2 waiting emails kept")
    assert _states(ids) == ["pending_approval"] * 2

    page.goto(page.base + "/outbox/")
    page.locator(f"#msg-{ids[0]}").get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#toast")).to_contain_text("Approved 1 email")
    db.session.rollback()
    message = db.session.get(OutboxMessage, ids[0])
    # Past the hold: the kept email of the inactive trigger goes out.
    assert send_due(clock=lambda: message.hold_until)["sent"] == 1
    assert _states(ids) == ["sent", "pending_approval"] and len(smtp_sink.messages) == 1
