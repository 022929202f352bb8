"""Trigger reports in Chromium: open a trigger's details from the triggers list,
switch the range (7 / 30 / 90 days and a custom range), drill into one number,
download its CSV and check every row against the delivery events in the database."""
import csv
import re
from datetime import time, timedelta

import pytest
from playwright.sync_api import expect

from engine.clock import local_date, local_instant
from extensions import db
from models import Account, Contact, DeliveryEvent
from models.base import utcnow

pytestmark = pytest.mark.browser
TZ = "America/New_York"
COLUMNS = ("recipients", "delivered", "opened", "clicked", "ctr", "failed", "unsubscribed")


def history(make):
    """Sent messages and their delivery events on three local days (2, 20 and 60 days ago)."""
    today = local_date(utcnow(), TZ)
    trigger = make.trigger(name="Onboarding nudge", timezone=TZ, priority=3,
                           started_at=utcnow() - timedelta(days=80))
    acme = make.account(name="Acme, Inc.")
    globex = make.account(name="Globex")
    people = [make.contact(acme if i % 2 else globex, first_name=f"Pat{i}",
                           last_name='O"Neil, Jr.' if i == 1 else f"Lee{i}") for i in range(6)]

    def sent(day_ago, person, events):
        day = today - timedelta(days=day_ago)
        at = local_instant(day, time(9, 30), TZ)
        message = make.outbox_message(trigger=trigger, contact=person, state="sent", sent_at=at,
                                      occurrence_key=day.isoformat())
        for minutes, kind, detail in events:
            db.session.add(DeliveryEvent(message_id=message.id, trigger_id=trigger.id,
                                         contact_id=person.id, kind=kind, detail=detail,
                                         at=at + timedelta(minutes=minutes)))
        db.session.commit()

    link = 'https://example.com/guide?step=1,2&say="hi"'
    # 2 days ago: 5 attempted, 4 delivered, 1 failed; 3 opened, 2 clicked, 1 unsubscribed.
    sent(2, people[0], [(0, "delivered", "250 OK"), (5, "opened", None), (6, "clicked", link)])
    sent(2, people[1], [(0, "delivered", "250 OK"), (7, "opened", None), (8, "clicked", link),
                        (9, "clicked", "https://example.com/pricing")])
    sent(2, people[2], [(0, "delivered", "250 OK"), (15, "opened", None), (16, "unsubscribed", None)])
    sent(2, people[3], [(0, "delivered", "250 OK")])
    sent(2, people[4], [(0, "failed", "550 5.1.1 no such user")])
    # 20 days ago: 2 delivered, 1 opened.  60 days ago: 3 delivered.
    sent(20, people[0], [(0, "delivered", "250 OK"), (30, "opened", None)])
    sent(20, people[5], [(0, "delivered", "250 OK")])
    for person in people[:3]:
        sent(60, person, [(0, "delivered", "250 OK")])
    return trigger, today


def table(page):
    """{day label: {column: text}} of the trends table, plus "total"."""
    rows = {}
    for tr in page.locator("#trends-table tbody tr").all():
        cells = [c.strip() for c in tr.locator("td").all_inner_texts()]
        key = "total" if "totals" in (tr.get_attribute("class") or "") else cells[0]
        rows[key] = dict(zip(COLUMNS, cells[1:]))
    return rows


def label(day):
    return day.strftime("%a %d %b %Y")


def test_details_ranges_drilldown_and_csv(page, make, tmp_path):
    trigger, today = history(make)
    page.login("viewer")  # reports are for everyone who can sign in
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Triggers").click()
    page.get_by_role("link", name="Onboarding nudge", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/reports/triggers/{trigger.id}$"))
    expect(page.locator("h1")).to_contain_text("Onboarding nudge")
    expect(page.locator(".stats")).to_contain_text("30-day recipients")
    expect(page.locator("canvas[data-chart]")).to_be_visible()
    rows = page.locator("#trends-table tbody tr")
    # Two recipient figures, each saying what it counts (issue 15, defect 5).
    expect(page.locator(".stats")).to_contain_text("distinct contacts: each counted once")
    summed = page.locator("#trends-table tr.totals .sub")
    expect(summed).to_have_text("distinct contacts")
    assert "counts once over the range" in summed.get_attribute("title")

    # Default: the last 30 days (one row a day, plus the totals row).
    expect(rows).to_have_count(31)
    day2 = today - timedelta(days=2)
    data = table(page)
    assert data[label(day2)] == {"recipients": "5", "delivered": "4", "opened": "3", "clicked": "2",
                                 "ctr": "66.7%", "failed": "1", "unsubscribed": "1"}
    assert data[label(today - timedelta(days=20))]["delivered"] == "2"
    # Distinct contacts over the range: Pat0 (emailed on two days) counts once.
    assert (data["total"]["recipients"], data["total"]["delivered"]) == ("6", "5")

    # 7 days, 90 days, then a custom range around the oldest day.
    page.get_by_role("link", name="7 days").click()
    expect(rows).to_have_count(8)
    expect(page).to_have_url(re.compile(r"days=7"))
    assert table(page)["total"]["recipients"] == "5"
    page.get_by_role("link", name="90 days").click()
    expect(rows).to_have_count(82)  # from the trigger's start 80 days ago, not 90 rows
    assert table(page)["total"]["delivered"] == "5"  # Pat0-Pat3 and Pat5, each once
    day60 = today - timedelta(days=60)
    page.get_by_label("From").fill((day60 - timedelta(days=3)).isoformat())
    page.get_by_label("To").fill((day60 + timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(8)
    data = table(page)
    assert data[label(day60)]["delivered"] == "3" and data["total"]["recipients"] == "3"
    page.get_by_role("link", name="7 days").click()
    expect(rows).to_have_count(8)

    # Drill down: the "Clicked" number of two days ago -> who clicked, with the link.
    day_row = page.locator("#trends-table tbody tr", has_text=label(day2))
    day_row.locator("a[data-metric=clicked]").click()
    expect(page).to_have_url(re.compile(rf"metric=clicked"))
    expect(page.locator("h1")).to_contain_text("Clicked")
    expect(page.locator("#recipients tbody tr")).to_have_count(2)
    expect(page.locator("#recipients")).to_contain_text("https://example.com/guide?step=1,2")

    # The CSV: header + one row per contact, exactly what the database says.
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == f"trigger-{trigger.id}-{day2.isoformat()}-clicked.csv"
    path = tmp_path / "clicked.csv"
    download.save_as(path)
    with open(path, newline="", encoding="utf-8") as f:
        got = list(csv.DictReader(f))

    start, end = local_instant(day2, time(0), TZ), local_instant(day2 + timedelta(days=1), time(0), TZ)
    db.session.rollback()
    events = db.session.execute(
        db.select(DeliveryEvent, Contact, Account)
        .join(Contact, Contact.id == DeliveryEvent.contact_id)
        .join(Account, Account.id == Contact.account_id)
        .where(DeliveryEvent.trigger_id == trigger.id, DeliveryEvent.kind == "clicked",
               DeliveryEvent.at >= start, DeliveryEvent.at < end)
        .order_by(DeliveryEvent.at)).all()
    first = {}
    for event, contact, account in events:  # one row per contact: the first click
        first.setdefault(contact.id, (event, contact, account))
    expected = [
        {"contact_external_id": c.external_id, "email": c.email, "first_name": c.first_name,
         "last_name": c.last_name, "account": a.name,
         "at_utc": e.at.isoformat(sep=" ", timespec="seconds"), "event": "clicked", "detail": e.detail}
        for e, c, a in first.values()
    ]
    assert got == expected
    assert len(got) == 2 and got[1]["last_name"] == 'O"Neil, Jr.' and got[1]["account"] == "Acme, Inc."
