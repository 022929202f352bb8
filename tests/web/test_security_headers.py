"""Security headers on every response (issue 14 item 4): a CSP without inline script,
no framing, nosniff, a same-origin referrer, no-store on signed-in pages, and versioned
static files cached for a year without Vary: Cookie."""
import re
from pathlib import Path

import pytest

from engine import tracking

ROOT = Path(__file__).resolve().parents[2]


def _csp(resp) -> dict[str, list[str]]:
    policy = resp.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_security_headers(resp):
    csp = _csp(resp)
    assert csp.get("script-src") == ["'self'"], resp.headers.get("Content-Security-Policy")
    assert csp.get("default-src") == ["'self'"]
    assert csp.get("frame-ancestors") == ["'none'"]
    assert csp.get("object-src") == ["'none'"]
    assert csp.get("base-uri") == ["'none'"]
    assert not any("unsafe-eval" in v or "unsafe-inline" in v
                   for d, v in csp.items() if d.startswith("script-src") or d == "default-src")
    assert resp.headers.get("X-Frame-Options") == "DENY"
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    assert resp.headers.get("Referrer-Policy") == "same-origin"


def _no_store(resp):
    return "no-store" in resp.headers.get("Cache-Control", "")


@pytest.mark.parametrize("path", [
    "/", "/accounts", "/contacts", "/triggers/", "/personas/", "/templates/", "/outbox/",
    "/reports/", "/settings/", "/settings/staff", "/settings/api-keys",
])
def test_signed_in_pages_have_every_header_and_are_never_stored(login, path):
    client = login("admin")
    for headers in ({}, {"HX-Request": "true"}):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 200, path
        assert_security_headers(resp)
        assert _no_store(resp), (path, resp.headers.get("Cache-Control"))


def test_login_page_404_and_tracking_pages(client, make):
    login_page = client.get("/login")
    assert login_page.status_code == 200
    assert_security_headers(login_page)
    assert _no_store(login_page)

    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert_security_headers(missing)

    message = make.outbox_message(state="sent")
    for path in (f"/u/{tracking.unsubscribe_token(message.id)}", "/u/forged",
                 f"/t/o/{tracking.open_token(message.id)}.gif", "/t/c/forged"):
        resp = client.get(path)
        assert_security_headers(resp)
        assert _no_store(resp), path
    posted = client.post(f"/u/{tracking.unsubscribe_token(message.id)}")
    assert posted.status_code == 200
    assert_security_headers(posted)


def test_signed_in_404_is_not_stored(login):
    resp = login("viewer").get("/accounts/999999")
    assert resp.status_code == 404
    assert_security_headers(resp)
    assert _no_store(resp)


def test_api_responses_have_the_headers(api, client):
    ok = api.post("/api/v1/accounts", json={"accounts": [{"external_id": "a1", "name": "A"}]})
    assert ok.status_code == 200
    assert_security_headers(ok)
    assert _no_store(ok)
    assert_security_headers(client.post("/api/v1/accounts", json={"accounts": []}))  # 401


def _static_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def test_pages_link_versioned_static_files_served_immutable_without_vary_cookie(login):
    client = login("admin")
    html = client.get("/").get_data(as_text=True)
    urls = _static_urls(html)
    assert any("htmx" in u for u in urls) and any("app.css" in u for u in urls)
    for url in urls:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Cookie" not in resp.headers.get("Vary", ""), url
        assert "Set-Cookie" not in resp.headers
        assert_security_headers(resp)
        resp.close()


def test_the_version_is_the_files_content_hash(login, app):
    import hashlib

    client = login("admin")
    html = client.get("/").get_data(as_text=True)
    url = next(u for u in _static_urls(html) if "app.js" in u)
    version = url.split("?v=")[1]
    assert version == hashlib.sha256((ROOT / "static" / "app.js").read_bytes()).hexdigest()[:12]


def test_unversioned_or_stale_static_urls_must_revalidate(client):
    for url in ("/static/app.js", "/static/app.js?v=000000000000"):
        resp = client.get(url)
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "no-cache"
        assert_security_headers(resp)
        resp.close()
    missing = client.get("/static/nope.js?v=abc")
    assert missing.status_code == 404
    assert "immutable" not in missing.headers.get("Cache-Control", "")


def test_templates_hold_no_inline_script_or_event_handlers():
    """script-src 'self' blocks these in the browser; keep them out of the markup too."""
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", line, re.I):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: inline <script>")
            if re.search(r"""[\s"'](on[a-z]+|hx-on[:\w-]*)\s*=""", line, re.I):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: event handler attribute")
            if "javascript:" in line.lower():
                offenders.append(f"{path.relative_to(ROOT)}:{number}: javascript: URL")
    assert offenders == []
