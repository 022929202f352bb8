"""Issue 15 defect 1 in Chromium: the viewer's time zone is applied. A browser in Berlin
and one in New York sign in (static/app.js writes their zone to the `tz` cookie); a trigger
sending at 18:20 Europe/Berlin shows "18:20 Berlin" to the Berlin viewer and "18:20 Berlin ·
12:20 your time" to the New York one, in the outbox and the triggers list; every time is
labelled with its zone; the staff setting on the account page wins over the browser's zone;
the time-zone pickers refuse text that is not a zone."""
from collections import Counter
from datetime import time, timedelta

import pytest
from playwright.sync_api import expect

from engine.clock import local_date, local_instant
from extensions import db
from models import DeliveryEvent, Staff, Trigger
from models.base import utcnow
from tests.browser.test_accessibility import Axe, violations_of
from tests.conftest import sign_in
from tests.browser import shot

pytestmark = pytest.mark.browser
BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


@pytest.fixture
def zoned(_browser, live_server):
    """zoned("Europe/Berlin") -> a page at 1280 px in a browser context of that time zone."""
    contexts = []

    def _open(tz):
        context = _browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=tz)
        contexts.append(context)
        pg = context.new_page()
        pg.set_default_timeout(10_000)
        pg.base = live_server.url
        pg.login = lambda role="admin": sign_in(pg, live_server.url, role)
        return pg

    yield _open
    for context in contexts:
        context.close()


def berlin_trigger(make):
    """An active daily trigger sending at 18:20 Berlin, with one email waiting for a send
    time 18:20 Berlin a week ahead (a winter date: 17:20 UTC, 12:20 in New York)."""
    trigger = make.trigger(name="Berlin digest", timezone=BERLIN, generate_at=time(18, 0),
                           send_at=time(18, 20), started_at=utcnow() - timedelta(days=3))
    day = local_date(utcnow(), BERLIN) + timedelta(days=7)
    send = local_instant(day, time(18, 20), BERLIN)
    message = make.outbox_message(trigger=trigger, send_after=send)
    db.session.commit()
    return trigger, message, send


def waiting_send_cell(pg):
    pg.goto(pg.base + "/outbox/?tab=waiting")
    row = pg.locator("table.outbox-table tbody tr").first
    index = [t.strip() for t in pg.locator("table.outbox-table thead th").all_text_contents()].index("Send time")
    return row.locator("td").nth(index)


def next_send_cell(pg, name):
    pg.goto(pg.base + "/triggers/")
    row = pg.locator("tr", has_text=name)
    index = [t.strip() for t in pg.locator("table thead th").all_text_contents()].index("Next send")
    return row.locator("td").nth(index)


def test_a_berlin_viewer_sees_the_berlin_send_time_labelled(zoned, make):
    trigger, message, send = berlin_trigger(make)
    pg = zoned(BERLIN)
    pg.login("manager")
    assert "Europe%2FBerlin" in {c["name"]: c["value"] for c in pg.context.cookies()}["tz"]

    cell = waiting_send_cell(pg)
    expect(cell).to_contain_text("18:20 Berlin")
    expect(cell).not_to_contain_text("your time")  # the same clock: said once
    nxt = next_send_cell(pg, "Berlin digest")
    expect(nxt).to_contain_text("18:20 Berlin")
    expect(nxt).not_to_contain_text("your time")
    # Other times carry the zone too ("Generated" tooltip, message details)
    pg.goto(pg.base + f"/outbox/{message.id}")
    expect(pg.locator("dt:text-is('Send time') + dd")).to_contain_text("18:20 Berlin")
    expect(pg.locator("dt:text-is('Generated') + dd")).to_contain_text(" Berlin")
    shot(pg, "message-berlin")


def test_a_new_york_viewer_sees_the_triggers_zone_and_their_own(zoned, make):
    trigger, message, send = berlin_trigger(make)
    pg = zoned(NEW_YORK)
    pg.login("manager")

    cell = waiting_send_cell(pg)
    expect(cell).to_contain_text("18:20 Berlin · 12:20 your time")
    shot(pg, "outbox-waiting-new-york")
    nxt = next_send_cell(pg, "Berlin digest")
    expect(nxt).to_contain_text("18:20 Berlin")
    expect(nxt).to_contain_text("12:20 your time")
    shot(pg, "triggers-new-york")
    # The trigger's details: next send in both zones, its daily time in its own
    pg.goto(pg.base + f"/reports/triggers/{trigger.id}")
    expect(pg.locator("dt:text-is('Next send') + dd")).to_contain_text("18:20 Berlin · 12:20 your time")
    expect(pg.locator(".stat", has_text="Next send")).to_contain_text("18:20 Berlin · 12:20 your time")
    expect(pg.locator("dt:text-is('Next send') + dd")).to_contain_text("(daily 18:20 Berlin)")
    shot(pg, "trigger-details-new-york")
    # The account page says which zone pages use, and where it comes from
    pg.goto(pg.base + "/account")
    expect(pg.locator("#time-zone")).to_contain_text("Nudge shows every time in America/New_York (this browser's zone)")


def test_the_recipient_list_names_the_triggers_day_and_shows_local_times(zoned, make):
    trigger = make.trigger(name="NY onboarding", timezone=NEW_YORK)
    day = local_date(utcnow(), NEW_YORK) - timedelta(days=2)
    at = local_instant(day, time(9, 30), NEW_YORK)  # 09:30 New York = 15:30 Berlin
    message = make.outbox_message(trigger=trigger, state="sent", sent_at=at, occurrence_key=day.isoformat())
    db.session.add(DeliveryEvent(message_id=message.id, trigger_id=trigger.id, contact_id=message.contact_id,
                                 kind="delivered", detail="250 OK", at=at))
    db.session.commit()
    pg = zoned(BERLIN)
    pg.login("viewer")
    pg.goto(pg.base + f"/reports/triggers/{trigger.id}/recipients?day={day.isoformat()}&metric=delivered")
    expect(pg.locator("h1 + p")).to_contain_text("(New York day)")
    expect(pg.locator("#recipients, table").first).to_contain_text("09:30 New York · 15:30 your time")
    shot(pg, "recipients-berlin")


def test_the_staff_setting_overrides_the_browser(zoned, make, app):
    berlin_trigger(make)
    pg = zoned(NEW_YORK)
    staff = pg.login("approver")
    pg.goto(pg.base + "/account")
    picker = pg.get_by_label("Show times in")
    assert picker.get_attribute("list") == "timezone-zones"
    picker.fill("tokyo")  # a place, in any case: the picker completes it from its list
    picker.press("Tab")
    expect(picker).to_have_value("Asia/Tokyo")
    shot(pg, "account-picker")
    pg.get_by_role("button", name="Save time zone").click()
    expect(pg.locator(".flash, .alert").first).to_contain_text("Times are now shown in Asia/Tokyo")
    expect(pg.locator("#time-zone")).to_contain_text("Asia/Tokyo (your setting)")
    db.session.expire_all()
    assert db.session.get(Staff, staff.id).timezone == "Asia/Tokyo"
    # 18:20 Berlin is 02:20 the next morning in Tokyo: the date is repeated
    expect(waiting_send_cell(pg)).to_contain_text(":20 Berlin ·")
    expect(waiting_send_cell(pg)).to_contain_text("02:20 your time")
    # Emptying the setting follows the browser again
    pg.goto(pg.base + "/account")
    pg.get_by_label("Show times in").fill("")
    pg.get_by_role("button", name="Save time zone").click()
    expect(pg.locator("#time-zone")).to_contain_text("America/New_York (this browser's zone)")
    db.session.expire_all()
    assert db.session.get(Staff, staff.id).timezone is None


def test_the_pickers_refuse_a_non_zone(zoned, make):
    trigger = make.trigger(name="Draft in Berlin", timezone=BERLIN, status="draft")
    db.session.commit()
    pg = zoned(BERLIN)
    staff = pg.login("manager")
    # The account page: told at once, nothing sent, nothing saved
    pg.goto(pg.base + "/account")
    picker = pg.get_by_label("Show times in")
    picker.fill("Mars/Olympus")
    pg.get_by_role("button", name="Save time zone").click()
    expect(pg.locator("#time-zone .error")).to_contain_text("“Mars/Olympus” is not a time zone")
    expect(picker).to_have_attribute("aria-invalid", "true")
    shot(pg, "account-picker-refused")
    axe, totals = Axe(), Counter()
    problems = violations_of(axe, pg, "account page, zone refused", totals)
    assert pg.url.endswith("/account")
    db.session.expire_all()
    assert db.session.get(Staff, staff.id).timezone is None
    # Fixing the text clears the message
    picker.fill("Europe/Lisbon")
    picker.press("Tab")
    expect(pg.locator("#time-zone .error:visible")).to_have_count(0)

    # The trigger wizard's time zone: the same picker
    pg.goto(pg.base + f"/triggers/{trigger.id}/edit/controls")
    tz = pg.get_by_label("Time zone")
    expect(tz).to_have_value(BERLIN)
    assert tz.get_attribute("list") == pg.locator("datalist").first.get_attribute("id")
    tz.fill("Berlin, roughly")
    pg.get_by_role("button", name="Save draft").click()
    expect(pg.locator(".field.has-error")).to_contain_text("is not a time zone")
    shot(pg, "wizard-picker-refused")
    problems += violations_of(axe, pg, "wizard controls, zone refused", totals)
    assert problems == [], "\n".join(problems)
    db.session.expire_all()
    assert db.session.get(Trigger, trigger.id).timezone == BERLIN
