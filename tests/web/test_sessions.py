"""Issue 14 item 2: sessions can be revoked server-side. Logout, a password change or reset,
a role change and "sign out everywhere" end every session cookie and remember-me cookie of
that staff member, including copies an attacker took; the remember cookie is HttpOnly,
SameSite=Lax, and Secure with an https PUBLIC_BASE_URL."""
import pytest

from config import TestConfig
from extensions import db
from models import Staff

PASSWORD = "correct-horse-1"


def _request(app, client, method, path, **kw):
    """One request in an app context of its own: the `app` fixture's context is shared by
    every request, and Flask-Login keeps the user it loaded in its `g`."""
    with app.app_context():
        return client.open(path, method=method, **kw)


def _sign_in(app, email, remember=True):
    """A browser that signed in through the real form; returns (client, stolen cookies)."""
    client = app.test_client()
    data = {"email": email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    res = _request(app, client, "POST", "/login", data=data)
    assert res.status_code == 302, res.data
    stolen = {name: client.get_cookie(name).value for name in ("session", "remember_token")
              if client.get_cookie(name) is not None}
    assert "session" in stolen and ("remember_token" in stolen) == remember
    return client, stolen


def _attacker_home(app, name, value):
    """GET / from another machine that holds only this one stolen cookie."""
    attacker = app.test_client()
    attacker.set_cookie(name, value)
    return _request(app, attacker, "GET", "/")


def _assert_signed_in(app, stolen):
    for name, value in stolen.items():
        assert _attacker_home(app, name, value).status_code == 200, f"{name} should still work"


def _assert_refused(app, stolen):
    for name, value in stolen.items():
        res = _attacker_home(app, name, value)
        assert res.status_code == 302, f"stolen {name} cookie still opens the dashboard"
        assert "/login" in res.headers["Location"]


@pytest.fixture
def victim(app, make):
    return make.staff(email="victim@example.com", role="manager", password=PASSWORD)


@pytest.fixture
def admin(app, make):
    """A signed-in admin's browser (client.staff is the admin)."""
    staff = make.staff(email="boss@example.com", role="admin", password=PASSWORD)
    client, _ = _sign_in(app, staff.email, remember=False)
    client.staff = staff
    return client


def test_stolen_cookies_are_refused_after_logout(app, victim):
    browser, stolen = _sign_in(app, victim.email)
    _assert_signed_in(app, stolen)
    res = _request(app, browser, "POST", "/logout")
    assert res.status_code == 302
    _assert_refused(app, stolen)
    # Signing in again works, and the new cookies do.
    _, fresh = _sign_in(app, victim.email)
    _assert_signed_in(app, fresh)


def test_stolen_cookies_are_refused_after_sign_out_everywhere(app, victim):
    browser, stolen = _sign_in(app, victim.email)
    _, other_device = _sign_in(app, victim.email)
    _assert_signed_in(app, stolen | {})
    res = _request(app, browser, "POST", "/account/sign-out-everywhere")
    assert res.status_code == 302
    assert "/login" in res.headers["Location"]
    _assert_refused(app, stolen)
    _assert_refused(app, other_device)
    page = _request(app, browser, "GET", "/login")
    assert b"signed out on every device" in page.data


def test_admin_signs_out_another_member_everywhere(app, victim, admin):
    _, stolen = _sign_in(app, victim.email)
    res = _request(app, admin, "POST", f"/settings/staff/{victim.id}/sign-out")
    assert res.status_code == 302
    assert res.headers["Location"].endswith("/settings/staff")
    _assert_refused(app, stolen)
    page = _request(app, admin, "GET", "/settings/staff")
    assert page.status_code == 200  # the admin's own session is untouched
    assert b"victim@example.com is signed out on every device" in page.data


def test_admin_signing_themselves_out_from_staff_page_ends_their_session(app, admin):
    res = _request(app, admin, "POST", f"/settings/staff/{admin.staff.id}/sign-out")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
    assert _request(app, admin, "GET", "/").status_code == 302


def test_stolen_cookies_are_refused_after_role_change(app, victim, admin):
    _, stolen = _sign_in(app, victim.email)
    res = _request(app, admin, "POST", f"/settings/staff/{victim.id}/role",
                   data={f"m{victim.id}-role": "viewer"})
    assert res.status_code == 302
    db.session.expire_all()
    assert db.session.get(Staff, victim.id).role == "viewer"
    _assert_refused(app, stolen)


def test_own_role_change_keeps_this_browser_signed_in(app, make, admin):
    make.staff(role="admin")  # someone else stays admin
    _, other_device = _sign_in(app, admin.staff.email)
    res = _request(app, admin, "POST", f"/settings/staff/{admin.staff.id}/role",
                   data={f"m{admin.staff.id}-role": "manager"})
    assert res.status_code == 302
    _assert_refused(app, other_device)
    assert _request(app, admin, "GET", "/").status_code == 200  # the browser that made the change


def test_stolen_cookies_are_refused_after_password_reset_on_the_command_line(app, victim):
    _, stolen = _sign_in(app, victim.email)
    result = app.test_cli_runner().invoke(
        args=["nudge", "create-staff", victim.email, "--role", "manager", "--password", "new-password-9"])
    assert result.exit_code == 0, result.output
    _assert_refused(app, stolen)


def test_stolen_cookies_are_refused_after_password_change(app, victim):
    browser, stolen = _sign_in(app, victim.email)
    _, other_device = _sign_in(app, victim.email)
    res = _request(app, browser, "POST", "/account/password",
                   data={"current_password": PASSWORD, "new_password": "new-password-9",
                         "confirm": "new-password-9"})
    assert res.status_code == 302, res.data
    _assert_refused(app, stolen)
    _assert_refused(app, other_device)
    # This browser was signed in again with the new version; the new password works.
    assert _request(app, browser, "GET", "/").status_code == 200
    fresh = app.test_client()
    assert _request(app, fresh, "POST", "/login",
                    data={"email": victim.email, "password": "new-password-9"}).status_code == 302


def test_password_change_needs_the_current_password_and_a_matching_new_one(app, victim):
    browser, stolen = _sign_in(app, victim.email)
    for data in ({"current_password": "wrong-one-1", "new_password": "new-password-9", "confirm": "new-password-9"},
                 {"current_password": PASSWORD, "new_password": "new-password-9", "confirm": "other-password-9"},
                 {"current_password": PASSWORD, "new_password": "short", "confirm": "short"},
                 {"current_password": PASSWORD, "new_password": "x" * 300, "confirm": "x" * 300},
                 {}):
        res = _request(app, browser, "POST", "/account/password", data=data)
        assert res.status_code == 400, data
    _assert_signed_in(app, stolen)
    assert db.session.get(Staff, victim.id).check_password(PASSWORD)


def test_account_page_shows_both_forms(app, victim):
    browser, _ = _sign_in(app, victim.email, remember=False)
    page = _request(app, browser, "GET", "/account")
    assert page.status_code == 200
    assert b'action="/account/sign-out-everywhere"' in page.data
    assert b'action="/account/password"' in page.data


# ------------------------------------------------------------------ role, CSRF, bad input
@pytest.mark.parametrize("role", ["manager", "approver", "viewer"])
def test_only_admins_sign_out_someone_else(app, login, make, role):
    target = make.staff(role="admin", password=PASSWORD)
    _, stolen = _sign_in(app, target.email)
    client = login(role)
    res = _request(app, client, "POST", f"/settings/staff/{target.id}/sign-out")
    assert res.status_code == 403
    _assert_signed_in(app, stolen)


@pytest.mark.parametrize("role", ["admin", "manager", "approver", "viewer"])
def test_every_role_may_sign_themselves_out_everywhere(app, login, role):
    client = login(role)
    res = _request(app, client, "POST", "/account/sign-out-everywhere")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
    assert _request(app, client, "GET", "/").status_code == 302


def test_signed_out_visitor_cannot_use_the_buttons(app, victim):
    anonymous = app.test_client()
    for path in (f"/settings/staff/{victim.id}/sign-out", "/account/sign-out-everywhere", "/account/password"):
        res = _request(app, anonymous, "POST", path)
        assert res.status_code == 302 and "/login" in res.headers["Location"], path


def test_sign_out_buttons_need_the_csrf_token(app, victim, admin):
    _, stolen = _sign_in(app, victim.email)
    app.config["WTF_CSRF_ENABLED"] = True
    for path in (f"/settings/staff/{victim.id}/sign-out", "/account/sign-out-everywhere"):
        assert _request(app, admin, "POST", path).status_code == 400, path
    res = _request(app, admin, "POST", "/account/password",
                   data={"current_password": PASSWORD, "new_password": "new-password-9",
                         "confirm": "new-password-9"})
    assert res.status_code == 400
    _assert_signed_in(app, stolen)
    assert _request(app, admin, "GET", "/").status_code == 200


def test_sign_out_of_unknown_or_huge_staff_id_is_404(app, admin):
    for path in ("/settings/staff/999999/sign-out", f"/settings/staff/{2**40}/sign-out"):
        assert _request(app, admin, "POST", path).status_code == 404
    assert _request(app, admin, "GET", f"/settings/staff/{admin.staff.id}/sign-out").status_code == 405


def test_staff_page_has_a_sign_out_button_per_member(app, victim, admin):
    page = _request(app, admin, "GET", "/settings/staff")
    for member in (victim, admin.staff):
        assert f'action="/settings/staff/{member.id}/sign-out"'.encode() in page.data


def test_session_from_before_the_version_existed_is_refused(app, victim):
    """A cookie holding only the numeric id (what sessions held before) loads nobody."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = str(victim.id), True
    assert _request(app, client, "GET", "/").status_code == 302


@pytest.mark.parametrize("user_id", ["", ":", "abc", "1:", ":1", "1:x", "1:2:3", "9" * 40 + ":0", "1:" + "9" * 40])
def test_malformed_session_ids_load_nobody(app, victim, user_id):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = user_id, True
    assert _request(app, client, "GET", "/").status_code == 302


# ------------------------------------------------------------------ cookie flags
def _set_cookie(res, name):
    headers = [h for h in res.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert headers, f"no {name} cookie set"
    return [part.strip().lower() for part in headers[0].split(";")]


def test_remember_cookie_is_httponly_and_samesite_lax(app, victim):
    client = app.test_client()
    res = _request(app, client, "POST", "/login",
                   data={"email": victim.email, "password": PASSWORD, "remember": "y"})
    flags = _set_cookie(res, "remember_token")
    assert "httponly" in flags and "samesite=lax" in flags
    assert "secure" not in flags  # http://127.0.0.1 in development: a Secure cookie would never come back


class HttpsConfig(TestConfig):
    PUBLIC_BASE_URL = "https://nudge.example.com"
    USE_CREATE_ALL = False


def test_cookies_are_secure_with_an_https_public_base_url(app, victim):
    from app import create_app

    https_app = create_app(HttpsConfig)
    with https_app.app_context():
        client = https_app.test_client()
        res = client.post("/login", base_url="https://nudge.example.com",
                          data={"email": victim.email, "password": PASSWORD, "remember": "y"})
    assert res.status_code == 302
    for name in ("remember_token", "session"):
        flags = _set_cookie(res, name)
        assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags, (name, flags)


def test_wrong_current_passwords_count_toward_the_lockout(app, victim):
    """A stolen session cannot guess the current password on the change form any faster
    than on the sign-in page: the same counter, then 429 even for the right one."""
    browser, _ = _sign_in(app, victim.email, remember=False)
    wrong = {"current_password": "guess-guess", "new_password": "new-password-9", "confirm": "new-password-9"}
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _request(app, browser, "POST", "/account/password", data=wrong).status_code == 400
    right = dict(wrong, current_password=PASSWORD)
    assert _request(app, browser, "POST", "/account/password", data=right).status_code == 429
    db.session.expire_all()
    assert db.session.get(Staff, victim.id).check_password(PASSWORD)
