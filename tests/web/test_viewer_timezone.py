"""Issue 15 defect 1: the viewer's time zone. static/app.js stores the browser's zone
URL-encoded in the `tz` cookie ("Europe%2FBerlin"); a staff member may choose a zone on
their account page (empty: follow the browser); every time is labelled with its zone, and
a trigger's send time shows the trigger's zone and, when the clock differs, the viewer's."""
from datetime import datetime, time

import re

import pytest

from blueprints import times
from extensions import db
from models import Staff, Trigger

# 17:20 UTC on a winter day is 18:20 in Berlin and 12:20 in New York.
SEND = datetime(2026, 12, 10, 17, 20)


def _text(response) -> str:
    """A page's text without its tags (the viewer's clock is a line of its own)."""
    return re.sub(r"<[^>]+>", "", response.get_data(as_text=True))


def _cookie(value):
    return {"Cookie": f"tz={value}"}


@pytest.mark.parametrize("raw, zone", [
    ("Europe%2FBerlin", "Europe/Berlin"),          # what static/app.js writes
    ("Europe/Berlin", "Europe/Berlin"),            # written by hand, unencoded
    ("America%2FArgentina%2FBuenos_Aires", "America/Argentina/Buenos_Aires"),
    ("UTC", "UTC"),
])
def test_the_browser_cookie_is_decoded(app, raw, zone):
    with app.test_request_context(headers=_cookie(raw)):
        assert times.viewer_zone_name() == zone
        assert times.viewer_tz().key == zone


@pytest.mark.parametrize("raw", [
    "..%2F..%2Fetc%2Fpasswd", "../../etc", "%2Fetc%2Flocaltime", "Mars%2FOlympus", "europe%2Fberlin",
    "Europe%252FBerlin", "%00", "%ZZ", "x" * 5000, "Europe%2FBerlin" * 300, "",
])
def test_a_hostile_or_unknown_cookie_falls_back_to_utc(app, raw):
    with app.test_request_context(headers=_cookie(raw)):
        assert times.viewer_zone_name() == "UTC"
        assert times.format_datetime(SEND) == "10 Dec 2026, 17:20 UTC"


def test_one_format_with_the_zone_named(app):
    with app.test_request_context(headers=_cookie("Europe%2FBerlin")):
        assert times.format_datetime(SEND) == "10 Dec 2026, 18:20 Berlin"
        assert times._fmt_dt(SEND, seconds=True) == "10 Dec 2026, 18:20:00 Berlin"
        assert times.time_of_day(SEND) == "18:20 Berlin"
        assert times.time_of_day(time(9, 0), "America/New_York") == "09:00 New York"
        assert times.format_date(datetime(2026, 12, 10, 23, 30)) == "11 Dec 2026"  # Berlin's calendar
        assert times._fmt_day(datetime(2026, 12, 10).date()) == "Thu 10 Dec 2026"
        assert times._fmt_day("2026-12-10") == "Thu 10 Dec 2026"  # a schedule's occurrence key
        assert times._fmt_day("evt-17") == "evt-17"
        assert times._fmt_iso(SEND) == "2026-12-10T17:20:00Z"
        assert times.format_datetime(None) == "—"
    # zones are named by their place; the Etc/ ones by their offset (Etc/GMT+5 is UTC−5)
    assert [times.zone_label(z) for z in ("America/New_York", "America/Argentina/Buenos_Aires", "UTC",
                                       "Etc/GMT+5", "Etc/UTC")] == [
        "New York", "Buenos Aires", "UTC", "UTC−05:00", "UTC"]


def test_a_send_time_shows_the_triggers_zone_and_the_viewers(app):
    with app.test_request_context(headers=_cookie("America%2FNew_York")):
        assert times._fmt_trigger_dt(SEND, "Europe/Berlin") == "10 Dec 2026, 18:20 Berlin · 12:20 your time"
        # another calendar day for the viewer: the date is repeated
        late = datetime(2026, 12, 10, 23, 30)
        assert times._fmt_trigger_dt(late, "Europe/Berlin") == "11 Dec 2026, 00:30 Berlin · 10 Dec 2026, 18:30 your time"
    with app.test_request_context(headers=_cookie("Europe%2FBerlin")):
        assert times._fmt_trigger_dt(SEND, "Europe/Berlin") == "10 Dec 2026, 18:20 Berlin"
        assert times._fmt_trigger_dt(SEND, "Europe/Paris") == "10 Dec 2026, 18:20 Paris"  # same clock: said once


def test_the_staff_setting_overrides_the_browser(login, client):
    c = login("viewer")
    c.staff.timezone = "Asia/Tokyo"
    db.session.commit()
    client.set_cookie("tz", "Europe%2FBerlin")
    body = c.get("/account").get_data(as_text=True)
    assert "Nudge shows every time in <strong>Asia/Tokyo</strong> (your setting)" in body
    assert "Tokyo" in body and "(now Europe/Berlin)" in body


def test_account_page_sets_and_clears_the_zone(login, client):
    c = login("viewer")
    client.set_cookie("tz", "Europe%2FBerlin")
    page = c.get("/account").get_data(as_text=True)
    # the picker: a text box searching a datalist of every zone
    assert 'list="timezone-zones"' in page and '<datalist id="timezone-zones">' in page
    assert '<option value="America/New_York" label="New York · UTC' in page
    assert "(this browser's zone)" in page
    r = c.post("/account/timezone", data={"timezone": "America/New_York"})
    assert r.status_code == 302
    assert db.session.get(Staff, c.staff.id).timezone == "America/New_York"
    page = c.get("/account").get_data(as_text=True)
    assert "Times are now shown in America/New_York" in page and "(your setting)" in page
    assert c.post("/account/timezone", data={"timezone": ""}).status_code == 302
    assert db.session.get(Staff, c.staff.id).timezone is None


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../../etc/passwd", "europe/berlin", "x" * 5000,
                                 "<script>alert(1)</script>", "Europe/Berlin "*3])
def test_account_page_refuses_a_non_zone_and_saves_nothing(login, bad):
    c = login("viewer")
    c.staff.timezone = "Asia/Tokyo"
    db.session.commit()
    r = c.post("/account/timezone", data={"timezone": bad})
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Choose a time zone from the list" in body
    assert "<script>alert(1)</script>" not in body
    db.session.expire_all()
    assert db.session.get(Staff, c.staff.id).timezone == "Asia/Tokyo"


def test_account_zone_needs_login_and_csrf(app, client, login):
    assert client.post("/account/timezone", data={"timezone": "UTC"}).status_code in (302, 401)
    c = login("viewer")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        r = c.post("/account/timezone", data={"timezone": "UTC"})
        assert r.status_code in (400, 422)
        assert db.session.get(Staff, c.staff.id).timezone is None
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_pages_show_trigger_send_times_in_both_zones(login, client, make):
    c = login("manager")
    client.set_cookie("tz", "America%2FNew_York")
    trig = make.trigger(name="Berlin digest", timezone="Europe/Berlin", generate_at=time(18, 0),
                        send_at=time(18, 20))
    make.outbox_message(trigger=trig, send_after=datetime(2027, 1, 12, 17, 20))  # a winter day ahead
    db.session.commit()
    waiting = c.get("/outbox/")
    html = waiting.get_data(as_text=True)
    assert ('<span class="when send-time"><span class="when-part">12 Jan 2027,</span> '
            '<span class="when-part">18:20 Berlin</span><span class="visually-hidden"> · </span>'
            '<span class="your-time">12:20 your time</span></span>') in html
    assert "12 Jan 2027, 18:20 Berlin · 12:20 your time" in _text(waiting)
    listing = _text(c.get("/triggers/"))
    assert re.search(r"18:20 Berlin · \d\d:20 your time", listing)
    details = _text(c.get(f"/reports/triggers/{trig.id}"))
    assert "(daily 18:20 Berlin)" in details and "18:20 Berlin · " in details


@pytest.mark.filterwarnings("ignore:The .tz. cookie is too large")  # 5 KB on purpose
def test_a_hostile_cookie_never_fails_a_page(login, client):
    c = login("viewer")
    for raw in ("..%2F..%2Fetc", "x" * 5000, "%ZZ%", "Europe%2FBerlin%00"):
        client.set_cookie("tz", raw)
        for path in ("/", "/outbox/", "/triggers/", "/account"):
            assert c.get(path).status_code == 200, (raw[:20], path)
        assert "Nudge shows every time in <strong>UTC</strong>" in c.get("/account").get_data(as_text=True)


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../../etc/passwd", "Europe%2FBerlin", "berlin", "x" * 5000])
def test_the_trigger_wizard_refuses_a_non_zone(login, make, bad):
    c = login("manager")
    trig = make.trigger(name="Draft", timezone="Europe/Berlin", status="draft")
    db.session.commit()
    page = c.get(f"/triggers/{trig.id}/edit/controls").get_data(as_text=True)
    assert 'list="timezone-zones"' in page and 'data-zone-picker' in page and 'value="Europe/Berlin"' in page
    r = c.post(f"/triggers/{trig.id}/edit/controls", data={
        "priority": "1", "global_delay_days": "0", "retrigger_delay_days": "0", "generate_at": "08:00",
        "send_at": "09:00", "timezone": bad, "action": "save"})
    assert r.status_code == 422 and "IANA timezone" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Trigger, trig.id).timezone == "Europe/Berlin"


def test_a_new_trigger_starts_in_the_viewers_zone(login, client):
    c = login("manager")
    client.set_cookie("tz", "America%2FNew_York")  # was compared undecoded: never matched
    c.post("/triggers/new", data={"name": "Fresh", "subject": "Hi", "html": "<p>Hi</p>",
                                  "from_email": "cs@example.com", "action": "next"})
    fresh = db.session.scalars(db.select(Trigger).where(Trigger.name == "Fresh")).one()
    assert fresh.timezone == "America/New_York"
