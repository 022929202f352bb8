"""Reports (issue 15 polish): the range picker's validation, the distinct totals row and
its drill-down, the CSV of a whole range, no rows before a trigger's first day, and the
reports index's range and chart — through the test client."""
import csv
import io
import json
import re
from datetime import time, timedelta

import pytest

from engine.clock import local_date, local_instant
from extensions import db
from models import DeliveryEvent
from models.base import utcnow

TZ = "Europe/Berlin"


def _history(make, name="Renewal", started_days_ago=10):
    """Ada delivered+opened 2 days ago and 5 days ago; Bob delivered 2 days ago, failed 5 days ago."""
    today = local_date(utcnow(), TZ)
    trigger = make.trigger(name=name, timezone=TZ, started_at=utcnow() - timedelta(days=started_days_ago))
    trigger.created_at = trigger.started_at
    db.session.commit()
    ada = make.contact(email="ada@example.com", first_name="Ada")
    bob = make.contact(email="bob@example.com", first_name="=HYPERLINK(1)")

    def sent(days_ago, person, kinds):
        at = local_instant(today - timedelta(days=days_ago), time(10), TZ)
        m = make.outbox_message(trigger=trigger, contact=person, state="sent", sent_at=at)
        for i, kind in enumerate(kinds):
            db.session.add(DeliveryEvent(message_id=m.id, trigger_id=trigger.id, contact_id=person.id,
                                         kind=kind, at=at + timedelta(minutes=i)))
        db.session.commit()

    sent(2, ada, ["delivered", "opened"])
    sent(5, ada, ["delivered", "opened", "clicked"])
    sent(2, bob, ["delivered"])
    sent(5, bob, ["failed"])
    return trigger, today


def _csv(res):
    assert res.status_code == 200 and res.mimetype == "text/csv"
    assert "attachment" in res.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(res.get_data(as_text=True))))


BAD_RANGES = [
    ("start=nope&end=2026-01-03", "The From date “nope” is not a date: use YYYY-MM-DD"),
    ("start=2026-01-03&end=2026-02-31", "The To date “2026-02-31” is not a date"),
    ("start=2026-01-03", "Enter both dates of the custom range: the To date is missing."),
    ("end=2026-01-03", "the From date is missing."),
    ("start=2026-03-01&end=2026-01-01", "The From date is after the To date"),
    ("start=2099-01-01&end=2099-01-02", "The range starts in the future"),
    ("start=2020-01-01&end=2022-01-01", "A custom range can cover at most 366 days."),
    ("start=0001-01-01&end=0001-01-02", "reports do not go back that far"),
    ("start=%00&end=x", None),  # refused before any view (NUL), never a 500
    ("start=" + "9" * 300 + "&end=2026-01-01", "is not a date"),
    ("start=%22%3E%3Cscript%3Ex()%3C/script%3E&end=2026-01-01", "“&#34;&gt;&lt;script&gt;x()&lt;/script&gt;” is not a date"),
    ("days=5", "Choose 7, 30 or 90 days"),
    ("days=abc", "Choose 7, 30 or 90 days"),
]


@pytest.mark.parametrize("query,message", BAD_RANGES)
def test_bad_ranges_get_a_clear_error_and_the_default_range(login, make, query, message):
    client = login("viewer")
    trigger, today = _history(make)
    for url in (f"/reports/triggers/{trigger.id}", "/reports/"):
        res = client.get(f"{url}?{query}")
        assert res.status_code in (200, 400, 422), (url, res.status_code)
        if message is None:
            continue
        page = res.get_data(as_text=True)
        assert message in page, url
        assert 'role="alert"' in page and "he last 30 days" in page
        assert 'aria-invalid="true"' in page or query.startswith("days=")
        assert "<script>x" not in page
    # The CSV of a bad range is the default range's, never a 500.
    assert client.get(f"/reports/triggers/{trigger.id}/trends.csv?{query}").status_code in (200, 400, 422)
    assert client.get(f"/reports/export.csv?{query}").status_code in (200, 400, 422)


def test_totals_row_counts_each_contact_once_and_drills_down_to_them(login, make):
    client = login("viewer")
    trigger, today = _history(make)
    page = client.get(f"/reports/triggers/{trigger.id}?days=7").get_data(as_text=True)
    totals = page[page.index('<tr class="totals">'):]
    totals = totals[:totals.index("</tr>")]
    start = today - timedelta(days=6)
    # Ada and Bob were attempted on two days each: 2 recipients, not 4.
    link = f'start={start.isoformat()}&amp;end={today.isoformat()}&amp;metric=recipients" data-metric="recipients">2</a>'
    assert link in totals
    assert 'metric=delivered" data-metric="delivered">2</a>' in totals
    assert 'metric=opened" data-metric="opened">1</a>' in totals  # Ada opened on two days: once
    assert 'metric=failed" data-metric="failed">1</a>' in totals
    assert "distinct contacts" in totals
    drill = client.get(f"/reports/triggers/{trigger.id}/recipients?start={start}&end={today}&metric=recipients")
    text = drill.get_data(as_text=True)
    assert drill.status_code == 200 and "2 contacts" in text and "ada@example.com" in text and "bob@example.com" in text
    rows = _csv(client.get(f"/reports/triggers/{trigger.id}/recipients?start={start}&end={today}"
                           f"&metric=opened&format=csv"))
    assert [r[1] for r in rows[1:]] == ["ada@example.com"]
    # Range drill-downs refuse nonsense like the day ones (404, never a 500).
    for q in (f"start={today}&end={start}", "start=x&end=y", f"start=2000-01-01&end={today}", f"start={start}"):
        assert client.get(f"/reports/triggers/{trigger.id}/recipients?{q}&metric=recipients").status_code == 404


def test_the_trends_csv_is_the_whole_range(login, make):
    client = login("viewer")
    trigger, today = _history(make)
    rows = _csv(client.get(f"/reports/triggers/{trigger.id}/trends.csv?days=7"))
    assert rows[0] == ["day", "recipients", "delivered", "opened", "clicked", "failed", "unsubscribed",
                       "bounced", "click_thru_rate"]
    days = [r[0] for r in rows[1:-1]]
    assert days == [(today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]  # oldest first, 7 days
    by_day = {r[0]: r[1:] for r in rows[1:]}
    assert by_day[(today - timedelta(days=5)).isoformat()] == ["2", "1", "1", "1", "1", "0", "0", "1.0000"]
    assert by_day[(today - timedelta(days=2)).isoformat()] == ["2", "2", "1", "0", "0", "0", "0", "0.0000"]
    assert by_day[today.isoformat()] == ["0", "0", "0", "0", "0", "0", "0", ""]
    assert rows[-1] == ["total (distinct contacts)", "2", "2", "1", "1", "1", "0", "0", "1.0000"]
    custom = _csv(client.get(f"/reports/triggers/{trigger.id}/trends.csv?start={today - timedelta(days=2)}&end={today}"))
    assert [r[0] for r in custom[1:-1]] == [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert custom[-1][1] == "2"


def test_the_table_starts_at_the_triggers_first_day(login, make):
    client = login("viewer")
    trigger, today = _history(make, started_days_ago=6)
    first = local_date(trigger.started_at, TZ)
    page = client.get(f"/reports/triggers/{trigger.id}").get_data(as_text=True)  # 30 days asked
    body = page[page.index('id="trends-table"'):page.index("</table>", page.index('id="trends-table"'))]
    days = re.findall(r'<td class="nowrap">(\w{3} \d\d \w{3} \d{4})</td>', body)
    assert len(days) == (today - first).days + 1 == 7  # not 30 rows, most of them zeros
    assert days[-1] == first.strftime("%a %d %b %Y")
    assert f"Starts on {first.strftime('%d %b %Y')}, this trigger's first day" in page
    chart = json.loads(re.search(r"data-chart='([^']*)'", page).group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert len(chart["labels"]) == 7 and chart["labels"][0] == first.strftime("%d %b")
    # Activity older than the trigger's start (imported history) still shows: the earliest wins.
    rows = _csv(client.get(f"/reports/triggers/{trigger.id}/trends.csv?days=30"))
    assert rows[1][0] == first.isoformat()


def test_reports_index_has_a_range_picker_a_chart_and_a_csv(login, make):
    client = login("viewer")
    trigger, today = _history(make, name="<script>alert('x')</script>")
    other = make.trigger(name="=cmd|' /C calc'!A0", status="inactive")
    page = client.get("/reports/").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert 'href="/reports/?days=7"' in page and 'name="start"' in page and 'name="end"' in page
    chart = re.search(r"data-chart='([^']*)'", page).group(1)
    data = json.loads(chart.replace("&#34;", '"').replace("&quot;", '"').replace("&#39;", "'"))
    assert len(data["labels"]) == 30 and sum(data["delivered"]) == 3 and sum(data["recipients"]) == 4
    assert [s[0] for s in data["series"]] == ["recipients", "delivered", "opened", "clicked", "failed", "unsubscribed",
                                             "bounced"]
    week = client.get("/reports/?days=7", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in week and "reports-triggers" in week
    start = today - timedelta(days=3)
    custom = client.get(f"/reports/?start={start}&end={today}").get_data(as_text=True)
    assert f'/reports/triggers/{trigger.id}?start={start}&amp;end={today}' in custom  # the range carries over
    rows = _csv(client.get(f"/reports/export.csv?start={start}&end={today}"))
    assert rows[0][:5] == ["trigger_id", "trigger", "status", "from", "to"]
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["<script>alert('x')</script>"][5:13] == ["2", "2", "1", "0", "0", "0", "0", "0.0000"]
    assert by_name["'=cmd|' /C calc'!A0"][2] == "inactive"  # a formula is neutralised
    assert other.id in [int(r[0]) for r in rows[1:]]


def test_new_report_pages_need_a_login_and_are_open_to_every_role(client, make):
    trigger = make.trigger()
    for url in ("/reports/", "/reports/export.csv", f"/reports/triggers/{trigger.id}/trends.csv"):
        res = client.get(url)
        assert res.status_code in (302, 401) and "login" in res.headers.get("Location", "login")


@pytest.mark.parametrize("role", ["viewer", "approver", "manager", "admin"])
def test_every_role_reads_the_reports_and_their_csv(login, make, role):
    client = login(role)
    trigger, today = _history(make)
    for url in ("/reports/", "/reports/export.csv", f"/reports/triggers/{trigger.id}",
                f"/reports/triggers/{trigger.id}/trends.csv"):
        assert client.get(url).status_code == 200, url
    assert client.get("/reports/triggers/99999/trends.csv").status_code == 404
