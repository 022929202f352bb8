"""The JSON API answers every error in JSON (DESIGN.md "Security conventions": 404, 405,
413, 500 -- `{"error": message}`, the API's error shape) and never sets a cookie, not even
for a staff member whose browser sends its session cookie along."""
import json

import pytest

import blueprints.api.preview

# Ids past PostgreSQL's integer (2**31 - 1), past int64, and far past both.
HUGE_IDS = ("2147483648", "9223372036854775808", "99999999999999999999")


@pytest.fixture(params=["anonymous", "signed_in_staff", "permanent_staff_session"])
def caller(request, client, login, api_key):
    """A client that sends the API key; two of them also carry a staff session cookie,
    which the API must neither refresh nor replace (Flask re-sends a permanent session's
    cookie on every response unless told not to)."""
    if request.param != "anonymous":
        login("admin")
    if request.param == "permanent_staff_session":
        with client.session_transaction() as sess:
            sess.permanent = True
    headers = {"Authorization": f"Bearer {api_key}"}

    def call(method, path, **kw):
        return client.open(path, method=method, headers={**headers, **kw.pop("headers", {})}, **kw)

    return call


def assert_json_error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
    assert "Set-Cookie" not in resp.headers, resp.headers.get_all("Set-Cookie")
    return body


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/nope"),
    ("POST", "/api/v1/nope"),
    ("GET", "/api/v1/"),
    ("GET", "/api/nope"),
    ("GET", "/api/v1/triggers/1/nope"),
])
def test_unknown_api_path_is_json_404(caller, method, path):
    assert_json_error(caller(method, path), 404)


@pytest.mark.parametrize("huge_id", HUGE_IDS)
@pytest.mark.parametrize("method,template", [
    ("GET", "/api/v1/triggers/{}"),
    ("PUT", "/api/v1/triggers/{}"),
    ("DELETE", "/api/v1/triggers/{}"),
    ("POST", "/api/v1/triggers/{}/activate"),
    ("POST", "/api/v1/triggers/{}/deactivate"),
])
def test_id_beyond_the_database_integer_is_json_404(caller, method, template, huge_id):
    assert_json_error(caller(method, template.format(huge_id), json={"name": "x"}), 404)


def test_unknown_trigger_id_is_json_404(caller):
    body = assert_json_error(caller("GET", "/api/v1/triggers/2147483647"), 404)
    assert "2147483647" in body["error"]


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/api/v1/triggers"),
    ("GET", "/api/v1/accounts"),
    ("PATCH", "/api/v1/triggers/1"),
    ("PUT", "/api/v1/outbox"),
])
def test_wrong_method_is_json_405_with_allow(caller, method, path):
    resp = caller(method, path, json={})
    assert_json_error(resp, 405)
    assert resp.headers.get("Allow")


def test_body_over_max_content_length_is_json_413(app, caller):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    big = {"accounts": [{"external_id": f"a{i}", "name": "x" * 50} for i in range(40)]}
    assert len(json.dumps(big)) > 1024
    assert_json_error(caller("POST", "/api/v1/accounts", json=big), 413)
    assert_json_error(caller("POST", "/api/v1/triggers", json={"name": "y" * 2000}), 413)


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/preview", "/api/v1/triggers"])
@pytest.mark.parametrize("raw", ['{"accounts": [', "not json", "", "[1, 2]", '"a string"'])
def test_malformed_json_is_json_400(caller, path, raw):
    resp = caller("POST", path, data=raw, content_type="application/json")
    assert_json_error(resp, 400)


def test_unexpected_exception_in_an_api_view_is_json_500_without_traceback(app, caller, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production, not as in tests

    def broken(*_a, **_kw):
        raise RuntimeError("secret internals /srv/nudge/engine/rules.py")

    monkeypatch.setattr(blueprints.api.preview, "preview", broken)
    resp = caller("POST", "/api/v1/preview", json={"rule": {"all": []}})
    body = assert_json_error(resp, 500)
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "secret" not in text and "RuntimeError" not in text
    assert set(body) == {"error"}


def test_missing_key_is_json_401_without_cookie(client, login):
    login("admin")
    resp = client.get("/api/v1/triggers")
    assert_json_error(resp, 401)


def test_successful_api_calls_set_no_cookie(caller):
    for resp in (caller("GET", "/api/v1/triggers"),
                 caller("POST", "/api/v1/triggers", json={"name": "Cookie-free"}),
                 caller("GET", "/api/v1/outbox")):
        assert resp.status_code in (200, 201)
        assert "Set-Cookie" not in resp.headers


def test_pages_outside_the_api_keep_their_html_errors(client, login):
    assert client.get("/nope").mimetype == "text/html"
    assert client.get("/nope").status_code == 404
    assert client.get("/apixyz").mimetype == "text/html"  # the prefix is /api/, not /api
    signed_in = login("admin")
    resp = signed_in.get("/triggers/99999999999999999999")
    assert (resp.status_code, resp.mimetype) == (404, "text/html")


def test_ui_still_sets_its_session_cookie(client, make):
    # Skipping /api/ must not stop the sign-in page from handing out its CSRF session.
    resp = client.get("/login")
    assert resp.status_code == 200
    assert "Set-Cookie" in resp.headers
