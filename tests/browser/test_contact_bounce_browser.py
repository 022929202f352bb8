"""The contact page's bounce panel in a real browser: the mark reads with its reason,
the confirmed "Mark address as fixed" clears it (1280 px and a phone)."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from engine.bounces.records import record_bounce
from extensions import db
from models.base import utcnow
from tests import factories
from tests.browser import shot

pytestmark = pytest.mark.browser


def _bounced_contact():
    contact = factories.contact(email="ann@example.net", first_name="Ann", last_name="Lee")
    message = factories.outbox_message(contact=contact, state="sent", sent_at=utcnow())
    record_bounce(message_id=message.id, kind="soft", source="dsn", dedupe_key="<s1@mx>",
                  status="4.2.2", reason="smtp; 452 4.2.2 Mailbox full", now=utcnow() - timedelta(days=2))
    record_bounce(message_id=message.id, kind="hard", source="dsn", dedupe_key="<h1@mx>",
                  status="5.1.1", reason="smtp; 550 5.1.1 <ann@example.net>: User unknown <b>x</b>",
                  now=utcnow() - timedelta(hours=3))
    db.session.commit()
    return contact


def test_the_bounce_panel_reads_and_the_address_can_be_fixed(app, berlin_page):
    page = berlin_page
    contact = _bounced_contact()
    page.login("manager")
    page.goto(f"{page.base}/contacts/{contact.id}")
    panel = page.locator("#bounce")
    expect(panel).to_contain_text("Address bounced")
    expect(panel).to_contain_text("User unknown <b>x</b>")  # shown as text, not markup
    expect(panel).to_contain_text("1 in the last 7 days")
    shot(page, "contact-bounce-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "contact-bounce-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.once("dialog", lambda d: d.accept())
    panel.get_by_role("button", name="Mark address as fixed").click()
    expect(page.locator("#bounce")).to_contain_text("Address OK")
    expect(page.locator("body")).to_contain_text("marked as working again")
    shot(page, "contact-bounce-fixed")
