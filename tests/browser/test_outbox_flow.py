"""The outbox in a real browser: approve, see the hold countdown, unapprove, approve again, bulk approve."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from extensions import db
from models import OutboxMessage
from models.base import utcnow


def _states(ids):
    db.session.expire_all()
    rows = db.session.execute(db.select(OutboxMessage.id, OutboxMessage.state)
                              .where(OutboxMessage.id.in_(ids))).all()
    return {i: s for i, s in rows}


@pytest.mark.browser
def test_approve_unapprove_approve_then_bulk(page, make):
    staff = page.login("approver")
    trigger = make.trigger(name="Re-engage inactive admins")
    ids = [make.outbox_message(trigger=trigger, subject=f"We miss you {i}").id for i in range(4)]
    toast = page.locator("#toast")

    page.goto(page.base + "/outbox/")
    expect(page.locator(".nav-badge")).to_have_text("4")
    expect(page.locator("[data-tab=waiting] .count")).to_have_text("4")

    # Approve one from its row.
    page.locator(f"#msg-{ids[0]}").get_by_role("button", name="Approve", exact=True).click()
    expect(toast).to_contain_text("Approved 1 email")
    expect(page.locator(f"#msg-{ids[0]}")).to_have_count(0)
    expect(page.locator("[data-tab=waiting] .count")).to_have_text("3")
    expect(page.locator(".nav-badge")).to_have_text("3")
    approved = db.session.get(OutboxMessage, ids[0])
    db.session.refresh(approved)
    assert approved.state == "approved" and approved.approved_by_id == staff.id

    # The Approved tab: a live countdown and an Unapprove button while the hold runs.
    page.locator("[data-tab=approved]").click()
    expect(page).to_have_url(re.compile(r"tab=approved"))
    row = page.locator(f"#msg-{ids[0]}")
    countdown = row.locator(".btn-countdown [data-countdown]")
    expect(countdown).to_have_text(re.compile(r"^(9|10):\d\d$"))
    expect(countdown).not_to_have_text(countdown.inner_text())  # it ticks (expect polls)
    expect(row.locator(".countdown-pill")).to_be_visible()

    # Unapprove: back to waiting.
    row.get_by_role("button", name=re.compile(r"^Unapprove")).click()
    expect(toast).to_contain_text("Unapproved 1 email")
    expect(page.locator(f"#msg-{ids[0]}")).to_have_count(0)
    assert _states([ids[0]])[ids[0]] == "pending_approval"

    # Approve it again from the Waiting tab.
    page.locator("[data-tab=waiting]").click()
    expect(page.locator("[data-tab=waiting]")).to_have_class(re.compile(r"\bactive\b"))
    page.locator(f"#msg-{ids[0]}").get_by_role("button", name="Approve", exact=True).click()
    expect(toast).to_contain_text("Approved 1 email")
    assert _states([ids[0]])[ids[0]] == "approved"

    # Bulk: select all remaining on the page, approve selected.
    bulk = page.get_by_role("button", name="Approve selected")
    expect(bulk).to_be_disabled()
    page.locator("[data-select-all]").check()
    expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
    bulk.click()
    expect(toast).to_contain_text("Approved 3 emails")
    expect(page.locator("#outbox-list")).to_contain_text("Nothing is waiting for approval")
    expect(page.locator(".nav-badge")).to_have_count(0)
    assert set(_states(ids).values()) == {"approved"}

    # The message page shows who approved it and offers Unapprove.
    page.goto(page.base + f"/outbox/{ids[1]}")
    expect(page.locator("body")).to_contain_text(f"Approved by {staff.display_name}")
    expect(page.get_by_role("button", name="Unapprove")).to_be_visible()
    expect(page.locator("iframe.email-frame")).to_have_attribute("sandbox", "")

    # When a hold runs out the list refreshes itself: Unapprove goes, "Due now" comes.
    now = utcnow()
    soon = make.outbox_message(trigger=trigger, state="approved", approved_at=now,
                               approved_by_id=staff.id, hold_until=now + timedelta(seconds=3))
    page.goto(page.base + "/outbox/?tab=approved")
    row = page.locator(f"#msg-{soon.id}")
    expect(row.get_by_role("button", name=re.compile(r"^Unapprove"))).to_be_visible()
    expect(row.get_by_role("button", name=re.compile(r"^Unapprove"))).to_have_count(0, timeout=10_000)
    expect(row).to_contain_text("Due now")
