"""A bounce end to end in Chromium: SES reports a hard bounce over a signed SNS
webhook (posted to the live server), and staff read it on the contact page (the
bounce panel), in the trigger details' Bounced column and its drill-down, on the
outbox message and on Settings -> Deliverability."""
import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from devtools.webhook_signing import TOPIC_ARN, SnsSigner, ses_bounce
from engine.bounces.webhooks import ses as ses_engine
from engine.sending.mime import message_id_for
from models.base import utcnow
from tests.browser import shot

pytestmark = pytest.mark.browser
REASON = "smtp; 550 5.1.1 <ann@example.com>: Recipient address rejected <b>gone</b>"


def test_a_webhook_bounce_shows_on_the_contact_trigger_outbox_and_settings(page, make, app):
    ses_engine.clear_certificate_cache()
    signer = SnsSigner()
    app.config["SES_SNS_TOPIC_ARNS"] = TOPIC_ARN
    app.extensions["webhook_fetch"] = signer.fetch
    try:
        trigger = make.trigger(name="Onboarding nudge", timezone="America/New_York",
                               started_at=utcnow() - timedelta(days=3))
        contact = make.contact(first_name="Ann", last_name="Lee", email="ann@example.com")
        message = make.outbox_message(trigger=trigger, contact=contact, state="sent", sent_at=utcnow())
        event = ses_bounce(message_id_for(message.id, app.config), contact.email)
        event["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = REASON
        note = signer.notification(event, "sns-browser-1")
        res = page.request.post(f"{page.base}/webhooks/ses", data=json.dumps(note),
                                headers={"Content-Type": "text/plain; charset=UTF-8"})
        assert res.status == 200 and res.json()["recorded"] == 1

        page.login("manager")
        # The contact page: the bounce panel with the reason (escaped) and the date.
        page.goto(f"{page.base}/contacts/{contact.id}")
        panel = page.locator("#bounce")
        expect(panel).to_contain_text("Address bounced")
        expect(panel).to_contain_text("550 5.1.1")
        expect(panel).to_contain_text("<b>gone</b>")  # shown as text, not markup
        shot(page, "bounces-contact")

        # The trigger details: 1 in today's Bounced column, and its drill-down lists Ann.
        page.goto(f"{page.base}/reports/triggers/{trigger.id}")
        header = [t.strip().lower() for t in page.locator("#trends-table thead th").all_inner_texts()]
        column = header.index("bounced")  # (headers are shown in capitals)
        totals = page.locator("#trends-table tr.totals td").nth(column)
        expect(totals).to_have_text("1")
        shot(page, "bounces-trigger-details")
        totals.locator("a[data-metric=bounced]").click()
        expect(page).to_have_url(re.compile(r"metric=bounced"))
        expect(page.locator("#recipients")).to_contain_text("ann@example.com")
        shot(page, "bounces-drilldown")

        # The outbox message: the record that came back for it.
        page.goto(f"{page.base}/outbox/{message.id}")
        records = page.locator("#bounce-records")
        expect(records).to_contain_text("Hard bounce")
        expect(records).to_contain_text("Amazon SES")
        expect(records).to_contain_text("5.1.1")
        shot(page, "bounces-outbox-message")

        # Settings -> Deliverability: the record, the per-day count, the webhook URLs.
        page.goto(f"{page.base}/settings/")
        page.get_by_role("link", name=re.compile("Deliverability")).click()
        expect(page.locator("#bounce-records tbody tr")).to_have_count(1)
        expect(page.locator("#bounce-records")).to_contain_text("<b>gone</b>")
        expect(page.locator("#webhook-url-ses")).to_have_value(re.compile(r"/webhooks/ses$"))
        expect(page.locator("#webhook-ses")).to_contain_text("Secret set")
        expect(page.locator("#webhook-mailgun")).to_contain_text("Not configured")
        shot(page, "bounces-deliverability")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "bounces-deliverability-phone")
        page.goto(f"{page.base}/")
        shot(page, "bounces-dashboard-phone")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{page.base}/")
        expect(page.locator(".stats")).to_contain_text("1 bounced")
        shot(page, "bounces-dashboard")
    finally:
        app.extensions.pop("webhook_fetch", None)
        ses_engine.clear_certificate_cache()
