"""Robustness, access: every page needs login, roles are checked server-side, a GET
changes nothing, CSRF on every form, no open redirect (input: test_robustness_input.py).

The route lists come from app.url_map, so a page or form added later is covered
without editing this file; only routes whose arguments the data set cannot fill
are skipped (and there are none today: test_every_rule_is_reachable says so).
"""
from urllib.parse import urlsplit

import pytest

from blueprints.ui import NAV_ITEMS
from extensions import db
from models import OutboxMessage
from tests.web import robustness_data as rd
from tests.web.robustness_access import (  # noqa: F401  (data, fast_password_hashes: fixtures)
    REDIRECTS, ROLES, allowed, data, fast_password_hashes, is_public, rules_for, signed_in_client)


def test_every_rule_is_reachable(app, data):
    """The data set fills every URL rule's arguments, so the crawl below misses nothing."""
    unfilled = [r.rule for r in app.url_map.iter_rules() if rd.url_args(r, data) is None]
    assert unfilled == []


@pytest.mark.parametrize("role", ROLES)
def test_crawl_every_page_as(role, app, data, login):
    client = login(role)
    before = rd.row_counts()
    seen, problems = set(), []
    for rule in rules_for(app, "GET"):
        if rule.endpoint.startswith("tracking."):
            continue  # recording opens/clicks is their job; covered logged out below
        may = allowed(rule.endpoint, role)
        for url in rd.rule_urls(rule, data):
            expected = (302 if rule.endpoint in REDIRECTS else 200) if may else 403
            # The htmx request (a fragment) too, for the roles that see the page.
            for headers in ({}, {"HX-Request": "true"}) if may else ({},):
                status, error = rd.send(client, "GET", url, headers=headers)
                if status != expected:
                    problems.append(f"GET {url} {headers}: {status}, expected {expected} {error}")
            seen.add(url)
        if rd.has_id(rule):
            # A row that does not exist is a 404 (the role check comes first); so are ids beyond
            # PostgreSQL's integer (2**31) and beyond 64 bits, which neither database can bind.
            for missing in rd.MISSING_IDS:
                url = rd.rule_url(rule, data, missing=missing)
                status, error = rd.send(client, "GET", url)
                if status not in ((403, 404) if not may else (404,)):
                    problems.append(f"GET {url}: {status}, expected 404 {error}")
    # One level of in-page links from every main navigation page.
    links = set()
    for endpoint, _label, _icon in NAV_ITEMS:
        if endpoint in app.view_functions:
            url = rd.rule_url(app.url_map._rules_by_endpoint[endpoint][0], data)
            page = client.get(url)
            links.update(h for h in rd.parse_page(url, page.get_data(as_text=True)).links if rd.same_site(h))
    for href in sorted(links - seen):
        status, error = rd.send(client, "GET", href)
        if status not in (200, 302, 403):
            problems.append(f"link {href}: {status} {error}")
    assert problems == [], "\n".join(problems)
    assert rd.row_counts() == before, "a GET changed data"


def test_post_routes_enforce_roles(app, data, login):
    """Viewers change nothing, approvers only approve; admin-only settings stay admin-only.
    Every POST route not known to be read-only is editors-only by default."""
    problems = []
    for role in ("viewer", "approver", "manager"):
        client = login(role)
        before = rd.snapshot()
        counts = rd.row_counts()
        for rule in rules_for(app, "POST"):
            if is_public(rule.endpoint) or rule.endpoint.startswith("auth."):
                continue
            for url in rd.rule_urls(rule, data):
                status, error = rd.send(client, "POST", url, data={"confirm": "yes", "ids": "1", "name": "x"})
                if not allowed(rule.endpoint, role, "POST") and status != 403:
                    problems.append(f"{role} POST {url}: {status}, expected 403")
                if status >= 500:
                    problems.append(f"{role} POST {url}: {error}")
        if role == "viewer":
            assert rd.row_counts() == counts, "a viewer's POST changed data"
        if role != "manager":  # managers may edit; their POSTs are the bad-input sweep's business
            assert rd.unchanged(before, rd.snapshot()) == [], role
    assert problems == [], "\n".join(problems)


def test_logged_out_sees_only_login_and_public_pages(app, data, client):
    problems = []
    for rule in rules_for(app, "GET") + rules_for(app, "POST"):
        method = "GET" if "GET" in rule.methods else "POST"
        for url in rd.rule_urls(rule, data):
            resp = client.open(url, method=method)
            if is_public(rule.endpoint):
                ok = resp.status_code in (200, 302) and "/login" not in resp.headers.get("Location", "")
                if rule.endpoint.startswith("webhooks."):
                    ok = resp.status_code == 401  # unsigned: refused, never a login page
            else:
                ok = resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/login"
            if not ok:
                problems.append(f"{method} {url}: {resp.status_code} {resp.headers.get('Location')}")
    assert problems == [], "\n".join(problems)
    assert client.get("/login").status_code == 200


def test_public_tracking_pages_render_without_login(app, data, client):
    assert client.get(rd.link("tracking.open_pixel", token=data.tokens["tracking.open_pixel"])).mimetype == "image/gif"
    click = client.get(rd.link("tracking.click", token=data.tokens["tracking.click"]))
    assert click.status_code == 302 and click.headers["Location"].startswith("https://example.com/")
    page = client.get(rd.link("tracking.unsubscribe_confirm", token=data.tokens["tracking.unsubscribe_confirm"]))
    assert page.status_code == 200 and b"<form" in page.data
    for bad in ("x", "a" * 5000, "%00", "..%2F..%2Fetc", rd.XSS):
        for endpoint in ("tracking.click", "tracking.unsubscribe_confirm"):
            assert client.get(rd.link(endpoint, token=bad)).status_code in (400, 404)
        assert client.post(rd.link("tracking.unsubscribe", token=bad)).status_code in (400, 404)


# ----------------------------------------------------------------------------- 3. bad input


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example", "/\\evil.example",
                                    "/\t/evil.example", "javascript:alert(1)", "/ok\r\nSet-Cookie: x=1"])
def test_no_open_redirect_through_next(target, app, data, client, login, make):
    staff = make.staff(email="next@example.com", password="correct-horse-1")
    resp = client.post("/login", query_string={"next": target},
                       data={"email": staff.email, "password": "correct-horse-1"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    client = login("manager")
    for action in ("activate", "deactivate"):
        resp = client.post(f"/triggers/{data.ids['trigger_id']}/{action}", data={"next": target})
        location = resp.headers["Location"]
        assert resp.status_code == 302 and location.startswith("/") and not location.startswith("//")
        assert "\\" not in location and "evil" not in location


# ----------------------------------------------------------------------------- 3b. JSON API


# ----------------------------------------------------------------------------- 4. CSRF

def test_csrf_is_required_on_every_form_post(app, data, api_key):
    app.config["WTF_CSRF_ENABLED"] = True
    client = signed_in_client(app, "admin")
    counts, before = rd.row_counts(), rd.snapshot()
    problems = []
    for rule in rules_for(app, "POST"):
        if is_public(rule.endpoint):
            continue
        for url in rd.rule_urls(rule, data):
            status, error = rd.send(client, "POST", url, data={"name": "x", "ids": "1", "confirm": "yes"})
            if status != 400:
                problems.append(f"POST {url} without a token: {status} {error}")
    assert problems == [], "\n".join(problems)
    assert rd.row_counts() == counts and rd.unchanged(before, rd.snapshot()) == []
    # The same form with the token from its page goes through.
    page = client.get("/templates/new").get_data(as_text=True)
    token = rd.parse_page("/templates/new", page).forms[0]["fields"]["csrf_token"]
    resp = client.post("/templates/new", data={"csrf_token": token, "name": "With token", "subject": "Hi",
                                                   "html": "<p>Hello</p>"})
    assert resp.status_code == 302
    htmx = client.post("/templates/preview", data={"subject": "Hi"}, headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert htmx.status_code == 200


def test_api_and_one_click_unsubscribe_need_no_csrf_token(app, data, api_key):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_key}"}
    resp = client.post("/api/v1/accounts", headers=headers, json={"accounts": [{"external_id": "csrf-a", "name": "A"}]})
    assert resp.status_code == 200 and resp.json == {"created": 1, "updated": 0}
    resp = client.post("/api/v1/preview", headers=headers, json={"rule": {"user_types": ["product_user"], "all": []}})
    assert resp.status_code == 200
    token = data.tokens["tracking.unsubscribe"]
    resp = client.post(rd.link("tracking.unsubscribe", token=token), data={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 200
    db.session.expire_all()
    message = db.session.get(OutboxMessage, data.messages["sent"])
    assert message.contact.unsubscribed_at is not None


# ----------------------------------------------------------------------------- 5. escaping
