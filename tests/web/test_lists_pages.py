"""Lists pages: index and new list, the list page (members, search, paging, add, remove,
history, rename, delete), the contact page's Lists section; roles, CSRF, bad input and
hostile names."""
import re

import pytest
from sqlalchemy import func, select

from engine.contacts import lists as engine
from extensions import db
from models import ContactChange, ContactList, ListMember
from models.base import utcnow

XSS = '<script>alert("x")</script>'


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def members(list_id):
    return set(db.session.scalars(select(ListMember.contact_id).where(ListMember.list_id == list_id)))


@pytest.fixture
def people(make):
    acc = make.account(name="Acme")
    return [make.contact(acc, email=f"p{i}@acme.io", external_id=f"u-{i}", first_name=f"Pat{i}",
                         last_name="Lee") for i in range(3)]


@pytest.fixture
def webinar(app):
    made = engine.create_list("Webinar — March", actor="cs@example.com", now=utcnow())
    db.session.commit()
    return made


def test_nav_has_lists_next_to_personas(login):
    page = login("viewer").get("/lists/").get_data(as_text=True)
    nav = re.search(r'<nav class="nav".*?</nav>', page, re.S).group(0)
    labels = re.findall(r"<span>([^<]+)</span>", nav)
    assert labels[labels.index("Personas") + 1] == "Lists"


def test_create_a_list_and_see_it_on_the_index(login, people, make):
    c = login("manager")
    res = c.post("/lists/", data={"name": "  Beta   group "})
    assert res.status_code == 303
    made = db.session.scalars(select(ContactList)).one()
    assert made.name == "Beta group" and made.created_by == c.staff.email
    engine.add_members(made.id, [people[0].id], source="api", actor="k", now=utcnow())
    make.trigger(name="Beta welcome", kind="list_added", list_id=made.id, rule=None)
    make.persona(name="Beta people", rule={"user_types": ["product_user"], "all": [{"list": made.id, "op": "member"}]})
    db.session.commit()
    page = c.get("/lists/").get_data(as_text=True)
    assert "Beta group" in page and "Beta welcome" in page and "Beta people" in page
    assert f'href="/lists/{made.id}"' in page and "New list" in page
    assert re.search(r'<td class="num">1</td>', page)


@pytest.mark.parametrize("name, message", [
    ("", "Give the list a name."),
    ("x" * 10_000, "at most 200 characters"),
    ("WEBINAR — march", "Another list already has this name."),
])
def test_bad_names_are_refused_on_the_page(login, webinar, name, message):
    c = login("admin")
    res = c.post("/lists/", data={"name": name})
    assert res.status_code == 422 and message in res.get_data(as_text=True)
    assert _count(ContactList) == 1
    res = c.post(f"/lists/{webinar.id}/rename", data={"name": name if name != "WEBINAR — march" else ""})
    assert res.status_code == 422
    db.session.expire_all()
    assert db.session.get(ContactList, webinar.id).name == "Webinar — March"


def test_rename(login, webinar):
    c = login("admin")
    assert c.post(f"/lists/{webinar.id}/rename", data={"name": " Webinar — April "}).status_code == 303
    db.session.expire_all()
    assert db.session.get(ContactList, webinar.id).name == "Webinar — April"
    other = engine.create_list("Other", actor=None, now=utcnow())
    db.session.commit()
    res = c.post(f"/lists/{other.id}/rename", data={"name": "webinar — april"})
    assert res.status_code == 422 and "Another list already has this name." in res.get_data(as_text=True)


def test_add_by_email_or_external_id_and_remove(login, webinar, people):
    c = login("manager")
    res = c.post(f"/lists/{webinar.id}/members", data={"people": "p0@acme.io\n\n u-1 \nP0@ACME.io"})
    assert res.status_code == 303
    assert members(webinar.id) == {people[0].id, people[1].id}
    page = c.get(f"/lists/{webinar.id}").get_data(as_text=True)
    assert "Added 2 people" in page and "p0@acme.io" in page and "2 members" in page
    res = c.post(f"/lists/{webinar.id}/members/{people[0].id}/remove", data={})
    assert res.status_code == 303 and members(webinar.id) == {people[1].id}
    rows = db.session.execute(select(ContactChange.kind, ContactChange.source, ContactChange.actor)
                              .order_by(ContactChange.id)).all()
    assert rows == [("list_added", "staff", c.staff.email)] * 2 + [("list_removed", "staff", c.staff.email)]


def test_unknown_people_are_listed_and_nobody_is_added(login, webinar, people, make):
    c = login("admin")
    make.contact(people[0].account, email="twin@acme.io")
    make.contact(people[0].account, email="twin@acme.io")
    res = c.post(f"/lists/{webinar.id}/members", data={"people": f"p0@acme.io\nghost@acme.io\ntwin@acme.io\n{XSS}"})
    body = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "3 of the 4 lines name no single contact, so nobody was added" in body
    assert "ghost@acme.io" in body and "line 2: no contact has this email or external id" in body
    assert "2 contacts have this email; use the external id" in body
    assert XSS not in body and "&lt;script&gt;" in body
    assert _count(ListMember) == 0 and _count(ContactChange) == 0
    res = c.post(f"/lists/{webinar.id}/members", data={"people": "  \n "})
    assert res.status_code == 422 and "Enter at least one email or external id." in res.get_data(as_text=True)


def test_members_search_and_paging(login, webinar, make):
    acc = make.account()
    people = [make.contact(acc, first_name="Zed" if i == 7 else "Ann", email=f"m{i}@x.io") for i in range(30)]
    engine.add_members(webinar.id, [p.id for p in people], source="demo", actor=None, now=utcnow())
    db.session.commit()
    c = login("viewer")
    page = c.get(f"/lists/{webinar.id}").get_data(as_text=True)
    assert "1–25 of 30" in page and "Page 1 of 2" in page
    assert "26–30 of 30" in c.get(f"/lists/{webinar.id}?page=2").get_data(as_text=True)
    found = c.get(f"/lists/{webinar.id}?q=zed", headers={"HX-Request": "true", "HX-Target": "list-tabs"})
    body = found.get_data(as_text=True)
    assert "m7@x.io" in body and "m8@x.io" not in body and "<html" not in body
    assert "1 member matching" in body


def test_history_tab_says_when_and_by_what(login, webinar, people):
    engine.add_members(webinar.id, [people[0].id], source="api", actor="crm-sync", now=utcnow())
    engine.add_members(webinar.id, [people[1].id], source="import", actor="march.csv", now=utcnow())
    engine.remove_members(webinar.id, [people[0].id], source="journey", actor="Onboarding", now=utcnow())
    db.session.commit()
    page = login("viewer").get(f"/lists/{webinar.id}?tab=history").get_data(as_text=True)
    assert "key “crm-sync”" in page and "CSV import" in page and "march.csv" in page
    assert "Journey" in page and "Onboarding" in page and "Removed" in page and "Added" in page
    assert page.index("Onboarding") < page.index("march.csv") < page.index("crm-sync")  # newest first


def test_delete_is_refused_while_used_then_allowed(login, webinar, people, make):
    c = login("admin")
    trigger = make.trigger(name="Joining details", kind="list_added", list_id=webinar.id, rule=None)
    page = c.get(f"/lists/{webinar.id}").get_data(as_text=True)
    assert "cannot be deleted while it is used by" in page and "Joining details" in page
    res = c.post(f"/lists/{webinar.id}/delete", data={})
    assert res.status_code == 303
    assert "trigger “Joining details”" in c.get(res.headers["Location"]).get_data(as_text=True)
    assert db.session.get(ContactList, webinar.id) is not None
    trigger.list_id = None
    db.session.commit()
    engine.add_members(webinar.id, [people[0].id], source="api", actor="k", now=utcnow())
    db.session.commit()
    res = c.post(f"/lists/{webinar.id}/delete", data={})
    assert res.status_code == 303 and res.headers["Location"].endswith("/lists/")
    assert _count(ContactList) == 0 and _count(ListMember) == 0 and _count(ContactChange) == 0


def test_contact_page_shows_the_lists_and_adds_and_removes(login, webinar, people):
    beta = engine.create_list("Beta", actor=None, now=utcnow())
    db.session.commit()
    person = people[0]
    c = login("manager")
    page = c.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert 'id="section-lists"' in page and "Not in any list." in page and "Add to list" in page
    res = c.post(f"/lists/contact/{person.id}/add", data={"list_id": webinar.id}, headers={"HX-Request": "true"})
    body = res.get_data(as_text=True)
    assert res.status_code == 200 and "Webinar — March" in body and "<html" not in body
    assert "HX-Trigger" in res.headers and members(webinar.id) == {person.id}
    # Without JavaScript: back to the contact page.
    res = c.post(f"/lists/contact/{person.id}/add", data={"list_id": beta.id})
    assert res.status_code == 303 and res.headers["Location"].endswith(f"/contacts/{person.id}")
    page = c.get(f"/contacts/{person.id}").get_data(as_text=True)
    assert "in 2 lists" in page and f'href="/lists/{beta.id}"' in page
    res = c.post(f"/lists/contact/{person.id}/remove", data={"list_id": beta.id}, headers={"HX-Request": "true"})
    assert res.status_code == 200 and members(beta.id) == set()
    # A list that does not exist (any more): said in the section, nothing changes.
    res = c.post(f"/lists/contact/{person.id}/add", data={"list_id": "999"}, headers={"HX-Request": "true"})
    assert res.status_code == 200 and "Choose a list to add them to." in res.get_data(as_text=True)
    res = c.post(f"/lists/contact/{person.id}/add", data={"list_id": "junk"})
    assert res.status_code == 303
    assert _count(ContactChange) == 3


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_viewers_and_approvers_see_but_cannot_change(login, webinar, people, role):
    engine.add_members(webinar.id, [people[0].id], source="api", actor="k", now=utcnow())
    db.session.commit()
    c = login(role)
    for url in ("/lists/", f"/lists/{webinar.id}", f"/lists/{webinar.id}?tab=history", f"/contacts/{people[0].id}"):
        res = c.get(url)
        body = res.get_data(as_text=True)
        assert res.status_code == 200, url
        assert re.findall(r'action="(/lists/[^"]*)"', body) == [], url  # no form that changes lists
        assert "Webinar — March" in body, url
    for url, data in ((f"/lists/", {"name": "New"}), (f"/lists/{webinar.id}/rename", {"name": "X"}),
                      (f"/lists/{webinar.id}/delete", {}), (f"/lists/{webinar.id}/members", {"people": "u-1"}),
                      (f"/lists/{webinar.id}/members/{people[0].id}/remove", {}),
                      (f"/lists/contact/{people[1].id}/add", {"list_id": webinar.id}),
                      (f"/lists/contact/{people[0].id}/remove", {"list_id": webinar.id})):
        assert c.post(url, data=data).status_code == 403, url
    assert _count(ContactList) == 1 and members(webinar.id) == {people[0].id} and _count(ContactChange) == 1


def test_signed_out_visitors_are_sent_to_log_in(client, webinar):
    for url in ("/lists/", f"/lists/{webinar.id}"):
        res = client.get(url)
        assert res.status_code in (302, 401) and "login" in res.headers.get("Location", "login")
    assert client.post("/lists/", data={"name": "x"}).status_code in (302, 401)
    assert _count(ContactList) == 1


def test_every_form_needs_the_csrf_token(app, login, webinar, people):
    app.config["WTF_CSRF_ENABLED"] = True
    c = login("admin")
    for url, data in (("/lists/", {"name": "New"}), (f"/lists/{webinar.id}/rename", {"name": "X"}),
                      (f"/lists/{webinar.id}/delete", {}), (f"/lists/{webinar.id}/members", {"people": "u-1"}),
                      (f"/lists/{webinar.id}/members/{people[0].id}/remove", {}),
                      (f"/lists/contact/{people[1].id}/add", {"list_id": webinar.id}),
                      (f"/lists/contact/{people[0].id}/remove", {"list_id": webinar.id})):
        assert c.post(url, data=data).status_code == 400, url
    assert _count(ContactList) == 1 and _count(ContactChange) == 0
    page = c.get(f"/lists/{webinar.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert c.post(f"/lists/{webinar.id}/members", data={"people": "u-1", "csrf_token": token}).status_code == 303
    assert members(webinar.id) == {people[1].id}


def test_unknown_ids_are_404(login, webinar):
    c = login("admin")
    assert c.get("/lists/999").status_code == 404
    assert c.post("/lists/999/rename", data={"name": "x"}).status_code == 404
    assert c.post("/lists/999/delete").status_code == 404
    assert c.post("/lists/999/members", data={"people": "x"}).status_code == 404
    assert c.post(f"/lists/{webinar.id}/members/999/remove").status_code == 404
    assert c.post("/lists/contact/999/add", data={"list_id": webinar.id}).status_code == 404
    assert c.get(f"/lists/{webinar.id}?tab=nonsense&page=-5&q=" + "x" * 5000).status_code == 200


def test_hostile_names_are_escaped_everywhere(login, people, make):
    hostile = engine.create_list(f"VIP {XSS}", actor=f"api: {XSS}", now=utcnow())
    db.session.commit()
    engine.add_members(hostile.id, [people[0].id], source="api", actor=XSS, now=utcnow())
    make.trigger(name=f"T {XSS}", kind="list_added", list_id=hostile.id, rule=None)
    db.session.commit()
    c = login("admin")
    for url in ("/lists/", f"/lists/{hostile.id}", f"/lists/{hostile.id}?tab=history", f"/contacts/{people[0].id}"):
        body = c.get(url).get_data(as_text=True)
        assert XSS not in body and "&lt;script&gt;" in body, url


# ---- Settings -> Import: "Add the imported contacts to a list" ------------------------------

IMPORT_CSV = ("external_id,account_external_id,email\n"
              "c1,acc-x,ann@example.com\nc2,acc-x,not-an-email\nc3,acc-x,cy@example.com\n")
IMPORT_MAP = {"field-external_id": "external_id", "field-account_external_id": "account_external_id",
              "field-email": "email"}


def _uploaded(client, text=IMPORT_CSV, name="march.csv"):
    import io

    from models import ImportJob

    client.post("/settings/import", data={"kind": "contacts", "file": (io.BytesIO(text.encode()), name)},
                content_type="multipart/form-data")
    return db.session.scalars(select(ImportJob).order_by(ImportJob.id.desc())).first()


def test_an_import_puts_its_contacts_in_a_new_list(login, make, run_jobs):
    make.account(external_id="acc-x")
    c = login("manager")
    job = _uploaded(c)
    page = c.get(f"/settings/import/{job.id}/map").get_data(as_text=True)
    assert "Add the imported contacts to a list" in page and 'value="new"' in page
    res = c.post(f"/settings/import/{job.id}/map", data={**IMPORT_MAP, "into_list": "new",
                                                         "new_list_name": " Webinar — March "})
    assert res.status_code == 302
    made = db.session.scalars(select(ContactList)).one()
    assert made.name == "Webinar — March" and made.created_by == "import: march.csv"
    page = c.get(f"/settings/import/{job.id}").get_data(as_text=True)
    assert "The imported contacts are added to the list" in page and f'href="/lists/{made.id}"' in page
    run_jobs()
    from models import Contact

    imported = set(db.session.scalars(select(Contact.id).where(Contact.external_id.in_(("c1", "c3")))))
    assert members(made.id) == imported and len(imported) == 2  # the bad row is not imported, nor added
    rows = db.session.execute(select(ContactChange.source, ContactChange.actor)
                              .where(ContactChange.kind == "list_added")).all()
    assert rows == [("import", "march.csv")] * 2
    # Imported again into the same (existing) list: they are already in it, nothing new is recorded.
    again = _uploaded(c, name="again.csv")
    page = c.get(f"/settings/import/{again.id}/map").get_data(as_text=True)
    assert f'<option value="{made.id}">Webinar — March</option>' in page
    c.post(f"/settings/import/{again.id}/map", data={**IMPORT_MAP, "into_list": str(made.id)})
    run_jobs()
    assert members(made.id) == imported
    assert db.session.scalar(select(func.count()).select_from(ContactChange)
                             .where(ContactChange.kind.like("list_%"))) == 2


@pytest.mark.parametrize("choice, name, message", [
    ("new", "", "New list: Give the list a name."),
    ("new", "x" * 10_000, "at most 200 characters"),
    ("new", "taken", "New list: Another list already has this name."),
    ("999", "", "no longer exists"),
    ("junk", "", "no longer exists"),
])
def test_a_bad_list_choice_is_refused_and_the_import_waits(login, make, choice, name, message):
    make.account(external_id="acc-x")
    engine.create_list("Taken", actor=None, now=utcnow())
    db.session.commit()
    c = login("admin")
    job = _uploaded(c)
    res = c.post(f"/settings/import/{job.id}/map", data={**IMPORT_MAP, "into_list": choice, "new_list_name": name})
    assert res.status_code == 400 and message in res.get_data(as_text=True)
    db.session.refresh(job)
    assert job.status == "draft" and job.list_id is None
    assert _count(ContactList) == 1


def test_a_list_an_import_still_fills_cannot_be_deleted(login, make, webinar):
    make.account(external_id="acc-x")
    c = login("admin")
    job = _uploaded(c)
    c.post(f"/settings/import/{job.id}/map", data={**IMPORT_MAP, "into_list": str(webinar.id)})
    res = c.post(f"/lists/{webinar.id}/delete", data={})
    assert "the import of “march.csv” (still running)" in c.get(res.headers["Location"]).get_data(as_text=True)
    assert db.session.get(ContactList, webinar.id) is not None
