"""Issue 15 polish in Chromium: the Scheduler page and home card say what each tick step
did; an account's communications log shows rendered subjects and opens a day's emails;
the trigger report's totals row drills down, its chart has straight, distinguishable
lines; the reports index has a validated range picker and a chart.

Set NUDGE_SHOTS=<dir> to keep a screenshot of each page."""
import re
from datetime import time, timedelta

import pytest
from playwright.sync_api import expect

from engine.clock import local_date, local_instant
from engine.reports.communications import CommunicationLog
from engine.tick import TIMING_KEY, run_tick
from extensions import db
from models import Communication, DeliveryEvent, TickRun
from models.base import utcnow
from tests.browser import shot

pytestmark = pytest.mark.browser
TZ = "America/New_York"
HOSTILE = "<script>window.pwned=1</script><img src=x onerror=alert(1)>"




def history(make):
    """A trigger started 12 days ago: 3 contacts of Acme on two days, one of them with a hostile name."""
    today = local_date(utcnow(), TZ)
    trigger = make.trigger(name="Renewal check-in", timezone=TZ, subject="Hi {{ contact.first_name }}",
                           started_at=utcnow() - timedelta(days=12))
    trigger.created_at = trigger.started_at
    acme = make.account(name="Acme, Inc.")
    people = [make.contact(acme, first_name=n, email=f"{i}@acme.example")
              for i, n in enumerate(["Ada", "Bob", HOSTILE])]
    log = CommunicationLog()
    for days_ago, who, kinds in [(3, 0, ["delivered", "opened", "clicked"]), (3, 1, ["delivered"]),
                                 (3, 2, ["delivered", "opened"]), (1, 0, ["delivered", "opened"]),
                                 (1, 1, ["failed"])]:
        day = today - timedelta(days=days_ago)
        at = local_instant(day, time(9, 30), TZ)
        person = people[who]
        m = make.outbox_message(trigger=trigger, contact=person, state="sent", sent_at=at,
                                occurrence_key=day.isoformat(), subject=f"Hi {person.first_name}")
        for n, kind in enumerate(kinds):
            db.session.add(DeliveryEvent(message_id=m.id, trigger_id=trigger.id, contact_id=person.id,
                                         kind=kind, at=at + timedelta(minutes=n)))
        log.record_sent(acme.id, trigger, at)
    db.session.commit()
    return trigger, acme, today


def test_scheduler_page_and_home_card_read_as_sentences(page, make):
    trigger = make.trigger(name="Welcome aboard")
    run_tick(utcnow() - timedelta(minutes=1))  # a real tick: every step, with its timing
    now = utcnow()
    db.session.add(TickRun(as_of=now, started_at=now, finished_at=now + timedelta(milliseconds=840), summary={
        "personas_refresh_step": {"enqueued": 1, "already_queued": 0},
        "generate_step": {str(trigger.id): {"candidates": 4, "created": 3, "suppressed": 1, "settled_id": 100007,
                                            "rendered": 3, "render_failed": 0}},
        "render_sweep_step": {"unrendered": 0}, "expire_stuck_step": {"uncertain": 0},
        "send_sweep_step": {"due": 3, "enqueued": 1}, "bounce_imap_step": {"polled": False},
        "report_fold_step": {"folded": 9},
        TIMING_KEY: {k: {"started_at": now.isoformat(), "seconds": s} for k, s in [
            ("personas_refresh_step", 0.002), ("generate_step", 0.612), ("render_sweep_step", 0.01),
            ("expire_stuck_step", 0.0004), ("send_sweep_step", 0.03), ("bounce_imap_step", 0.0),
            ("report_fold_step", 0.18)]}}))
    db.session.commit()
    page.login("viewer")
    home = page.locator("#home-scheduler")
    expect(home).to_contain_text("Generate emails: “Welcome aboard”: 4 candidates, 3 emails created, "
                                 "1 held back by frequency controls, 3 rendered")
    expect(home).not_to_contain_text("{")
    expect(home).not_to_contain_text("settled")
    shot(page, "home")

    home.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/settings/scheduler$"))
    steps = page.locator("#last-tick-steps tbody tr")
    expect(steps).to_have_count(7)
    cells = [[c.strip() for c in tr.locator("td").all_inner_texts()] for tr in steps.all()]
    assert [c[0] for c in cells] == ["Persona refresh", "Generate emails", "Render", "Stuck sends",
                                     "Send sweep", "Bounce mailbox", "Reports"]
    assert cells[1][1].startswith("“Welcome aboard”: 4 candidates, 3 emails created")
    assert cells[1][2] == "612 ms" and cells[3][2] == "< 1 ms" and cells[5][1] == "No bounce mailbox set (BOUNCE_IMAP_URL)"
    assert cells[6][1] == "9 delivery events added to the reports"
    assert re.fullmatch(r"\d\d:\d\d:\d\d New York", cells[0][3])  # the browser's zone
    main = page.locator("main").inner_text()
    assert "{" not in main and "'candidates'" not in main and "settled" not in main
    # The earlier (real) tick opens to its own steps.
    older = page.locator("#tick-runs > tbody > tr").nth(1)
    older.locator("summary").click()
    expect(older.locator("table.tick-steps tbody tr")).to_have_count(7)
    expect(older).to_contain_text("“Welcome aboard”: 0 candidates, 0 emails created")
    expect(older).to_contain_text("No email due to send")
    shot(page, "scheduler")


def test_communications_rows_show_rendered_subjects_and_open_the_days_emails(page, make):
    trigger, acme, today = history(make)
    page.login("viewer")
    page.goto(f"{page.base}/accounts/{acme.id}?tab=communications")
    rows = page.locator("#communications-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#communications-table")).not_to_contain_text("{{")
    day3 = today - timedelta(days=3)
    row = rows.filter(has_text=day3.strftime("%d %b %Y"))
    expect(row).to_contain_text("Hi Ada")
    expect(row).to_contain_text("and 2 more that day")
    expect(row.locator("td.num")).to_have_text("3")
    shot(page, "account-communications")

    row.get_by_role("link", name="Hi Ada").click()
    comm = db.session.query(Communication).filter_by(account_id=acme.id, day=day3).one()
    expect(page).to_have_url(re.compile(rf"/reports/communications/{comm.id}$"))
    expect(page.locator("h1")).to_contain_text("Renewal check-in")
    messages = page.locator("#day-messages tbody tr")
    expect(messages).to_have_count(3)
    expect(page.locator("#day-messages")).to_contain_text("Hi " + HOSTILE)  # shown as text, not run
    assert page.evaluate("window.pwned") is None
    shot(page, "communication-day")
    messages.first.get_by_role("link", name="Hi Ada").click()
    expect(page).to_have_url(re.compile(r"/outbox/\d+$"))


def test_trigger_report_totals_drill_down_and_chart_lines(page, make):
    trigger, acme, today = history(make)
    page.login("viewer")
    page.goto(f"{page.base}/reports/triggers/{trigger.id}")
    body = page.locator("#trends-table tbody tr")
    expect(body).to_have_count(1 + 13)  # totals + the 13 days since the trigger started, not 30
    canvas = page.locator("#trends canvas[data-drawn=true]")
    expect(canvas).to_be_visible()
    datasets = page.evaluate("""() => Chart.getChart(document.querySelector('#trends canvas'))
        .data.datasets.map(d => ({label: d.label, tension: d.tension, dash: d.borderDash, color: d.borderColor}))""")
    assert [d["label"] for d in datasets] == ["Recipients", "Delivered", "Opened", "Clicked", "Failed", "Unsubscribed", "Bounced"]
    assert all(d["tension"] == 0 for d in datasets)  # straight lines
    recipients, delivered = datasets[0], datasets[1]
    assert recipients["color"] != delivered["color"] and delivered["dash"] and not recipients["dash"]
    legend = page.evaluate("""() => Chart.getChart(document.querySelector('#trends canvas'))
        .legend.legendItems.map(i => ({text: i.text, dash: i.lineDash, style: i.pointStyle, color: i.strokeStyle}))""")
    assert [i["text"] for i in legend][:2] == ["Recipients", "Delivered"]
    assert legend[1]["dash"] == delivered["dash"] and legend[1]["style"] == "line"
    assert legend[1]["color"] == delivered["color"]
    shot(page, "trigger-report")

    totals = page.locator("#trends-table tr.totals")
    expect(totals.locator("a[data-metric=recipients]")).to_have_text("3")  # distinct, not 5
    totals.locator("a[data-metric=opened]").click()
    expect(page).to_have_url(re.compile(r"start=.*end=.*metric=opened"))
    expect(page.locator("h1")).to_contain_text("Opened")
    expect(page.locator("#recipients tbody tr")).to_have_count(2)  # Ada (two days) once, and the hostile one
    assert page.evaluate("window.pwned") is None
    shot(page, "trigger-totals-drilldown")


def test_reports_index_range_picker_validates_and_draws_a_chart(page, make):
    trigger, acme, today = history(make)
    page.login("viewer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.locator("#reports-range canvas[data-drawn=true]")).to_be_visible()
    labels = page.evaluate("() => Chart.getChart(document.querySelector('#reports-range canvas')).data.labels.length")
    assert labels == 30
    page.get_by_role("link", name="7 days").click()
    expect(page).to_have_url(re.compile(r"/reports/\?days=7$"))
    expect(page.locator("#reports-range .range-now")).to_contain_text((today - timedelta(days=6)).strftime("%d %b"))
    expect(page.locator("#reports-range canvas[data-drawn=true]")).to_be_visible()
    assert page.evaluate("() => Chart.getChart(document.querySelector('#reports-range canvas')).data.labels.length") == 7
    row = page.locator("#reports-triggers tbody tr", has_text="Renewal check-in")
    expect(row.locator("td").nth(2)).to_have_text("5")  # recipients, summed over the days

    # From after To: a clear error on the field, the default range shown, nothing lost.
    page.get_by_label("From", exact=True).fill(today.isoformat())
    page.get_by_label("To", exact=True).fill((today - timedelta(days=5)).isoformat())
    page.get_by_role("button", name="Apply").click()
    error = page.locator("#reports-range [role=alert]")
    expect(error).to_contain_text("The From date is after the To date")
    expect(page.get_by_label("From", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("From", exact=True)).to_have_value(today.isoformat())  # what was typed stays
    shot(page, "reports-index-error")
    page.get_by_label("From", exact=True).fill((today - timedelta(days=3)).isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Apply").click()
    expect(error).to_have_count(0)
    expect(row.locator("td").nth(2)).to_have_text("5")
    shot(page, "reports-index")
    row.get_by_role("link", name="Renewal check-in").click()
    expect(page).to_have_url(re.compile(rf"/reports/triggers/{trigger.id}\?start="))
    expect(page.locator("#trends-table tbody tr")).to_have_count(1 + 4)
