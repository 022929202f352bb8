"""Settings -> Deliverability, the Bounced report metric (trends, drill-down, CSV,
dashboard) and the outbox message's bounce records."""
import csv
import io

import pytest
from engine.bounces.records import record_bounce
from engine.reports.fold import fold_pending
from extensions import db
from models.base import utcnow

XSS = "<script>alert('bounce')</script>"


def _bounced(make, kind="hard", reason=f"550 5.1.1 {XSS}", **kw):
    contact = make.contact(first_name=kw.pop("first_name", "Ann"), **kw)
    trigger = make.trigger(name="Welcome", timezone="UTC")
    message = make.outbox_message(trigger=trigger, contact=contact, state="sent", sent_at=utcnow())
    record_bounce(message_id=message.id, kind=kind, source="ses", dedupe_key=f"k-{message.id}",
                  status="5.1.1", reason=reason, now=utcnow())
    db.session.commit()
    return contact, trigger, message


def test_deliverability_page_needs_a_login(client):
    anonymous = client.get("/settings/deliverability")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


@pytest.mark.parametrize("role, status", [("viewer", 403), ("approver", 403), ("manager", 200), ("admin", 200)])
def test_deliverability_page_roles(login, role, status):
    client = login(role)
    assert client.get("/settings/deliverability").status_code == status
    index = client.get("/settings/").get_data(as_text=True)
    assert ("/settings/deliverability" in index) == (status == 200)


def test_deliverability_page_without_configuration(login, app):
    app.config.update(BOUNCE_DOMAIN="", BOUNCE_IMAP_URL="", PUBLIC_BASE_URL="https://nudge.example.com")
    page = login("manager").get("/settings/deliverability").get_data(as_text=True)
    assert "Not set" in page and "BOUNCE_DOMAIN" in page
    for provider in ("ses", "sendgrid", "postmark", "mailgun"):
        assert f'value="https://nudge.example.com/webhooks/{provider}"' in page
    assert page.count("Not configured") == 4
    assert "Nothing has bounced yet" in page


def test_deliverability_page_shows_configuration_without_secrets(login, app):
    app.config.update(BOUNCE_DOMAIN="bounces.example.com", PUBLIC_BASE_URL="https://nudge.example.com/",
                      BOUNCE_IMAP_URL="imaps://dsn%40example.com:hunter2-secret@imap.example.com:993/INBOX",
                      MAILGUN_WEBHOOK_SIGNING_KEY="key-very-secret", POSTMARK_WEBHOOK_USERNAME="nudge",
                      POSTMARK_WEBHOOK_PASSWORD="pm-password-secret")
    page = login("admin").get("/settings/deliverability").get_data(as_text=True)
    assert "bounces.example.com" in page and "flask nudge bounce-listener --port 2525" in page
    assert "imap.example.com:993/INBOX" in page
    for secret in ("hunter2-secret", "key-very-secret", "pm-password-secret"):
        assert secret not in page
    assert page.count("Secret set") == 2 and page.count("Not configured") == 2
    assert 'value="https://nudge.example.com/webhooks/mailgun"' in page  # no double slash


def test_deliverability_records_are_escaped(login, make):
    contact, _trigger, message = _bounced(make, first_name=XSS)
    _bounced(make, kind="complaint", reason=None, email="carl@example.com")
    page = login("manager").get("/settings/deliverability").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;bounce&#39;)&lt;/script&gt;" in page
    assert "Hard bounce" in page and "Complaint" in page and "Amazon SES" in page
    assert f"/outbox/{message.id}" in page and f"/contacts/{contact.id}\"" in page
    assert 'id="bounce-days"' in page


def test_outbox_message_page_shows_its_bounce(login, make):
    _contact, _trigger, message = _bounced(make)
    page = login("viewer").get(f"/outbox/{message.id}").get_data(as_text=True)
    assert 'id="bounce-records"' in page and "Hard bounce" in page and "5.1.1" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    other = make.outbox_message(state="sent", sent_at=utcnow())
    assert 'id="bounce-records"' not in login("viewer").get(f"/outbox/{other.id}").get_data(as_text=True)


def _csv(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_a_bounced_message_shows_in_the_bounced_column_drilldown_and_csv(login, make):
    contact, trigger, _message = _bounced(make, email="bounced@example.com")
    client = login("viewer")
    page = client.get(f"/reports/triggers/{trigger.id}").get_data(as_text=True)
    assert "<th class=\"num\">Bounced</th>" in page
    today = utcnow().date()
    assert f"day={today.isoformat()}&amp;metric=bounced" in page
    drill = client.get(f"/reports/triggers/{trigger.id}/recipients?day={today}&metric=bounced")
    assert drill.status_code == 200 and "bounced@example.com" in drill.get_data(as_text=True)
    rows = _csv(client.get(f"/reports/triggers/{trigger.id}/trends.csv?days=7"))
    column = rows[0].index("bounced")
    by_day = {r[0]: r for r in rows[1:]}
    assert by_day[today.isoformat()][column] == "1"
    assert rows[-1][column] == "1"  # the range total
    overview = _csv(client.get("/reports/export.csv?days=7"))
    assert overview[1][overview[0].index("bounced")] == "1"
    assert ">Bounced<" in client.get("/reports/").get_data(as_text=True)


def test_dashboard_shows_bounced(login, make):
    _bounced(make)
    page = login("viewer").get("/").get_data(as_text=True)
    assert "last 30 days · 1 bounced" in page
