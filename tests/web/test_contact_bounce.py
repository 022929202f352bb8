"""The contact page's bounce panel: the mark with its reason (escaped) and date, the
soft count, and "Mark address as fixed" (admins and managers, CSRF, POST only)."""
import re
from datetime import timedelta

import pytest

from engine.bounces.records import record_bounce
from extensions import db
from models import Contact, ContactChange
from models.base import utcnow

HOSTILE = '<script>alert("x")</script>'


def _bounced(make, reason=f"550 5.1.1 {HOSTILE}"):
    contact = make.contact(email="ann@example.net", first_name="Ann")
    message = make.outbox_message(contact=contact, state="sent", sent_at=utcnow())
    record_bounce(message_id=message.id, kind="hard", source="dsn", dedupe_key="<d1@mx>",
                  status="5.1.1", reason=reason, now=utcnow() - timedelta(hours=1))
    db.session.commit()
    return contact


def test_the_panel_shows_the_bounce_with_the_reason_escaped(login, make):
    contact = _bounced(make)
    page = login("viewer").get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Address bounced" in page and "Hard bounce" in page
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "Soft bounces" in page
    assert "Mark address as fixed" not in page  # a viewer may not


def test_an_unbounced_contact_reads_ok(login, make):
    contact = make.contact()
    page = login("viewer").get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Address OK" in page and "Address bounced" not in page


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_editors_mark_the_address_fixed(login, make, role):
    contact = _bounced(make)
    client = login(role)
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Mark address as fixed" in page and "data-confirm=" in page
    res = client.post(f"/contacts/{contact.id}/bounce/fixed", follow_redirects=True)
    assert res.status_code == 200 and "marked as working again" in res.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email_bounced_at is None
    change = db.session.query(ContactChange).filter_by(contact_id=contact.id).one()
    assert change.actor == client.staff.email


@pytest.mark.parametrize("role", ["approver", "viewer"])
def test_others_may_not(login, make, role):
    contact = _bounced(make)
    assert login(role).post(f"/contacts/{contact.id}/bounce/fixed").status_code == 403
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email_bounced_at is not None


def test_signed_out_is_sent_to_sign_in(client, make):
    contact = _bounced(make)
    res = client.post(f"/contacts/{contact.id}/bounce/fixed")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email_bounced_at is not None


def test_get_and_unknown_contact(login, make):
    contact = _bounced(make)
    admin = login("admin")
    assert admin.get(f"/contacts/{contact.id}/bounce/fixed").status_code == 405
    assert admin.post("/contacts/999999/bounce/fixed").status_code == 404


def test_the_action_needs_the_csrf_token(login, make, app):
    app.config["WTF_CSRF_ENABLED"] = True
    contact = _bounced(make)
    client = login("admin")
    assert client.post(f"/contacts/{contact.id}/bounce/fixed").status_code == 400
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email_bounced_at is not None
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    form = page[page.index("/bounce/fixed"):]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post(f"/contacts/{contact.id}/bounce/fixed",
                       data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email_bounced_at is None
