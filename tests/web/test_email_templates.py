"""Email template pages: list, create, edit, copy, delete, preview, roles, bad input."""
import time

import pytest

from extensions import db
from models import EmailTemplate

GOOD = {"name": "Welcome", "subject": "Hi {{ contact.first_name }}",
        "html": '<p>Hello {{ contact.first_name }} at {{ account.name }}</p>\n<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        "text": ""}


def test_list_shows_templates_with_usage(login, make):
    client = login("viewer")
    used = make.email_template(name="Onboarding", subject="Welcome {{ contact.first_name }}")
    make.email_template(name="Renewal")
    make.trigger(name="Day 1", template_id=used.id)
    make.trigger(name="Day 7", template_id=used.id, status="draft")
    page = client.get("/templates/").get_data(as_text=True)
    assert "Onboarding" in page and "Renewal" in page
    assert "Welcome {{ contact.first_name }}" in page
    assert "2 triggers" in page and "Not used" in page
    assert "New template" not in page  # viewers read only
    assert client.get("/templates/?q=renew").get_data(as_text=True).count("<tr>") == 2  # header + 1


def test_empty_list_invites_editors(login):
    page = login("manager").get("/templates/").get_data(as_text=True)
    assert "No email templates yet" in page and "Create the first template" in page


def test_create_template_and_generated_text(login, make):
    make.contact(first_name="Ann")
    client = login("manager")
    res = client.post("/templates/new", data=GOOD)
    assert res.status_code == 302
    template = db.session.scalars(db.select(EmailTemplate)).one()
    assert (template.name, template.subject, template.text) == ("Welcome", GOOD["subject"], "")
    page = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "Generated from the HTML" in page  # show page preview, rendered for the first contact
    assert "Hi Ann" in page
    assert 'sandbox=""' in page and "srcdoc=" in page


def test_edit_saves_changes(login, make):
    template = make.email_template(name="Old")
    client = login("admin")
    assert client.get(f"/templates/{template.id}/edit").status_code == 200
    res = client.post(f"/templates/{template.id}/edit", data={**GOOD, "name": "New name", "text": "Plain {{ contact.email }}"})
    assert res.status_code == 302
    db.session.refresh(template)
    assert (template.name, template.text) == ("New name", "Plain {{ contact.email }}")


def test_unknown_variable_and_syntax_error_are_shown_with_lines_and_nothing_saved(login, make):
    template = make.email_template(name="Keep", html="<p>original</p>")
    client = login("manager")
    bad = {**GOOD, "name": "Keep", "html": "<p>ok</p>\n<p>{{ contact.first_nme }}</p>", "text": "a\n\n{% if %}"}
    res = client.post(f"/templates/{template.id}/edit", data=bad)
    assert res.status_code == 422
    page = res.get_data(as_text=True)
    assert "Line 2: Unknown variable &#39;contact.first_nme&#39; (did you mean contact.first_name?)" in page
    assert "Line 3:" in page  # the text field's syntax error
    assert "Nothing was saved" in page
    db.session.refresh(template)
    assert template.html == "<p>original</p>"


@pytest.mark.parametrize("field, value, message", [
    ("html", "{{ ''.__class__.__mro__ }}", "names starting with"),
    ("html", "{{ range(10**9)|list }}", "too large"),
    ("subject", "Hi {{ contact.__class__ }}", "names starting with"),
    ("subject", "Hi\r\nBcc: x@example.com", "single line"),
    ("name", "", "Give the template a name"),
    ("name", "a\nb", "single line"),
    ("subject", "", "Write a subject for the email."),
    ("html", "", "The email has no body"),
])
def test_bad_input_is_refused_with_a_clear_message(login, field, value, message):
    client = login("manager")
    res = client.post("/templates/new", data={**GOOD, field: value})
    assert res.status_code == 422
    assert message in res.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(EmailTemplate)) == 0


def test_duplicate_name_is_refused(login, make):
    make.email_template(name="Welcome")
    res = login("manager").post("/templates/new", data={**GOOD, "name": "welcome"})
    assert res.status_code == 422
    assert "Another template already has this name." in res.get_data(as_text=True)


def test_copy_makes_copy_of_with_unique_names(login, make):
    source = make.email_template(name="Promo", subject="S {{ account.name }}")
    client = login("manager")
    first = client.post(f"/templates/{source.id}/copy")
    second = client.post(f"/templates/{source.id}/copy")
    assert first.status_code == second.status_code == 302
    names = sorted(db.session.scalars(db.select(EmailTemplate.name)))
    assert names == ["Copy of Promo", "Copy of Promo (2)", "Promo"]
    copy = db.session.scalars(db.select(EmailTemplate).where(EmailTemplate.name == "Copy of Promo")).one()
    assert copy.subject == source.subject and copy.html == source.html
    assert first.headers["Location"].endswith(f"/templates/{copy.id}/edit")


def test_delete_is_refused_while_a_trigger_uses_it(login, make):
    template = make.email_template(name="In use")
    make.trigger(name="Renewal reminder", template_id=template.id)
    client = login("manager")
    confirm = client.get(f"/templates/{template.id}/delete").get_data(as_text=True)
    assert "cannot be deleted" in confirm and "Renewal reminder" in confirm
    res = client.post(f"/templates/{template.id}/delete")
    assert res.status_code == 409
    assert "is used by 1 trigger, so it cannot be deleted" in res.get_data(as_text=True)
    assert db.session.get(EmailTemplate, template.id) is not None


def test_delete_unused_template(login, make):
    template = make.email_template(name="Unused")
    client = login("admin")
    assert "Delete template" in client.get(f"/templates/{template.id}/delete").get_data(as_text=True)
    res = client.post(f"/templates/{template.id}/delete")
    assert res.status_code == 302
    db.session.expire_all()
    assert db.session.get(EmailTemplate, template.id) is None


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_read_only_roles_cannot_change_anything(login, make, role):
    template = make.email_template(name="Locked")
    client = login(role)
    assert client.get("/templates/new").status_code == 403
    assert client.post("/templates/new", data=GOOD).status_code == 403
    assert client.get(f"/templates/{template.id}/edit").status_code == 403
    assert client.post(f"/templates/{template.id}/edit", data=GOOD).status_code == 403
    assert client.post(f"/templates/{template.id}/copy").status_code == 403
    assert client.post(f"/templates/{template.id}/delete").status_code == 403
    page = client.get(f"/templates/{template.id}").get_data(as_text=True)
    assert "Locked" in page and "Edit</a>" not in page and "Delete</a>" not in page
    assert db.session.scalar(db.select(db.func.count()).select_from(EmailTemplate)) == 1


def test_pages_need_login(client):
    assert client.get("/templates/").status_code == 302
    assert client.post("/templates/preview", data=GOOD).status_code == 302
    assert client.get("/templates/sample-contacts").status_code == 302


def test_unknown_ids_404(login):
    client = login("admin")
    assert client.get("/templates/999").status_code == 404
    assert client.get("/templates/999/edit").status_code == 404
    assert client.post("/templates/999/copy").status_code == 404


def test_live_preview_renders_for_the_chosen_contact(login, make):
    make.contact(first_name="First")
    acc = make.account(name="Globex <Corp>")
    chosen = make.contact(account=acc, first_name="Zed", email="zed@example.com")
    client = login("viewer")
    res = client.post("/templates/preview", data={**GOOD, "sample_contact_id": chosen.id},
                      headers={"HX-Request": "true"})
    page = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "Hi Zed" in page and "zed@example.com" in page
    # The HTML goes into srcdoc attribute-escaped (double escaped for the account name).
    assert "&lt;p&gt;Hello Zed at Globex &amp;lt;Corp&amp;gt;&lt;/p&gt;" in page
    # A fragment is shown in the document the mailer sends (doctype, charset, mail-app-like font).
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in page and "&lt;style&gt;body{" in page
    assert "Generated from the HTML" in page


def test_live_preview_shows_errors_with_lines(login, make):
    make.contact()
    page = login("manager").post("/templates/preview", data={**GOOD, "html": "<p>\n{{ contact.nope }}</p>"}).get_data(as_text=True)
    assert "line 2" in page and "unknown variable &#39;contact.nope&#39;" in page


def test_live_preview_render_error_for_one_contact(login, make):
    contact = make.contact(attributes={"zero": 0})
    data = {**GOOD, "html": "<p>{{ 1 / contact.attributes.zero }}</p>", "sample_contact_id": contact.id}
    page = login("manager").post("/templates/preview", data=data).get_data(as_text=True)
    assert "Rendering failed for this contact" in page and "ZeroDivisionError" in page


def test_preview_without_contacts_uses_labelled_sample_data(login):
    page = login("manager").post("/templates/preview", data=GOOD).get_data(as_text=True)
    assert "previewing with sample data" in page and "Hi Jane" in page


def test_sample_contact_search(login, make):
    make.contact(email="alice@acme.test", first_name="Alice")
    make.contact(email="bob@globex.test", first_name="Bob")
    client = login("viewer")
    res = client.get("/templates/sample-contacts?sample_q=ALICE")
    page = res.get_data(as_text=True)
    assert "alice@acme.test" in page and "bob@globex.test" not in page
    assert res.headers["HX-Trigger-After-Swap"] == "sample-contacts-loaded"
    assert "No contact matches" in client.get("/templates/sample-contacts?sample_q=zzz").get_data(as_text=True)


def test_editor_page_has_variable_picker_with_custom_attributes(login, make):
    make.contact(attributes={"nps_score": 9})
    page = login("manager").get("/templates/new").get_data(as_text=True)
    assert 'data-insert-var="{{ contact.first_name }}"' in page
    assert 'data-insert-var="{{ unsubscribe_url }}"' in page
    assert 'data-insert-var="{{ contact.attributes.nps_score }}"' in page
    assert "variable_picker.js" in page


def test_live_preview_of_a_cpu_bomb_answers_at_once_with_the_error(login, make):
    # Any role may preview: a template that used to hold the web process for ~15 s.
    make.contact()
    start = time.thread_time()
    res = login("viewer").post("/templates/preview", data={
        **GOOD, "html": "{{ ([range(1500)|list] * 1500)|sum(start=[])|length }}"})
    assert time.thread_time() - start < 1.5
    page = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "line 1" in page and "a text or list built by adding is too large" in page
