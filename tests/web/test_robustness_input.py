"""Robustness, input: hostile form fields, query strings, JSON and CSV never cause a
500 or corrupt data, and user strings always render escaped (DESIGN.md: "Bad input
always gets a clear error ... and never loses or corrupts data")."""
import re
from urllib.parse import urlsplit

from extensions import db
from tests.web import robustness_data as rd
from tests.web.robustness_access import (  # noqa: F401  (data, fast_password_hashes: fixtures)
    data, fast_password_hashes, rules_for)


LONG = "x" * 100_000
DEEP = "[" * 1500 + "]" * 1500  # deeper than Python's json can read (1000)
GARBAGE = ("", LONG, "Ünïcödé ✓ 日本語 😀 \u202e", "nul\x00byte", "line one\r\nBcc: evil@example.com", rd.XSS + "{{ 7*7 }}",
           "-1", "3000000000", "99999999999999999999999999", "1e309", '{"a":', str(rd.MISSING_ID), DEEP)
# A few per field: each field of every form gets a wrong type, a huge and a hostile value.
FIELD_GARBAGE = (LONG, "3000000000", "line one\r\nX: y")  # 3e9: just past PostgreSQL's integer
DESTRUCTIVE = ("delete", "remove", "discard", "clear", "revoke")
# Fields no page renders (htmx-built or per-row) but the handlers read.
EXTRA_FIELDS = ("ids", "one", "next", "confirm", "trigger_id", "contact_id", "email", "name", "action",
                "cancel_waiting", "rule_json", "rule-rule_json", "prefix", "rb_explain", "subject", "html",
                "text", "sample_contact_id", "tab", "trigger", "account", "page", "role", "kind")


def _forms_by_action(client, data, app) -> dict:
    """{action path: fields with the values the page rendered} for every POST form on every page."""
    forms = {}
    for rule in rules_for(app, "GET"):
        if rule.endpoint.startswith(("tracking.", "static")):
            continue
        for url in rd.rule_urls(rule, data):
            resp = client.get(url)
            if resp.status_code == 200 and resp.mimetype == "text/html":
                for form in rd.parse_page(url, resp.get_data(as_text=True)).forms:
                    merged = forms.setdefault(form["action"], {})
                    for name, value in form["fields"].items():
                        if merged.get(name) is None:
                            merged[name] = value
    return forms


def _post_targets(app, data):
    """(endpoint, url) for every non-API POST route, every `any()` action expanded,
    routes that delete last (so the others still find their rows)."""
    targets = []
    for rule in rules_for(app, "POST"):
        if rule.endpoint in ("auth.logout", "auth.login"):
            continue
        targets += [(rule.endpoint, url) for url in rd.rule_urls(rule, data)]
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


def _short(body: dict) -> dict:
    return {k: (v[:20] + "…" if isinstance(v, str) and len(v) > 20 else v) for k, v in body.items()}


def _snapshot_after(problems: list, what: str) -> dict:
    """A snapshot; a request that left the shared session in a failed transaction is a problem
    (a view swallowed a database error without rolling back)."""
    from sqlalchemy.exc import DBAPIError

    try:
        return rd.snapshot()
    except DBAPIError as exc:
        problems.append(f"{what} left a failed transaction: {str(exc.orig)[:100]}")
        db.session.rollback()
        return rd.snapshot()


def test_bad_form_input_never_500s_or_corrupts(app, data, login):
    client = login("admin")
    forms = _forms_by_action(client, data, app)
    problems = []
    before = rd.snapshot()
    for endpoint, url in _post_targets(app, data):
        path = urlsplit(url).path
        for body in _bodies(forms.get(path, {})):
            status, error = rd.send(client, "POST", url, data=body)
            if status >= 500:
                problems.append(f"POST {url} -> {status} {error} with {_short(body)}")
                continue
            after = _snapshot_after(problems, f"POST {url} -> {status} with {_short(body)}")
            if status >= 400:
                changed = rd.unchanged(before, after)
                if changed:
                    problems.append(f"POST {url} -> {status} but changed {changed[:2]}")
            elif set(rd.line_breaks(after)) - set(rd.line_breaks(before)):
                problems.append(f"POST {url} -> {status} stored a line break: {rd.line_breaks(after)[:2]}")
            before = after
    assert problems == [], "\n".join(problems)


NUMERIC_PARAMS = ("page", "per_page", "trigger", "account", "trigger_id", "contact_id", "sample_contact_id",
                  "events_page", "days", "emails_page")
HUGE_QUERIES = [{name: value for name in NUMERIC_PARAMS} for value in ("3000000000", str(2**61), "9" * 25)]


def _panel_variants(rule, url) -> list[tuple[str, dict]]:
    """The account page's tabs and the contact page's sections, each as its htmx request would ask."""
    from blueprints.accounts.panels import ACCOUNT_TABS, CONTACT_SECTIONS

    if rule.endpoint == "accounts.detail":
        return [(f"{url}?tab={key}", {"HX-Request": "true", "HX-Target": "account-tabs"}) for key in ACCOUNT_TABS]
    if rule.endpoint == "accounts.contact_detail":
        return [(f"{url}?section={key}", {"HX-Request": "true"}) for key in CONTACT_SECTIONS]
    return []


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
    for rule in rules_for(app, "GET"):
        if rule.endpoint.startswith(("tracking.", "static")):
            continue
        for base in rd.rule_urls(rule, data, query=False):
            for url, headers in [(base, {}), *_panel_variants(rule, base)]:
                for params in (junk, {k: "" for k in junk}, {"q": "a\x00b"}, *HUGE_QUERIES):
                    merged = {**params, **dict(p.split("=") for p in urlsplit(url).query.split("&") if p)}
                    status, error = rd.send(client, "GET", urlsplit(url).path, query_string=merged, headers=headers)
                    if status >= 500:
                        problems.append(f"GET {url} {params.get('page')}… -> {error}")
    assert problems == [], "\n".join(problems)


def test_a_rejected_edit_changes_nothing(app, data, login):
    """The wizard, persona and template forms refuse bad input with a message and keep the row."""
    client = login("admin")
    trigger_id, before = data.ids["trigger_id"], rd.snapshot()
    cases = [
        (f"/triggers/{trigger_id}/edit/message", {"name": LONG, "from_email": "a@example.com", "subject": "Hi"},
         "at most"),
        (f"/triggers/{trigger_id}/edit/message", {"name": "Ok", "from_email": "a@example.com",
                                                  "subject": "Hi\r\nBcc: evil@example.com"}, "line"),
        (f"/triggers/{trigger_id}/edit/message", {"name": "Ok", "subject": "Hi", "html": "{% if %}"}, "Line 1"),
        (f"/triggers/{trigger_id}/edit/rule", {"kind": "schedule", "audience": "rule",
                                               "rule-rule_json": '{"user_types": ["robot"], "all": []}'}, "robot"),
        (f"/triggers/{trigger_id}/edit/rule", {"kind": "schedule", "audience": "rule", "rule-rule_json": DEEP},
         "malformed JSON"),
        (f"/triggers/{trigger_id}/edit/controls", {"priority": "abc", "generate_at": "08:00", "send_at": "09:00",
                                                   "timezone": "UTC"}, "integer"),
        (f"/triggers/{trigger_id}/edit/controls", {"priority": "1", "generate_at": "25:99", "send_at": "09:00",
                                                   "timezone": "Mars/Olympus"}, "timezone"),
        (f"/personas/{data.ids['persona_id']}/edit", {"name": "New name", "rule_json": '{"all": [{"op": "eq"}]}'},
         "field"),
        (f"/personas/{data.ids['persona_id']}/edit", {"name": "", "rule_json": '{"user_types": [], "all": []}'},
         "Give the persona a name"),
        (f"/templates/{data.ids['template_id']}/edit", {"name": "T", "subject": "Hi", "html": "{{ contact. }}"},
         "Line 1"),
        ("/settings/staff", {"email": "not-an-email", "password": "short", "role": "admin"}, "email"),
    ]
    for url, body, message in cases:
        resp = client.post(url, data=body)
        page = resp.get_data(as_text=True)
        assert resp.status_code in (400, 422), (url, body, resp.status_code)
        assert message.lower() in page.lower(), f"{url} does not say what is wrong ({message!r})"
        assert rd.unchanged(before, rd.snapshot()) == [], (url, body)


# Ordered so every third value ([::3], [1::3]) is still a mix of types.
API_GARBAGE = (None, True, -1, 10**30, 2**31, 1.5, "nul\x00byte", "", LONG, "line\r\nX: y", rd.XSS, [], 1e308, {}, [[[]]],
               {"a": {"b": []}})


# The endpoints that read fields from the body; the others get only the malformed bodies.
API_READS_FIELDS = {"api.ingest_accounts", "api.ingest_contacts", "api.ingest_events", "api.preview_rule",
                    "api.triggers_create", "api.triggers_update"}


def _api_bodies(fields):
    """Raw bodies that are not the expected JSON object, then each field with each wrong value."""
    raw = ["", "not json", "{", "[1, 2]", "null", '"a string"', "123", "[" * 100_000 + "]" * 100_000,
           '{"a": ' * 5000 + "1" + "}" * 5000, '{"limit": 1e999, "arr": -1e999}', "\xff\xfe"]
    for body in raw:
        yield {"data": body, "content_type": "application/json"}
    yield {"data": "accounts=1", "content_type": "application/x-www-form-urlencoded"}
    if fields is None:
        return
    for value in API_GARBAGE:
        yield {"json": {name: value for name in fields}}
    for name in fields:
        for value in API_GARBAGE[1::3]:
            yield {"json": {**fields, name: value}}


def _api_fields(endpoint, data):
    """A valid body for the endpoint, so each wrong field is the only thing wrong."""
    if endpoint == "api.ingest_accounts":
        return {"accounts": [{"external_id": "api-a", "name": "A", "arr": 10, "plan": "pro", "status": "active",
                              "attributes": {"k": 1}}]}
    if endpoint == "api.ingest_contacts":
        return {"contacts": [{"external_id": "api-c", "account_external_id": "acc-1", "email": "c@example.com",
                              "first_name": "C", "timezone": "UTC", "last_seen_at": "2026-01-05T09:00:00Z"}]}
    if endpoint == "api.ingest_events":
        return {"events": [{"contact_external_id": "con-2", "name": "login", "occurred_at": "2026-01-05T09:00:00Z",
                            "properties": {}, "external_id": "api-e"}]}
    if endpoint == "api.preview_rule":
        return {"rule": {"user_types": ["product_user"], "all": []}, "limit": 5}
    return {"name": "API", "kind": "schedule", "subject": "Hi", "html": "<p>x</p>", "from_email": "a@example.com",
            "rule": {"user_types": ["product_user"], "all": []}, "priority": 1, "generate_at": "08:00",
            "send_at": "09:00", "timezone": "UTC", "persona_id": None, "template_id": None}


def _flatten_items(body):
    """Wrong values also go inside the batch items, where ingest reads them."""
    for kind in ("accounts", "contacts", "events") if body else ():
        if isinstance(body.get(kind), list):
            item = body[kind][0]
            for name in item:
                for value in API_GARBAGE[::3]:
                    yield {"json": {kind: [{**item, name: value}]}}
            for value in API_GARBAGE[::2]:
                yield {"json": {kind: value}}
                yield {"json": {kind: [value]}}


def test_bad_json_api_input_is_a_json_4xx(app, data, api_key, client):
    headers = {"Authorization": f"Bearer {api_key}"}
    problems = []
    before, counts = rd.snapshot(), rd.row_counts()
    rules = sorted((r for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")),
                   key=lambda r: "DELETE" in r.methods)
    for rule in rules:
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        url = rd.rule_url(rule, data)
        fields = _api_fields(rule.endpoint, data) if rule.endpoint in API_READS_FIELDS else None
        for body in [*_api_bodies(fields), *_flatten_items(fields)]:
            resp, error = rd.fetch(client, method, url, headers=headers, **body)
            if resp is None or resp.status_code >= 500:
                problems.append(f"{method} {url} {str(body)[:80]} -> {error or resp.status_code}")
                continue
            if resp.status_code >= 400:
                if not resp.is_json or not (resp.json.get("error") or resp.json.get("errors")):
                    problems.append(f"{method} {url} {str(body)[:80]} -> {resp.status_code} without a JSON error")
                if rd.unchanged(before, rd.snapshot()) or rd.row_counts() != counts:
                    problems.append(f"{method} {url} {str(body)[:80]} -> {resp.status_code} but data changed")
                    before, counts = rd.snapshot(), rd.row_counts()
            else:
                before, counts = rd.snapshot(), rd.row_counts()
        if "GET" in rule.methods:
            for params in ({"state": rd.XSS, "status": "{{ 7*7 }}", "page": "-1", "trigger_id": "abc",
                            "contact_external_id": LONG[:5000]}, *HUGE_QUERIES):
                resp, error = rd.fetch(client, "GET", url, headers=headers, query_string=params)
                if resp is None or resp.status_code not in (200, 400) or not resp.is_json:
                    problems.append(f"GET {url} {params} -> {error or resp.status_code}")
        for key in ("", "Bearer nope", f"Basic {api_key}", f"Bearer {api_key}x", "Bearer " + "k" * 10_000):
            resp = client.open(url, method=method, headers={"Authorization": key}, json=fields or {})
            if resp.status_code != 401 or not resp.is_json:
                problems.append(f"{method} {url} with key {key[:20]!r} -> {resp.status_code}")
        if rule.arguments:
            missing = rd.rule_url(rule, data, missing=True)
            resp = client.open(missing, method=method, headers=headers, json=fields or {})
            if resp.status_code != 404 or not resp.is_json:
                problems.append(f"{method} {missing} -> {resp.status_code}")
    assert problems == [], "\n".join(problems)



ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_user_strings_render_escaped_everywhere(app, data, login):
    """No page ever contains the raw <script> from the data; the pages that show those
    strings show them escaped."""
    client = login("admin")
    shown_on = {
        "account": ["/accounts", f"/accounts/{data.ids['account_id']}", f"/contacts/{data.ids['contact_id']}"],
        "contact": ["/contacts", f"/contacts/{data.ids['contact_id']}", f"/accounts/{data.ids['account_id']}",
                    f"/personas/{data.ids['persona_id']}"],
        "persona": ["/personas/", f"/personas/{data.ids['persona_id']}"],
        "template": ["/templates/", f"/templates/{data.ids['template_id']}"],
        "template_subject": ["/templates/", f"/templates/{data.ids['template_id']}"],
        "trigger": ["/triggers/", "/reports/", f"/reports/triggers/{data.ids['trigger_id']}", "/outbox/",
                    f"/outbox/{data.ids['message_id']}"],
    }
    problems = []
    for what, urls in shown_on.items():
        for url in urls:
            page = client.get(url).get_data(as_text=True)
            if ESCAPED not in page:
                problems.append(f"{url} does not show the {what} name (escaped)")
    for rule in rules_for(app, "GET"):
        if rule.endpoint.startswith(("tracking.", "static")):
            continue
        for url in rd.rule_urls(rule, data) + [f"/outbox/?tab={tab}" for tab in ("sent", "failed", "suppressed")]:
            resp = client.get(url)
            html = resp.get_data(as_text=True)
            if rd.XSS in html and resp.mimetype == "text/html":
                problems.append(f"{url} contains the raw <script>")
            # Email HTML is shown in iframes: without a script-free sandbox it would run there.
            for frame in re.findall(r"<iframe\b[^>]*>", html):
                if "srcdoc" in frame and not re.search(r'\bsandbox=""', frame):
                    problems.append(f"{url} has an unsandboxed email frame {frame[:80]}")
    assert problems == [], "\n".join(problems)


def test_bad_csv_uploads_are_refused_with_a_reason(app, data, login):
    import io

    client = login("manager")
    jobs = rd.row_counts()["import_jobs"]
    files = [(b"", "empty.csv"), (b"\x00\x01\x02PK", "book.xlsx"), (b"\xff\xfe\x00bad", "utf16.csv"),
             (b"external_id,email\n" + b"a," * 50_000 + b"\n", "wide.csv"), (b"name\nx\n", "no-id.csv")]
    for content, name in files:
        resp = client.post("/settings/import", data={"kind": "contacts", "file": (io.BytesIO(content), name)},
                           content_type="multipart/form-data")
        assert resp.status_code == 400 or resp.status_code == 302, name
    # A readable file under a hostile name is stored under a harmless one (or refused), never a 500.
    for name in ("a\x00b.csv", "x" * 1000 + ".csv", "../../etc/passwd", "line\r\nbreak.csv", rd.XSS + ".csv"):
        status, error = rd.send(client, "POST", "/settings/import", content_type="multipart/form-data",
                              data={"kind": "contacts", "file": (io.BytesIO(b"external_id,email\nc1,c1@example.com\n"),
                                                                 name)})
        assert status in (302, 400, 422), (name, error)  # 422: a NUL in the name
    assert rd.row_counts()["import_jobs"] - jobs <= 5
    page = client.get("/settings/import").get_data(as_text=True)
    assert rd.XSS not in page
