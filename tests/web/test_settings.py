"""Settings home, scheduler status, API keys and staff pages (roles checked on the server)."""
import re
from datetime import timedelta

import pytest
from flask import g

from extensions import db
from models import ApiKey, ImportJob, Staff, TickRun
from models.api_key import hash_key
from models.base import utcnow

ADMIN_ONLY = ["/settings/api-keys", "/settings/staff", "/settings/inbox"]


def test_settings_index_shows_a_card_per_page_for_admins(login):
    client = login("admin")
    db.session.add(TickRun(as_of=utcnow(), started_at=utcnow(), finished_at=utcnow(), summary={}))
    db.session.commit()
    page = client.get("/settings/").get_data(as_text=True)
    for url in ["/settings/api-keys", "/settings/import", "/settings/inbox", "/settings/staff", "/settings/scheduler"]:
        assert f'href="{url}"' in page
        assert client.get(url).status_code == 200
    assert "Last tick" in page and "just now" in page


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_settings_index_hides_pages_the_role_cannot_open(login, role):
    page = login(role).get("/settings/").get_data(as_text=True)
    assert "/settings/scheduler" in page
    for url in ADMIN_ONLY + ["/settings/import"]:
        assert f'href="{url}"' not in page


def test_manager_sees_import_but_not_admin_pages(login):
    page = login("manager").get("/settings/").get_data(as_text=True)
    assert 'href="/settings/import"' in page
    assert 'href="/settings/api-keys"' not in page


@pytest.mark.parametrize("role", ["viewer", "approver", "manager"])
def test_admin_pages_are_forbidden_to_other_roles(login, role, make):
    client = login(role)
    for url in ADMIN_ONLY:
        assert client.get(url).status_code == 403
    other = make.staff(role="viewer")
    key, _raw = ApiKey.generate("k")
    db.session.add(key)
    db.session.commit()
    assert client.post("/settings/api-keys", data={"name": "sneaky"}).status_code == 403
    assert client.post(f"/settings/api-keys/{key.id}/revoke").status_code == 403
    assert client.post("/settings/staff", data={"email": "x@example.com", "role": "admin",
                                                "password": "long-enough-1"}).status_code == 403
    assert client.post(f"/settings/staff/{other.id}/role", data={f"m{other.id}-role": "admin"}).status_code == 403
    assert client.post(f"/settings/staff/{other.id}/remove").status_code == 403
    assert client.post("/settings/inbox/clear").status_code == 403
    assert ApiKey.query.count() == 1 and db.session.get(ApiKey, key.id).revoked_at is None
    assert db.session.get(Staff, other.id).role == "viewer"


def test_scheduler_page_lists_ticks(login):
    client = login("viewer")
    assert "has not run yet" in client.get("/settings/scheduler").get_data(as_text=True)
    db.session.add(TickRun(as_of=utcnow(), started_at=utcnow(), finished_at=utcnow(),
                           summary={"send_sweep_step": {"due": 3, "enqueued": 1}}))
    db.session.commit()
    page = client.get("/settings/scheduler").get_data(as_text=True)
    assert "3 emails due, 1 send job queued" in page and "Send sweep" in page


def test_scheduler_page_pages_50_ticks_at_a_time(login):
    client = login("viewer")
    start = utcnow().replace(microsecond=0)
    db.session.add_all([TickRun(as_of=start, started_at=start - timedelta(minutes=i), finished_at=start,
                                summary={"report_fold_step": {"folded": i}}) for i in range(55)])
    db.session.commit()
    first = client.get("/settings/scheduler").get_data(as_text=True)
    assert "1–50 of 55" in first and "Page 1 of 2" in first and "page=2" in first
    second = client.get("/settings/scheduler?page=2").get_data(as_text=True)
    assert "51–55 of 55" in second and "54 delivery events" in second and "49 delivery events" not in second
    # Past the end shows the last page; junk shows the first.
    assert "51–55 of 55" in client.get("/settings/scheduler?page=99").get_data(as_text=True)
    for junk in ("abc", "-1", "0", "9" * 30):
        res = client.get(f"/settings/scheduler?page={junk}")
        assert res.status_code == 200, junk
    assert "1–50 of 55" in client.get("/settings/scheduler?page=abc").get_data(as_text=True)


# ---- API keys ----------------------------------------------------------------

def test_create_api_key_shows_the_raw_key_once_and_stores_only_its_hash(login):
    client = login("admin")
    res = client.post("/settings/api-keys", data={"name": "Product backend"})
    assert res.status_code == 201
    page = res.get_data(as_text=True)
    raw = re.search(r'id="new-api-key" value="(ndg_[^"]+)"', page).group(1)
    key = ApiKey.query.one()
    assert key.name == "Product backend" and key.created_by_id == client.staff.id
    assert key.key_hash == hash_key(raw) and raw not in (key.prefix + key.key_hash)
    assert "only time the key is shown" in page and "data-copy" in page
    listing = client.get("/settings/api-keys").get_data(as_text=True)
    assert raw not in listing and key.prefix in listing and "Product backend" in listing
    # The key works against the API.
    assert ApiKey.find_active(raw).id == key.id


def test_api_key_needs_a_name(login):
    res = login("admin").post("/settings/api-keys", data={"name": "  "})
    assert res.status_code == 400
    assert "Give the key a name." in res.get_data(as_text=True)
    assert ApiKey.query.count() == 0


def test_revoke_api_key(login, client):
    admin = login("admin")
    key, raw = ApiKey.generate("old")
    db.session.add(key)
    db.session.commit()
    res = admin.post(f"/settings/api-keys/{key.id}/revoke", follow_redirects=True)
    assert res.status_code == 200
    page = res.get_data(as_text=True)
    assert "is revoked" in page and "Revoked" in page
    assert ApiKey.find_active(raw) is None
    assert admin.post("/settings/api-keys/999/revoke").status_code == 404


def test_api_key_list_shows_status_and_last_use(login):
    client = login("admin")
    used, _ = ApiKey.generate("used")
    used.last_used_at = utcnow()
    gone, _ = ApiKey.generate("gone")
    gone.revoked_at = utcnow()
    db.session.add_all([used, gone])
    db.session.commit()
    page = client.get("/settings/api-keys").get_data(as_text=True)
    assert "just now" in page and "never" not in page.split("gone")[0].split("used")[-1]
    assert page.count("badge-green") == 1 and "Revoked" in page


# ---- staff ---------------------------------------------------------------------

def test_add_staff_login_that_can_sign_in(login, app):
    admin = login("admin")
    res = admin.post("/settings/staff", data={"email": "New.Person@Example.com", "name": "New Person",
                                              "role": "approver", "password": "s3cret-pass"})
    assert res.status_code == 302
    member = Staff.query.filter_by(email="new.person@example.com").one()
    assert member.role == "approver" and member.check_password("s3cret-pass")
    other = app.test_client()
    assert other.post("/login", data={"email": "new.person@example.com",
                                      "password": "s3cret-pass"}).status_code == 302


@pytest.mark.parametrize("data, message", [
    ({"email": "a@example.com", "role": "viewer", "password": "short"}, "A password needs 8 to 256 characters."),
    ({"email": "not-an-email", "role": "viewer", "password": "long-enough"}, "Enter a valid email address, like name@company.com."),
    ({"email": "a@example.com", "role": "owner", "password": "long-enough"}, "Not a valid choice"),
])
def test_add_staff_rejects_bad_input(login, data, message):
    res = login("admin").post("/settings/staff", data=data)
    assert res.status_code == 400
    assert message in res.get_data(as_text=True)
    assert Staff.query.count() == 1


def test_add_staff_refuses_a_duplicate_email(login, make):
    make.staff(email="dup@example.com")
    res = login("admin").post("/settings/staff", data={"email": "DUP@example.com", "role": "viewer",
                                                       "password": "long-enough"})
    assert res.status_code == 400
    assert "already has a login" in res.get_data(as_text=True)


def test_change_role(login, make):
    admin = login("admin")
    member = make.staff(role="viewer")
    res = admin.post(f"/settings/staff/{member.id}/role", data={f"m{member.id}-role": "manager"},
                     follow_redirects=True)
    assert "is now manager" in res.get_data(as_text=True)
    assert db.session.get(Staff, member.id).role == "manager"
    res = admin.post(f"/settings/staff/{member.id}/role", data={f"m{member.id}-role": "superuser"},
                     follow_redirects=True)
    assert "Choose one of the listed roles" in res.get_data(as_text=True)
    assert db.session.get(Staff, member.id).role == "manager"


def test_the_last_admin_cannot_be_demoted(login, make):
    admin = login("admin")
    me = admin.staff
    make.staff(role="manager")
    res = admin.post(f"/settings/staff/{me.id}/role", data={f"m{me.id}-role": "viewer"}, follow_redirects=True)
    page = res.get_data(as_text=True)
    assert "is the only admin" in page and "Make someone else an admin first" in page
    assert db.session.get(Staff, me.id).role == "admin"
    res = admin.post(f"/settings/staff/{me.id}/remove", follow_redirects=True)
    assert "cannot remove your own login" in res.get_data(as_text=True)
    assert db.session.get(Staff, me.id) is not None


def test_with_two_admins_one_may_step_down_or_be_removed(login, make):
    admin = login("admin")
    me = admin.staff
    other = make.staff(role="admin")
    res = admin.post(f"/settings/staff/{me.id}/role", data={f"m{me.id}-role": "manager"})
    assert res.headers["Location"].endswith("/settings/")  # no longer allowed on the staff page
    assert db.session.get(Staff, me.id).role == "manager"
    assert admin.get("/settings/staff").status_code == 403
    # Now `other` is the only admin; signed in as them, removal of a third admin works...
    third = make.staff(role="admin")
    g.pop("_login_user", None)  # the test's app context outlives requests; drop Flask-Login's cached user
    as_other = login("admin")
    res = as_other.post(f"/settings/staff/{third.id}/remove", follow_redirects=True)
    assert "can no longer sign in" in res.get_data(as_text=True)
    assert db.session.get(Staff, third.id) is None
    assert db.session.get(Staff, other.id).role == "admin"


def test_remove_staff_keeps_the_rows_it_created(login, make):
    admin = login("admin")
    member = make.staff(role="manager")
    key, _ = ApiKey.generate("theirs", created_by_id=member.id)
    job = ImportJob(kind="contacts", filename="x.csv", csv_text="a\n", created_by_id=member.id)
    db.session.add_all([key, job])
    db.session.commit()
    res = admin.post(f"/settings/staff/{member.id}/remove", follow_redirects=True)
    assert "can no longer sign in" in res.get_data(as_text=True)
    assert db.session.get(Staff, member.id) is None
    assert db.session.get(ApiKey, key.id).created_by_id is None
    assert db.session.get(ImportJob, job.id).created_by_id is None


def test_every_settings_form_carries_a_csrf_token(login, app, make):
    app.config["WTF_CSRF_ENABLED"] = True
    client = login("admin")
    member = make.staff(role="viewer")
    assert client.post("/settings/api-keys", data={"name": "no token"}).status_code == 400
    assert client.post(f"/settings/staff/{member.id}/role", data={f"m{member.id}-role": "admin"}).status_code == 400
    for url in ("/settings/api-keys", "/settings/staff", "/settings/import"):
        page = client.get(url).get_data(as_text=True)
        forms = page.count('method="post"') - 1  # minus the sign-out form in the sidebar
        tokens = len(re.findall(r'name="[^"]*csrf_token"', page)) - 1  # role forms are prefixed per row
        assert forms > 0 and tokens >= forms, url
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/settings/api-keys").get_data(as_text=True)).group(1)
    assert client.post("/settings/api-keys", data={"name": "with token", "csrf_token": token}).status_code == 201
    staff_page = client.get("/settings/staff").get_data(as_text=True)
    row_token = re.search(rf'name="m{member.id}-csrf_token" type="hidden" value="([^"]+)"', staff_page).group(1)
    res = client.post(f"/settings/staff/{member.id}/role",
                      data={f"m{member.id}-role": "manager", f"m{member.id}-csrf_token": row_token})
    assert res.status_code == 302 and db.session.get(Staff, member.id).role == "manager"
