"""Issue 15: an admin-issued password reset link (Settings -> Staff -> Reset link). One-time
and expiring, with nothing stored: the signed token is bound to the member's current password
hash. Only admins make links; the reset page refuses expired, used and forged links in words."""
from datetime import timedelta
import re

import pytest

from engine.staff import reset as staff_reset
from extensions import db
from models import LoginThrottle, Staff
from models.base import utcnow

PASSWORD = "correct-horse-1"
NEW = "brand-new-pass-7"


def _request(app, client, method, path, **kw):
    with app.app_context():  # Flask-Login caches the loaded user in `g` per context
        return client.open(path, method=method, **kw)


@pytest.fixture
def member(app, make):
    return make.staff(email="forgetful@example.com", role="manager", password=PASSWORD)


def _link_from_page(html: str) -> str:
    match = re.search(r'id="reset-link" value="([^"]+)"', html)
    assert match, "the staff page shows the new link"
    return match.group(1).replace("http://localhost", "")


def _make_link(login, member):
    res = login("admin").post(f"/settings/staff/{member.id}/reset-link")
    assert res.status_code == 200
    return _link_from_page(res.get_data(as_text=True))


def test_an_admin_makes_a_link_that_sets_a_new_password_once(app, login, member):
    path = _make_link(login, member)
    assert path.startswith("/reset/")
    visitor = app.test_client()  # the member, not signed in
    page = _request(app, visitor, "GET", path)
    assert page.status_code == 200 and "forgetful@example.com" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    res = _request(app, visitor, "POST", path, data={"new_password": NEW, "confirm": NEW})
    assert res.status_code == 302 and res.headers["Location"].endswith("/login")
    db.session.expire_all()
    assert db.session.get(Staff, member.id).check_password(NEW)
    # Used: the same link refuses, saying so, and cannot set the password again.
    again = _request(app, visitor, "GET", path)
    assert again.status_code == 410
    assert "already used" in again.get_data(as_text=True)
    assert _request(app, visitor, "POST", path, data={"new_password": "another-pass-8",
                                                      "confirm": "another-pass-8"}).status_code == 410
    db.session.expire_all()
    assert db.session.get(Staff, member.id).check_password(NEW)
    assert _request(app, visitor, "POST", "/login",
                    data={"email": member.email, "password": NEW}).status_code == 302


def test_using_a_link_ends_the_members_sessions_and_lifts_a_lockout(app, make, login, member):
    signed_in = app.test_client()
    assert _request(app, signed_in, "POST", "/login",
                    data={"email": member.email, "password": PASSWORD}).status_code == 302
    assert _request(app, signed_in, "GET", "/").status_code == 200
    db.session.merge(LoginThrottle(email=member.email, failures=5, last_failure_at=utcnow()))
    db.session.commit()
    assert _request(app, app.test_client(), "POST", "/login",
                    data={"email": member.email, "password": PASSWORD}).status_code == 429  # locked out
    path = _make_link(login, member)
    assert _request(app, app.test_client(), "POST", path,
                    data={"new_password": NEW, "confirm": NEW}).status_code == 302
    assert _request(app, signed_in, "GET", "/").status_code == 302  # that session ended
    assert _request(app, app.test_client(), "POST", "/login",
                    data={"email": member.email, "password": NEW}).status_code == 302


def test_a_link_expires(app, member):
    secret = app.config["SECRET_KEY"]
    made = utcnow() - timedelta(hours=25)
    link = staff_reset.make_link(member, made, secret_key=secret, max_age=timedelta(hours=24))
    with pytest.raises(staff_reset.ResetRefused) as refused:
        staff_reset.check(link.token, utcnow(), secret_key=secret)
    assert refused.value.reason == staff_reset.EXPIRED
    assert staff_reset.check(link.token, made + timedelta(hours=23), secret_key=secret).id == member.id
    res = _request(app, app.test_client(), "GET", f"/reset/{link.token}")
    assert res.status_code == 410 and "has expired" in res.get_data(as_text=True)
    assert _request(app, app.test_client(), "POST", f"/reset/{link.token}",
                    data={"new_password": NEW, "confirm": NEW}).status_code == 410
    db.session.expire_all()
    assert db.session.get(Staff, member.id).check_password(PASSWORD)


def test_a_link_stops_working_when_the_password_changes_another_way(app, member):
    secret = app.config["SECRET_KEY"]
    link = staff_reset.make_link(member, utcnow(), secret_key=secret)
    member.set_password("changed-elsewhere-1")
    db.session.commit()
    res = _request(app, app.test_client(), "GET", f"/reset/{link.token}")
    assert res.status_code == 410 and "already used" in res.get_data(as_text=True)


@pytest.mark.parametrize("token", ["nonsense", "eyJzIjoxfQ.forged-signature", "x" * 2000, "%00%0d%0a"])
def test_forged_links_are_refused(app, member, token):
    res = _request(app, app.test_client(), "GET", f"/reset/{token}")
    assert res.status_code == 400 and "not valid" in res.get_data(as_text=True)
    assert _request(app, app.test_client(), "POST", f"/reset/{token}",
                    data={"new_password": NEW, "confirm": NEW}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Staff, member.id).check_password(PASSWORD)


def test_a_link_signed_with_another_key_or_for_another_purpose_is_forged(app, member):
    from itsdangerous import URLSafeSerializer

    other_key = staff_reset.make_link(member, utcnow(), secret_key="some-other-secret").token
    payload = {"s": member.id, "t": int(utcnow().timestamp()) + 10**6, "a": 10**9, "h": "0" * 32}
    other_salt = URLSafeSerializer(app.config["SECRET_KEY"], salt="nudge.tracking.open").dumps(payload)
    for token in (other_key, other_salt):
        res = _request(app, app.test_client(), "GET", f"/reset/{token}")
        assert res.status_code == 400, token


def test_the_token_does_not_reveal_the_password_hash(app, member):
    import base64

    token = staff_reset.make_link(member, utcnow(), secret_key=app.config["SECRET_KEY"]).token
    body = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert member.password_hash.encode() not in decoded
    assert member.password_hash.split("$")[-1].encode() not in decoded


@pytest.mark.parametrize("data, message", [
    ({"new_password": "short", "confirm": "short"}, "A password needs 8 to 256 characters."),
    ({"new_password": "x" * 300, "confirm": "x" * 300}, "A password needs 8 to 256 characters."),
    ({"new_password": NEW, "confirm": "different-pass-1"}, "The two new passwords are not the same."),
    ({"new_password": "", "confirm": ""}, "Choose a new password."),
])
def test_the_reset_page_refuses_bad_passwords_and_keeps_the_link(app, login, member, data, message):
    path = _make_link(login, member)
    res = _request(app, app.test_client(), "POST", path, data=data)
    assert res.status_code == 400 and message in res.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Staff, member.id).check_password(PASSWORD)
    assert _request(app, app.test_client(), "GET", path).status_code == 200  # still good


@pytest.mark.parametrize("role", ["manager", "approver", "viewer"])
def test_only_admins_make_reset_links(app, login, member, role):
    client = login(role)
    res = client.post(f"/settings/staff/{member.id}/reset-link")
    assert res.status_code == 403
    assert "/reset/" not in res.get_data(as_text=True)


def test_reset_link_needs_a_login_and_an_existing_member(app, login, member):
    assert _request(app, login("admin"), "POST", "/settings/staff/99999/reset-link").status_code == 404
    res = _request(app, app.test_client(), "POST", f"/settings/staff/{member.id}/reset-link")
    assert res.status_code == 302 and "/login" in res.headers["Location"]


def test_an_admin_is_sent_to_the_account_page_for_their_own_password(app, login):
    admin = login("admin")
    res = admin.post(f"/settings/staff/{admin.staff.id}/reset-link")
    assert res.status_code == 302 and res.headers["Location"].endswith("/account")


def test_making_and_using_a_link_need_the_csrf_token(app, login, member):
    path = _make_link(login, member)
    app.config["WTF_CSRF_ENABLED"] = True
    admin = login("admin")
    assert admin.post(f"/settings/staff/{member.id}/reset-link").status_code == 400
    visitor = app.test_client()
    assert _request(app, visitor, "POST", path, data={"new_password": NEW, "confirm": NEW}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Staff, member.id).check_password(PASSWORD)
    page = _request(app, visitor, "GET", path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    res = _request(app, visitor, "POST", path, data={"csrf_token": token, "new_password": NEW, "confirm": NEW})
    assert res.status_code == 302
    db.session.expire_all()
    assert db.session.get(Staff, member.id).check_password(NEW)


def test_the_staff_page_offers_reset_links_for_others_only(app, login, member):
    admin = login("admin")
    html = admin.get("/settings/staff").get_data(as_text=True)
    assert f'action="/settings/staff/{member.id}/reset-link"' in html
    assert f'action="/settings/staff/{admin.staff.id}/reset-link"' not in html
