"""Robustness across the whole app (DESIGN.md: "Bad input always gets a clear error ...
and never loses or corrupts data"; every page needs login; roles server-side; CSRF).

The route lists come from app.url_map, so a page or form added later is covered
without editing this file; only routes whose arguments the data set cannot fill
are skipped (and there are none today: test_every_rule_is_reachable says so).
"""
import json
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from flask import current_app, url_for
from sqlalchemy import func, select

from blueprints.ui import NAV_ITEMS
from extensions import db
from models import OutboxMessage, Trigger
from tests.web import robustness_data as rd

ROLES = ("admin", "manager", "approver", "viewer")
PUBLIC_ENDPOINTS = {"auth.login", "static"}
PUBLIC_BLUEPRINTS = {"tracking"}
# Who may open or post to an endpoint; anything not listed is open to every signed-in role
# for GET and to editors (admin, manager) for POST.
ADMIN_ONLY = {"settings.api_keys", "settings.create_api_key", "settings.revoke_api_key", "settings.staff",
              "settings.add_staff", "settings.change_role", "settings.remove_staff", "settings.inbox",
              "settings.inbox_message", "settings.clear_inbox"}
EDITOR_PAGES = {"triggers.new", "triggers.step", "triggers.delete", "personas.create", "personas.edit",
                "email_templates.new", "email_templates.edit", "email_templates.delete", "settings.imports",
                "settings.import_job", "settings.map_import", "settings.import_progress",
                "settings.import_errors_csv"}
APPROVER_ACTIONS = {"outbox.act", "outbox.approve_all"}
# POST endpoints that change nothing (previews, the rule builder) or are the sign-in itself.
READ_ONLY_POSTS = {"auth.login", "auth.logout", "email_templates.preview", "rules.visual", "rules.validate",
                   "rules.preview", "rules.explain"}
# GET pages whose required query string the data set supplies.
QUERY = {"outbox.approve_all": lambda d: {"trigger_id": d.ids["trigger_id"]},
         "reports.recipients": lambda d: {"day": _today(), "metric": "delivered"},
         "rules.matches": lambda d: {"rule": json.dumps({"user_types": ["product_user"], "all": []})}}
# Where GET answers with a redirect by design, for a signed-in user.
REDIRECTS = {"auth.login"}


def _today():
    from models.base import utcnow

    return utcnow().date().isoformat()


def allowed(endpoint: str, role: str, method: str = "GET") -> bool:
    if endpoint in ADMIN_ONLY:
        return role == "admin"
    if endpoint in APPROVER_ACTIONS:
        return role != "viewer"
    if endpoint in EDITOR_PAGES:
        return role in ("admin", "manager")
    if method == "POST" and endpoint not in READ_ONLY_POSTS:
        return role in ("admin", "manager")
    return True


def _is_public(endpoint: str) -> bool:
    return endpoint in PUBLIC_ENDPOINTS or endpoint.split(".")[0] in PUBLIC_BLUEPRINTS


def _rules(app, method):
    return [r for r in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
            if method in r.methods and not r.endpoint.startswith("api.")]


def _url(rule, data, *, missing=False, query=True):
    args = rd.url_args(rule, data, missing=missing)
    if args is None:
        return None
    if query and rule.endpoint in QUERY:
        args.update(QUERY[rule.endpoint](data))
    return _link(rule.endpoint, **args)


def _link(endpoint, **args):
    with current_app.test_request_context():
        return url_for(endpoint, **args)


def _send(client, method, url, **kw):
    """(status, error): an exception the app let escape counts as a 500 and is described."""
    try:
        return client.open(url, method=method, **kw).status_code, ""
    except Exception as exc:  # noqa: BLE001 -- the test client re-raises what would be a 500
        import traceback

        db.session.rollback()
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/work/main/" in f.filename
                  and "/.venv/" not in f.filename and "/tests/" not in f.filename]
        where = f" at {frames[-1].filename.split('/work/main/')[1]}:{frames[-1].lineno}" if frames else ""
        return 500, f"{type(exc).__name__}: {str(exc)[:120]}{where}"


def _has_id(rule) -> bool:
    return any(a.endswith("_id") for a in rule.arguments)


def _row_counts() -> dict:
    db.session.expire_all()
    counts = {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables}
    counts["states"] = sorted(db.session.execute(select(OutboxMessage.id, OutboxMessage.state)).all())
    counts["trigger_status"] = sorted(db.session.execute(select(Trigger.id, Trigger.status)).all())
    return counts


# ----------------------------------------------------------------------------- links

class _Links(HTMLParser):
    """<a href> targets and POST forms (action + the fields they send) of a page."""

    def __init__(self):
        super().__init__()
        self.links, self.forms, self._form = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form" and (a.get("method") or "get").lower() == "post":
            self._form = {"action": a.get("action") or "", "fields": {}}
            self.forms.append(self._form)
        elif tag in ("input", "select", "textarea", "button") and self._form is not None and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                self._form["fields"].setdefault(a["name"], None)
            else:
                self._form["fields"][a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def _parse(page_url: str, html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    parser.links = [urljoin(page_url, h) for h in parser.links]
    for form in parser.forms:
        form["action"] = urlsplit(urljoin(page_url, form["action"])).path
    return parser


def _same_site(href: str) -> bool:
    parts = urlsplit(href)
    return not parts.netloc and parts.path.startswith("/") and not parts.path.startswith(("/static/", "/t/", "/u/"))


# ----------------------------------------------------------------------------- 2. crawl

@pytest.fixture(autouse=True)
def _fast_password_hashes(monkeypatch):
    # scrypt costs 0.5 s per login() here; one PBKDF2 round keeps this file fast.
    from werkzeug import security

    import models.staff

    monkeypatch.setattr(models.staff, "generate_password_hash",
                        lambda password: security.generate_password_hash(password, method="pbkdf2:sha256:1"))


@pytest.fixture
def data(app):
    return rd.build()


def test_every_rule_is_reachable(app, data):
    """The data set fills every URL rule's arguments, so the crawl below misses nothing."""
    unfilled = [r.rule for r in app.url_map.iter_rules() if rd.url_args(r, data) is None]
    assert unfilled == []


@pytest.mark.parametrize("role", ROLES)
def test_crawl_every_page_as(role, app, data, login):
    client = login(role)
    before = _row_counts()
    seen, problems = set(), []
    for rule in _rules(app, "GET"):
        if rule.endpoint.startswith("tracking."):
            continue  # recording opens/clicks is their job; covered logged out below
        url = _url(rule, data)
        resp = client.get(url)
        seen.add(url)
        may = allowed(rule.endpoint, role)
        expected = (302 if rule.endpoint in REDIRECTS else 200) if may else 403
        if resp.status_code != expected:
            problems.append(f"GET {url}: {resp.status_code}, expected {expected}")
        if _has_id(rule):
            missing = _url(rule, data, missing=True)
            status = client.get(missing).status_code
            if status != (404 if may else 403):
                problems.append(f"GET {missing}: {status}, expected {404 if may else 403}")
    # One level of in-page links from every main navigation page.
    links = set()
    for endpoint, _label, _icon in NAV_ITEMS:
        if endpoint in app.view_functions:
            url = _url(app.url_map._rules_by_endpoint[endpoint][0], data)
            page = client.get(url)
            links.update(h for h in _parse(url, page.get_data(as_text=True)).links if _same_site(h))
    for href in sorted(links - seen):
        status = client.get(href).status_code
        if status not in (200, 302, 403):
            problems.append(f"link {href}: {status}")
    assert problems == [], "\n".join(problems)
    assert _row_counts() == before, "a GET changed data"


def test_post_routes_enforce_roles(app, data, login):
    """Viewers change nothing, approvers only approve; admin-only settings stay admin-only.
    Every POST route not known to be read-only is editors-only by default."""
    problems = []
    for role in ("viewer", "approver", "manager"):
        client = login(role)
        before = rd.snapshot()
        counts = _row_counts()
        for rule in _rules(app, "POST"):
            if _is_public(rule.endpoint) or rule.endpoint.startswith("auth."):
                continue
            resp = client.post(_url(rule, data), data={"confirm": "yes", "ids": "1", "name": "x"})
            if not allowed(rule.endpoint, role, "POST") and resp.status_code != 403:
                problems.append(f"{role} POST {rule.rule}: {resp.status_code}, expected 403")
            if resp.status_code >= 500:
                problems.append(f"{role} POST {rule.rule}: {resp.status_code}")
        if role == "viewer":
            assert _row_counts() == counts, "a viewer's POST changed data"
        assert rd.unchanged(before, rd.snapshot()) == []
    assert problems == [], "\n".join(problems)


def test_logged_out_sees_only_login_and_public_pages(app, data, client):
    problems = []
    for rule in _rules(app, "GET") + _rules(app, "POST"):
        method = "GET" if "GET" in rule.methods else "POST"
        url = _url(rule, data)
        resp = client.open(url, method=method)
        if _is_public(rule.endpoint):
            ok = resp.status_code in (200, 302) and "/login" not in resp.headers.get("Location", "")
        else:
            ok = resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/login"
        if not ok:
            problems.append(f"{method} {url}: {resp.status_code} {resp.headers.get('Location')}")
    assert problems == [], "\n".join(problems)
    assert client.get("/login").status_code == 200


def test_public_tracking_pages_render_without_login(app, data, client):
    assert client.get(_link("tracking.open_pixel", token=data.tokens["tracking.open_pixel"])).mimetype == "image/gif"
    click = client.get(_link("tracking.click", token=data.tokens["tracking.click"]))
    assert click.status_code == 302 and click.headers["Location"].startswith("https://example.com/")
    page = client.get(_link("tracking.unsubscribe_confirm", token=data.tokens["tracking.unsubscribe_confirm"]))
    assert page.status_code == 200 and b"<form" in page.data
    for bad in ("x", "a" * 5000, "%00", "..%2F..%2Fetc", rd.XSS):
        for endpoint in ("tracking.click", "tracking.unsubscribe_confirm"):
            assert client.get(_link(endpoint, token=bad)).status_code in (400, 404)
        assert client.post(_link("tracking.unsubscribe", token=bad)).status_code in (400, 404)


# ----------------------------------------------------------------------------- 3. bad input

LONG = "x" * 100_000
GARBAGE = ("", LONG, "Ünïcödé ✓ 日本語 😀", "line one\r\nBcc: evil@example.com", rd.XSS, "{{ 7*7 }}", "-1",
           "99999999999999999999999999", "1e309", "NaN", "[]", '{"a":', "null", str(rd.MISSING_ID),
           "[" * 5000 + "]" * 5000)
# A few per field: each field of every form gets a wrong type, a huge and a hostile value.
FIELD_GARBAGE = (LONG, "99999999999999999999999999", "-1", "line one\r\nX: y", "[" * 5000 + "]" * 5000)
DESTRUCTIVE = ("delete", "remove", "discard", "clear", "revoke")
# Fields no page renders (htmx-built or per-row) but the handlers read.
EXTRA_FIELDS = ("ids", "one", "next", "confirm", "trigger_id", "contact_id", "email", "name", "action",
                "cancel_waiting", "rule_json", "rule-rule_json", "prefix", "rb_explain", "subject", "html",
                "text", "sample_contact_id", "tab", "trigger", "account", "page", "role", "kind")


def _forms_by_action(client, data, app) -> dict:
    """{action path: fields with the values the page rendered} for every POST form on every page."""
    forms = {}
    for rule in _rules(app, "GET"):
        if rule.endpoint.startswith(("tracking.", "static")):
            continue
        url = _url(rule, data)
        resp = client.get(url)
        if resp.status_code == 200 and resp.mimetype == "text/html":
            for form in _parse(url, resp.get_data(as_text=True)).forms:
                merged = forms.setdefault(form["action"], {})
                for name, value in form["fields"].items():
                    if merged.get(name) is None:
                        merged[name] = value
    return forms


def _post_targets(app, data):
    """(endpoint, url) for every non-API POST route, every `any()` action expanded,
    routes that delete last (so the others still find their rows)."""
    targets = []
    for rule in _rules(app, "POST"):
        if rule.endpoint in ("auth.logout", "auth.login"):
            continue
        actions = rule._converters["action"].items if "action" in rule.arguments else [None]
        for action in sorted(actions, key=str):
            args = rd.url_args(rule, data)
            if action:
                args["action"] = action
            targets.append((rule.endpoint, _link(rule.endpoint, **args)))
    return sorted(targets, key=lambda t: any(w in t[0] for w in DESTRUCTIVE))


def _bodies(baseline: dict):
    yield {}
    names = set(baseline) | set(EXTRA_FIELDS)
    for value in GARBAGE:
        yield {name: value for name in names}
    valid = {k: v for k, v in baseline.items() if v is not None}
    for name in sorted(baseline):
        for value in FIELD_GARBAGE:
            yield {**valid, name: value}


def test_bad_form_input_never_500s_or_corrupts(app, data, login):
    client = login("admin")
    forms = _forms_by_action(client, data, app)
    problems = []
    before = rd.snapshot()
    for endpoint, url in _post_targets(app, data):
        path = urlsplit(url).path
        for body in _bodies(forms.get(path, {})):
            status, error = _send(client, "POST", url, data=body)
            if status >= 500:
                shown = {k: (v[:20] + "…" if isinstance(v, str) and len(v) > 20 else v) for k, v in body.items()}
                problems.append(f"POST {url} -> {status} {error} with {shown}")
                continue
            after = rd.snapshot()
            if status >= 400:
                changed = rd.unchanged(before, after)
                if changed:
                    problems.append(f"POST {url} -> {status} but changed {changed[:2]}")
            before = after
    assert problems == [], "\n".join(problems)


def test_bad_query_strings_never_500(app, data, login):
    """List filters, paging and ids in the query string: junk is ignored or a 4xx, never a 500."""
    client = login("admin")
    junk = {"page": "99999999999999999999999", "per_page": "-5", "sort": rd.XSS, "dir": "sideways",
            "q": LONG[:5000], "status": "{{ 7*7 }}", "tab": "../../etc", "trigger": "abc",
            "account": "-1", "trigger_id": "99999999999999999999999", "contact_id": "1e309",
            "day": "2026-13-45", "metric": "nope", "days": "-30", "start": "x", "end": "2026-01-01",
            "rule": "[" * 5000, "view": "<b>", "section": "events", "events_page": "999999999999999999999",
            "sample_q": "%_%", "rb_field": "contact.attributes." + "a" * 300, "rb_op": "between",
            "mode": "{}", "format": "csv"}
    problems = []
    for rule in _rules(app, "GET"):
        if rule.endpoint.startswith(("tracking.", "static")):
            continue
        base = _url(rule, data, query=False)
        for params in (junk, {k: "" for k in junk}, {"page": "0", "per_page": "99999999999999999999"}):
            status, error = _send(client, "GET", base, query_string=params)
            if status >= 500:
                problems.append(f"GET {base} {sorted(params)[:3]}… -> {error}")
        huge = _url(rule, data, query=False).replace(str(data.ids.get("trigger_id", "")), "1" * 25) \
            if _has_id(rule) else None
        if huge and _send(client, "GET", huge)[0] >= 500:
            problems.append(f"GET {huge} -> {_send(client, 'GET', huge)[1]}")
    assert problems == [], "\n".join(problems)
