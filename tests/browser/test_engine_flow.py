"""The engine end to end: activate a schedule trigger in the UI, tick at its
generate time, approve / unapprove / approve in the outbox, tick after the hold
and the send time, read the email in the dev inbox, then follow its tracked
link and its unsubscribe link as the recipient would.

Times are explicit: the ticks run with `now` values computed from the trigger's
schedule and the approval's hold (APPROVAL_HOLD_MINUTES), never by sleeping."""
import re
from datetime import time, timedelta
from html import unescape

import pytest
from playwright.sync_api import expect

from devtools.mail_sink import message_parts
from engine.clock import next_run
from engine.tick import run_tick
from extensions import db
from models import Communication, Contact, DeliveryEvent, OutboxMessage, SinkMessage, Trigger

pytestmark = pytest.mark.browser



def email_html(guide_url):
    return ('<p>Hi {{ contact.first_name }},</p>'
            f'<p>Reports are live for {{{{ account.name }}}}: <a href="{guide_url}">read the guide</a>.</p>'
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')


def fresh():
    """End the test thread's transaction so the next query sees other threads' commits."""
    db.session.rollback()


def states(trigger_id):
    fresh()
    rows = db.session.execute(db.select(OutboxMessage.to_email, OutboxMessage.state)
                              .where(OutboxMessage.trigger_id == trigger_id)).all()
    return dict(rows)


def msg_row(page, message_id):
    return page.locator(f"#msg-{message_id}")


def test_schedule_trigger_from_tick_to_inbox_click_and_unsubscribe(page, make, app, dev_inbox, run_jobs):
    app.config["PUBLIC_BASE_URL"] = page.base  # links in the emails lead to this live server
    # The link target is another host name of the live server (Playwright cannot
    # intercept a redirect's target, and the sandbox has no outside network).
    guide = page.base.replace("127.0.0.1", "localhost") + "/login?from=reports-guide"
    acme = make.account(name="Acme Analytics")
    ada = make.contact(acme, role="admin", first_name="Ada", email="ada@acme.example.com")
    bob = make.contact(acme, role="admin", first_name="Bob", email="bob@acme.example.com")
    make.contact(acme, role="user", first_name="Uma", email="uma@acme.example.com")
    trigger = make.trigger(
        name="Reports are live", status="draft", from_email="success@example.com",
        subject="{{ contact.first_name }}, reports are live", html=email_html(guide),
        rule={"user_types": ["product_user"], "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]},
        generate_at=time(8, 0), send_at=time(9, 0), timezone="Europe/Berlin", requires_approval=True)
    staff = page.login("admin")
    toast = page.locator("#toast")

    # --- Activate from the triggers list ---------------------------------------------------
    page.goto(page.base + "/triggers/")
    row = page.locator("#trigger-list tbody tr", has_text="Reports are live")
    row.locator("details.menu > summary").click()
    row.get_by_role("button", name="Activate").click()
    expect(page.locator(".flashes")).to_contain_text("“Reports are live” is active.")
    fresh()
    trigger = db.session.get(Trigger, trigger.id)
    assert trigger.status == "active" and trigger.started_at is not None

    # --- Tick at its generate time: the recipients wait for approval -------------------------
    upcoming = next_run(trigger.generate_at, trigger.send_at, trigger.timezone, trigger.started_at)
    assert run_tick(upcoming["generate"] - timedelta(minutes=1))["generate_step"] == {}  # not yet
    summary = run_tick(upcoming["generate"])
    assert summary["generate_step"][str(trigger.id)]["created"] == 2
    run_jobs()  # anything the tick handed to workers (rendering, say)
    assert states(trigger.id) == {ada.email: "pending_approval", bob.email: "pending_approval"}
    assert run_tick(upcoming["generate"] + timedelta(minutes=5))["generate_step"] == {}  # idempotent
    ids = {m.to_email: m.id for m in db.session.scalars(db.select(OutboxMessage))}

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox").click()
    expect(page.locator(".nav-badge")).to_have_text("2")
    expect(page.locator("[data-tab=waiting] .count")).to_have_text("2")
    expect(msg_row(page, ids[ada.email])).to_contain_text("Ada, reports are live")

    # --- Approve -> unapprove -> approve ---------------------------------------------------------
    msg_row(page, ids[ada.email]).get_by_role("button", name="Approve", exact=True).click()
    expect(toast).to_contain_text("Approved 1 email")
    expect(msg_row(page, ids[ada.email])).to_have_count(0)
    assert states(trigger.id)[ada.email] == "approved"

    page.locator("[data-tab=approved]").click()
    expect(page).to_have_url(re.compile(r"tab=approved"))
    msg_row(page, ids[ada.email]).get_by_role("button", name=re.compile(r"^Unapprove")).click()
    expect(toast).to_contain_text("Unapproved 1 email")
    assert states(trigger.id)[ada.email] == "pending_approval"

    page.locator("[data-tab=waiting]").click()
    expect(page.locator("[data-tab=waiting]")).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator("[data-tab=waiting] .count")).to_have_text("2")
    page.locator("[data-select-all]").check()
    page.get_by_role("button", name="Approve selected").click()
    expect(toast).to_contain_text("Approved 2 emails")
    expect(page.locator(".nav-badge")).to_have_count(0)
    assert states(trigger.id) == {ada.email: "approved", bob.email: "approved"}
    approved = db.session.scalars(db.select(OutboxMessage)).all()
    assert {m.approved_by_id for m in approved} == {staff.id}
    hold_ends = max(m.hold_until for m in approved)

    # --- Nothing goes out before the hold and the send time have both passed --------------------
    send_at = max(upcoming["send"], hold_ends)
    run_tick(send_at - timedelta(seconds=30))
    run_jobs()
    assert set(states(trigger.id).values()) == {"approved"}
    assert db.session.scalar(db.select(db.func.count(SinkMessage.id))) == 0

    # --- Tick after hold + send time: sent into the dev inbox -------------------------------------------
    assert run_tick(send_at + timedelta(minutes=1))["send_sweep_step"]["due"] == 2
    run_jobs()
    assert states(trigger.id) == {ada.email: "sent", bob.email: "sent"}
    sunk = {m.rcpt_to: m for m in db.session.scalars(db.select(SinkMessage))}
    assert set(sunk) == {ada.email, bob.email}
    assert sunk[ada.email].subject == "Ada, reports are live"
    assert sunk[ada.email].message_id == f"<nudge-{ids[ada.email]}@nudge.local>"
    delivered = db.session.scalars(db.select(DeliveryEvent.contact_id)
                                   .where(DeliveryEvent.kind == "delivered")).all()
    assert sorted(delivered) == sorted([ada.id, bob.id])
    assert db.session.scalar(db.select(db.func.count(Communication.id))) == 1  # one per account and day

    page.goto(page.base + "/settings/inbox")
    inbox_row = page.locator("#inbox-list tbody tr", has_text=ada.email)
    expect(inbox_row).to_contain_text("Ada, reports are live")
    inbox_row.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Ada, reports are live")
    expect(page.locator(".headers-list")).to_contain_text("List-Unsubscribe-Post")
    srcdoc = page.locator("iframe.email-frame").get_attribute("srcdoc")
    assert "Reports are live for Acme Analytics" in srcdoc

    # The links as the recipient's mail client sees them.
    parts = message_parts(sunk[ada.email].raw)
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', parts["html"])]
    click_link = next(h for h in hrefs if h.startswith(page.base + "/t/c/"))
    unsubscribe_link = next(h for h in hrefs if h.startswith(page.base + "/u/"))
    assert guide not in parts["html"]  # the real URL is never in the email, only its link id

    # --- The tracked click redirects to the original URL and records the click ---------------------------
    page.goto(click_link)
    expect(page).to_have_url(guide)
    expect(page.locator("input[name=password]")).to_be_visible()  # the guide's host: a sign-in page
    fresh()
    clicks = db.session.scalars(db.select(DeliveryEvent).where(DeliveryEvent.kind == "clicked")).all()
    assert [(c.message_id, c.contact_id, c.detail) for c in clicks] == [(ids[ada.email], ada.id, guide)]

    # --- Unsubscribe: GET only asks, POST unsubscribes --------------------------------------------------------
    page.goto(unsubscribe_link)
    expect(page.locator("h1")).to_have_text("Unsubscribe?")
    expect(page.locator("body")).to_contain_text(ada.email)
    fresh()
    assert db.session.get(Contact, ada.id).unsubscribed_at is None
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.locator("h1")).to_have_text("You're unsubscribed")
    fresh()
    assert db.session.get(Contact, ada.id).unsubscribed_at is not None
    assert db.session.get(Contact, bob.id).unsubscribed_at is None
    assert db.session.scalars(db.select(DeliveryEvent.message_id)
                              .where(DeliveryEvent.kind == "unsubscribed")).all() == [ids[ada.email]]
    page.goto(unsubscribe_link)
    expect(page.locator("h1")).to_have_text("You're already unsubscribed")
