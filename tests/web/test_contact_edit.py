"""The contact page's "Edit contact" form and "Changes" section (issue 16, the change feed)."""
import pytest
from sqlalchemy import select

from engine.contacts.changes import decode_value
from extensions import db
from models import Contact, ContactChange
from models.base import utcnow

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def _form(contact, **kw):
    data = {"first_name": contact.first_name or "", "last_name": contact.last_name or "",
            "email": contact.email, "role": contact.role or "", "timezone": contact.timezone or ""}
    if contact.is_product_user:
        data["is_product_user"] = "y"
    if contact.is_crm_contact:
        data["is_crm_contact"] = "y"
    data.update(kw)
    return {k: v for k, v in data.items() if v is not None}


def _feed(contact_id):
    return db.session.scalars(select(ContactChange).where(ContactChange.contact_id == contact_id)
                              .order_by(ContactChange.id)).all()


def _stored(contact_id):
    db.session.expire_all()
    return db.session.get(Contact, contact_id)


@pytest.fixture
def person(make):
    return make.contact(email="ann@acme.io", first_name="Ann", last_name="Lee", role="user",
                        timezone="Europe/Berlin", is_product_user=True, is_crm_contact=False)


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_editors_see_the_form_and_save_only_changed_fields(login, person, role):
    client = login(role)
    page = client.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert 'id="edit-contact"' in page and f'action="/contacts/{person.id}/edit"' in page
    res = client.post(f"/contacts/{person.id}/edit", data=_form(
        person, role="owner", timezone="America/New_York", is_crm_contact="y", is_product_user=None))
    assert res.status_code == 302 and res.headers["Location"].endswith(f"/contacts/{person.id}#section-changes")
    stored = _stored(person.id)
    assert (stored.role, stored.timezone, stored.is_crm_contact, stored.is_product_user, stored.first_name) == (
        "owner", "America/New_York", True, False, "Ann")
    rows = _feed(person.id)
    assert sorted((r.field, decode_value(r.old_value), decode_value(r.new_value)) for r in rows) == [
        ("contact.is_crm_contact", False, True), ("contact.is_product_user", True, False),
        ("contact.role", "user", "owner"), ("contact.timezone", "Europe/Berlin", "America/New_York")]
    assert {(r.kind, r.source, r.actor) for r in rows} == {("field", "staff", client.staff.email)}
    page = client.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert "Saved 4 changes" in page and 'id="section-changes"' in page
    assert "America/New_York" in page and client.staff.email in page


def test_saving_the_same_values_records_nothing(login, person):
    client = login("admin")
    res = client.post(f"/contacts/{person.id}/edit", data=_form(person), follow_redirects=True)
    assert "Nothing changed." in res.get_data(as_text=True)
    assert _feed(person.id) == []


def test_a_new_email_is_normalized_recorded_and_clears_the_bounce(login, person):
    person.email_bounced_at, person.email_bounce_reason = utcnow(), "550 mailbox unavailable"
    db.session.commit()
    client = login("manager")
    assert client.post(f"/contacts/{person.id}/edit", data=_form(person, email=" Ann.Lee@ACME.io ")).status_code == 302
    stored = _stored(person.id)
    assert (stored.email, stored.email_bounced_at, stored.email_bounce_reason) == ("Ann.Lee@acme.io", None, None)
    assert [(r.field, decode_value(r.new_value)) for r in _feed(person.id)] == [("contact.email", "Ann.Lee@acme.io")]


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_other_roles_get_no_form_and_a_403(login, person, role):
    client = login(role)
    page = client.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert 'id="edit-contact"' not in page
    assert client.post(f"/contacts/{person.id}/edit", data=_form(person, role="owner")).status_code == 403
    assert _stored(person.id).role == "user" and _feed(person.id) == []


def test_signed_out_is_sent_to_login(client, person):
    res = client.post(f"/contacts/{person.id}/edit", data=_form(person, role="owner"))
    assert res.status_code == 302 and "/login" in res.headers["Location"]
    assert _stored(person.id).role == "user"


def test_unknown_contact_is_404(login):
    assert login("admin").post("/contacts/999999/edit", data={"email": "a@b.io"}).status_code == 404


def test_the_form_needs_the_csrf_token(app, login, person):
    app.config["WTF_CSRF_ENABLED"] = True
    client = login("admin")
    assert client.post(f"/contacts/{person.id}/edit", data=_form(person, role="owner")).status_code == 400
    assert _stored(person.id).role == "user"
    page = client.get(f"/contacts/{person.id}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    res = client.post(f"/contacts/{person.id}/edit", data={**_form(person, role="owner"), "csrf_token": token})
    assert res.status_code == 302 and _stored(person.id).role == "owner"


@pytest.mark.parametrize("field, value, message", [
    ("email", "not-an-address", "Enter a valid email address"),
    ("email", "", "Enter the contact&#39;s email address."),
    ("email", "ann@", "Enter a valid email address"),
    ("timezone", "Mars/Olympus", "Choose a time zone from the list"),
    ("role", "r" * 65, "A role has at most 64 characters."),
    ("first_name", "x" * 10_000, "A first name has at most 128 characters."),
])
def test_bad_input_shows_the_error_and_stores_nothing(login, person, field, value, message):
    client = login("admin")
    res = client.post(f"/contacts/{person.id}/edit", data=_form(person, **{"role": "owner", field: value}))
    assert res.status_code == 422
    page = res.get_data(as_text=True)
    assert message in page and "<details class=\"tick-details\" open>" in page
    stored = _stored(person.id)
    assert (stored.role, stored.email, stored.timezone, stored.first_name) == (
        "user", "ann@acme.io", "Europe/Berlin", "Ann")
    assert _feed(person.id) == []


def test_hostile_text_is_stored_as_text_and_escaped_everywhere(login, person):
    client = login("admin")
    res = client.post(f"/contacts/{person.id}/edit", data=_form(person, first_name=HOSTILE[:128], role=HOSTILE[:64]))
    assert res.status_code == 302
    assert _stored(person.id).first_name == HOSTILE[:128]
    page = client.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # The same text in a bad submission is echoed back escaped too.
    res = client.post(f"/contacts/{person.id}/edit", data=_form(person, email=HOSTILE))
    assert res.status_code == 422 and "<img src=x" not in res.get_data(as_text=True)


def test_changes_section_shows_every_source_and_pages(login, make, person, api):
    from engine.contacts.changes import insert_field_changes

    now = utcnow()
    insert_field_changes([(person.id, "contact.attributes.plan", "trial", "pro")] * 25,
                         source="api", actor="crm <sync>", at=now)
    db.session.commit()
    client = login("viewer")
    page = client.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert "25 changes, newest first" in page and "Contact: plan" in page
    assert "crm &lt;sync&gt;" in page and "trial" in page and "pro" in page
    more = client.get(f"/contacts/{person.id}?section=changes&changes_page=2", headers={"HX-Request": "true"})
    assert more.status_code == 200 and "21–25 of 25" in more.get_data(as_text=True)


def test_api_ingest_records_the_key_name(api, app):
    from models import ApiKey

    res = api.post("/api/v1/accounts", json={"accounts": [{"external_id": "acme", "name": "Acme"}]})
    assert res.status_code == 200
    item = {"external_id": "u1", "account_external_id": "acme", "email": "u1@acme.io",
            "created_at": "2025-11-02T10:00:00Z", "role": "user"}
    assert api.post("/api/v1/contacts", json={"contacts": [item]}).get_json() == {"created": 1, "updated": 0}
    assert api.post("/api/v1/contacts", json={"contacts": [{**item, "role": "owner"}]}).status_code == 200
    assert api.post("/api/v1/contacts", json={"contacts": [{**item, "role": "owner"}]}).get_json() == {
        "created": 0, "updated": 1}  # matched, nothing changed: nothing recorded
    key_name = db.session.scalar(select(ApiKey.name))
    rows = db.session.scalars(select(ContactChange).order_by(ContactChange.id)).all()
    assert [(r.kind, r.field, r.source, r.actor) for r in rows] == [
        ("created", None, "api", key_name), ("field", "contact.role", "api", key_name)]


def test_changes_section_names_the_list_of_a_membership_change(login, person):
    from models import ContactList

    lst = ContactList(name="Webinar <March>")
    db.session.add(lst)
    db.session.flush()
    db.session.add(ContactChange(contact_id=person.id, kind="list_added", list_id=lst.id, source="staff",
                                 actor="s@x.io", at=utcnow()))
    db.session.commit()
    page = login("viewer").get(f"/contacts/{person.id}").get_data(as_text=True)
    assert "Added to a list" in page and "Webinar &lt;March&gt;" in page
