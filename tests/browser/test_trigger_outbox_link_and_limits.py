"""Issue 15, defects 4 and 8, as staff click them in a browser away from UTC:
the trigger report's Outbox button shows only that trigger's emails (it linked
to ?trigger_id=, which the outbox ignores), and a negative priority is refused
like a negative delay, with the error beside the field and nothing saved."""
import pytest
from playwright.sync_api import expect

from extensions import db
from models import Trigger
from tests.conftest import sign_in

pytestmark = pytest.mark.browser




def test_the_trigger_reports_outbox_button_shows_only_that_trigger(berlin_page, make):
    page = berlin_page
    sign_in(page, page.base, "manager")
    ours = make.trigger(name="Payment failed")
    other = make.trigger(name="Welcome aboard")
    make.outbox_message(trigger=ours, subject="Your card was declined")
    make.outbox_message(trigger=other, subject="Glad you are here")
    db.session.commit()

    page.goto(f"{page.base}/reports/triggers/{ours.id}")
    page.get_by_role("main").get_by_role("link", name="Outbox", exact=True).click()
    expect(page).to_have_url(f"{page.base}/outbox/?trigger={ours.id}")
    expect(page.get_by_text("Your card was declined")).to_be_visible()
    expect(page.get_by_text("Glad you are here")).to_have_count(0)


@pytest.mark.parametrize("field, high", [("Priority", "1,000,000"),
                                         ("Global trigger delay (days)", "3,650")])
def test_a_negative_priority_is_refused_like_a_negative_delay(berlin_page, make, field, high):
    page = berlin_page
    sign_in(page, page.base, "manager")
    trigger = make.trigger(name="Win back admins", status="draft", priority=3, global_delay_days=2)
    db.session.commit()

    page.goto(f"{page.base}/triggers/{trigger.id}/edit/controls")
    box = page.get_by_label(field, exact=True)
    box.fill("-3")
    page.get_by_role("button", name="Save & continue").click()
    expect(page).to_have_url(f"{page.base}/triggers/{trigger.id}/edit/controls")
    expect(page.locator(".field", has=page.get_by_label(field, exact=True))).to_contain_text(
        f"must be between 0 and {high}")
    expect(page.get_by_label(field, exact=True)).to_have_value("-3")  # what was typed stays
    db.session.rollback()
    saved = db.session.get(Trigger, trigger.id)
    assert (saved.priority, saved.global_delay_days) == (3, 2)
