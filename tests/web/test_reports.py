"""Trigger details, drill-down and the streamed CSV through the test client."""
import csv
import io
from datetime import datetime, time, timedelta

from extensions import db
from models import DeliveryEvent, OutboxMessage, Trigger
from models.base import utcnow


def _setup(make, n=3):
    trigger = Trigger(name="Quiet admins", kind="schedule", status="active", timezone="UTC",
                      generate_at=time(8), send_at=time(9), from_email="cs@example.com")
    db.session.add(trigger)
    db.session.commit()
    at = utcnow().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
    contacts = []
    for i in range(n):
        c = make.contact(email=f"p{i}@example.com", first_name=f'Quote"{i}', last_name="O,Neil")
        m = OutboxMessage(trigger_id=trigger.id, contact_id=c.id, account_id=c.account_id,
                          occurrence_key="x", state="sent", to_email=c.email)
        db.session.add(m)
        db.session.flush()
        db.session.add(DeliveryEvent(message_id=m.id, trigger_id=trigger.id, contact_id=c.id,
                                     kind="delivered", at=at, detail="250 OK"))
        contacts.append(c)
    db.session.commit()
    return trigger, at.date(), contacts


def test_details_page_shows_trends_and_links(login, make):
    client = login("viewer")
    trigger, day, _ = _setup(make)
    res = client.get(f"/reports/triggers/{trigger.id}")
    assert res.status_code == 200
    page = res.data.decode()
    assert "Daily trends" in page and "Daily trigger status" in page and "Next trigger details" in page
    assert f"day={day.isoformat()}&amp;metric=delivered" in page
    # Ranges: 7 days as an htmx fragment, and a custom range.
    frag = client.get(f"/reports/triggers/{trigger.id}?days=7", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and b"<html" not in frag.data and b"trends-table" in frag.data
    start = day - timedelta(days=1)
    custom = client.get(f"/reports/triggers/{trigger.id}?start={start}&end={day}")
    assert custom.status_code == 200 and day.strftime("%a %d %b %Y").encode() in custom.data
    # A range wholly before the trigger existed: said so, not a table of zeros.
    before = client.get(f"/reports/triggers/{trigger.id}?start=2020-01-01&end=2020-01-03")
    assert before.status_code == 200 and b"Nothing in this range" in before.data and b"trends-table" not in before.data
    bad = client.get(f"/reports/triggers/{trigger.id}?start=nope&end=2026-01-03")
    assert bad.status_code == 200 and "The From date “nope” is not a date: use YYYY-MM-DD" in bad.get_data(as_text=True)


def test_drill_down_and_csv_match_the_database(login, make):
    client = login("viewer")
    trigger, day, contacts = _setup(make)
    res = client.get(f"/reports/triggers/{trigger.id}/recipients?day={day}&metric=delivered")
    assert res.status_code == 200
    for c in contacts:
        assert c.email.encode() in res.data
    csv_res = client.get(f"/reports/triggers/{trigger.id}/recipients?day={day}&metric=delivered&format=csv")
    assert csv_res.mimetype == "text/csv"
    assert "attachment" in csv_res.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_res.data.decode())))
    assert sorted(r["email"] for r in rows) == sorted(c.email for c in contacts)
    assert rows[0]["first_name"].startswith('Quote"') and rows[0]["last_name"] == "O,Neil"
    assert client.get(f"/reports/triggers/{trigger.id}/recipients?day={day}&metric=bogus").status_code == 404
    assert client.get("/reports/triggers/9999").status_code == 404


def test_drill_down_pages_50_recipients_at_a_time(login, make):
    client = login("viewer")
    trigger, day, contacts = _setup(make, n=55)
    url = f"/reports/triggers/{trigger.id}/recipients?day={day}&metric=delivered"
    first = client.get(url).get_data(as_text=True)
    assert "55 contacts" in first and "1–50 of 55" in first
    assert contacts[0].email in first and contacts[54].email not in first  # same time: by contact id
    second = client.get(url + "&page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in second and "51–55 of 55" in second
    assert [c.email for c in contacts if c.email in second] == [c.email for c in contacts[50:]]
    assert "51–55 of 55" in client.get(url + "&page=99").get_data(as_text=True)
    assert "1–50 of 55" in client.get(url + "&page=x").get_data(as_text=True)


def test_reports_overview(login, make):
    client = login("viewer")
    _setup(make)
    res = client.get("/reports/")
    assert res.status_code == 200 and b"Quiet admins" in res.data


def test_details_page_reads_fresh_aggregates_and_counts_matches_on_its_own_request(login, make):
    client = login("viewer")
    trigger, day, contacts = _setup(make)  # events not folded yet: the page folds them first
    page = client.get(f"/reports/triggers/{trigger.id}").data.decode()
    assert f'day={day.isoformat()}&amp;metric=delivered" data-metric="delivered">3</a>' in page
    assert 'id="matching-now"' in page and "Counting" in page
    trigger.rule = {"user_types": ["product_user"], "all": [
        {"field": "contact.email", "op": "contains", "value": "p1@"}]}
    db.session.commit()
    res = client.get(f"/reports/triggers/{trigger.id}/matching", headers={"HX-Request": "true"})
    assert res.status_code == 200 and "1 contact" in res.data.decode() and "in 1 account" in res.data.decode()
    trigger.rule = {"user_types": ["product_user"], "all": [{"field": "contact.nope", "op": "eq", "value": 1}]}
    db.session.commit()
    res = client.get(f"/reports/triggers/{trigger.id}/matching")
    assert res.status_code == 200 and 'class="error"' in res.data.decode()
    assert client.get("/reports/triggers/999999/matching").status_code == 404
