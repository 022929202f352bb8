"""Untrusted data is escaped everywhere (issue 14 item 6): hostile strings ingested through
the API into every field of accounts, contacts and events, then every page that shows
them is loaded in Chromium, as a full page and as the htmx fragment, and checked for
injected elements or attributes and for script that ran.

The browser context bypasses the Content-Security-Policy on purpose: the CSP would stop
an injected handler from running, and this test is about the escaping underneath it.
"""
import csv
import io
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from blueprints.accounts.panels import ACCOUNT_TABS, CONTACT_SECTIONS
from engine.personas import refresh_persona
from extensions import db
from models import Account, Contact, DeliveryEvent, ImportJob, Persona, Trigger
from models.base import utcnow
from tests import factories
from tests.conftest import sign_in
from tests.web import robustness_data as rd
from tests.web.robustness_access import rules_for

BREAK_ATTRIBUTE = '"><img src=x onerror=window.__xss=1>'
BREAK_SCRIPT = "</script><script>window.__xss=1</script>"
BREAK_SINGLE_QUOTE = "' onmouseover='window.__xss=1"
TEMPLATE_CODE = "{{7*7}} {{ 6007*7 }}"  # 42049 on a page would mean it was evaluated
JS_URL = "javascript:window.__xss=1"
PAYLOADS = (BREAK_ATTRIBUTE, BREAK_SCRIPT, BREAK_SINGLE_QUOTE, TEMPLATE_CODE, JS_URL)
HOSTILE = " ".join(PAYLOADS)
# Names are at most 128 characters: the payloads split over first and last name.
FIRST_NAME = f"{BREAK_ATTRIBUTE} {BREAK_SCRIPT} {{{{7*7}}}}"
LAST_NAME = f"{BREAK_SINGLE_QUOTE} {JS_URL} {{{{ 6007*7 }}}}"
# An address email-validator accepts that still carries a quote, '=' and template code.
HOSTILE_EMAIL = "x'onmouseover='window.__xss=1'{{7*7}}@example.com"

# Every element and attribute on the page that markup injection could have produced.
FIND_INJECTIONS = """() => {
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) found.push(el.tagName + " " + name + "=" + attr.value);
      if (["href", "src", "action", "formaction", "xlink:href", "data"].includes(name)
          && attr.value.replace(/[\\s\\u0000-\\u001f]/g, "").toLowerCase().startsWith("javascript:"))
        found.push(el.tagName + " " + name + "=" + attr.value);
    }
    if (el.tagName === "IMG" && el.getAttribute("src") === "x") found.push("img src=x");
    if (el.tagName === "SCRIPT" && !el.src) found.push("inline script: " + el.textContent.slice(0, 80));
  }
  if (window.__xss !== undefined) found.push("window.__xss = " + window.__xss);
  if (document.documentElement.innerHTML.indexOf("42049") !== -1) found.push("template code evaluated");
  return found;
}"""


def _ingest(api, kind, items):
    resp = api.post(f"/api/v1/{kind}", json={kind: items})
    assert resp.status_code == 200, resp.get_json()


def hostile_attributes():
    return {HOSTILE: HOSTILE, "website": JS_URL, BREAK_ATTRIBUTE: [BREAK_SCRIPT, {BREAK_SINGLE_QUOTE: JS_URL}],
            "plan_tier": TEMPLATE_CODE}


@pytest.fixture
def hostile(app, api):
    """The robustness data set (a row behind every URL), plus hostile rows ingested through
    the API and wired into everything that shows a contact: persona members, outbox,
    reports, communications, a trigger preview, a CSV import."""
    data = rd.build()
    now = utcnow()
    _ingest(api, "accounts", [{"external_id": "acct " + HOSTILE, "name": HOSTILE, "arr": 5000,
                                "plan": BREAK_ATTRIBUTE, "attributes": hostile_attributes()}])
    _ingest(api, "contacts", [{"external_id": "contact " + HOSTILE, "account_external_id": "acct " + HOSTILE,
                                "email": HOSTILE_EMAIL, "first_name": FIRST_NAME, "last_name": LAST_NAME,
                                "role": BREAK_SINGLE_QUOTE, "is_product_user": True, "is_crm_contact": True,
                                "attributes": hostile_attributes()}])
    _ingest(api, "events", [{"contact_external_id": "contact " + HOSTILE, "name": name,
                              "occurred_at": (now - timedelta(hours=1)).isoformat() + "Z",
                              "properties": hostile_attributes(), "external_id": "ev " + name}
                             for name in (FIRST_NAME, LAST_NAME, "login")])
    account = db.session.scalar(db.select(Account).where(Account.name == HOSTILE))
    contact = db.session.scalar(db.select(Contact).where(Contact.first_name == FIRST_NAME))
    assert account is not None and contact is not None

    persona = db.session.get(Persona, data.ids["persona_id"])
    refresh_persona(persona.id, now)
    trigger = db.session.get(Trigger, data.ids["trigger_id"])
    trigger.html = "<p>Hi {{ contact.first_name }} of {{ account.name }} ({{ contact.attributes.website }})</p>"
    trigger.text = "Hi {{ contact.first_name }}"
    trigger.event_name = FIRST_NAME
    message = factories.outbox_message(trigger=trigger, contact=contact, state="sent", sent_at=now,
                                       subject=f"Hi {HOSTILE}",
                                       html=f"<p>Hi {HOSTILE}</p><a href='{JS_URL}'>x</a>",
                                       text=f"Hi {HOSTILE}", smtp_reply=HOSTILE)
    db.session.add(DeliveryEvent(message_id=message.id, trigger_id=trigger.id, contact_id=contact.id,
                                 kind="delivered", at=now, detail=HOSTILE))
    out = io.StringIO()
    csv.writer(out).writerows([["external_id", "email", HOSTILE], [HOSTILE, "a@b.c", HOSTILE]])
    csv_text = out.getvalue()
    job = ImportJob(kind="contacts", filename=f"{HOSTILE}.csv", csv_text=csv_text, status="draft", total_rows=1,
                    mapping={"external_id": "external_id", "email": "email", "attributes": []})
    db.session.add(job)
    db.session.commit()
    from engine.reports.fold import fold_pending

    fold_pending(now)
    data.ids.update(account_id=account.id, contact_id=contact.id, message_id=message.id)
    data.endpoint_ids["settings.map_import"] = {"import_id": job.id}
    data.contact = contact
    data.account = account
    return data


def _urls(app, data):
    """Every GET page (filled from the data set) plus the query-string views of the hostile rows."""
    urls = []
    for rule in rules_for(app, "GET"):
        if rule.endpoint.startswith(("tracking.", "auth.")) or rule.endpoint.endswith("_csv"):
            continue
        urls += rd.rule_urls(rule, data)
    account_id, contact_id, trigger_id = data.ids["account_id"], data.ids["contact_id"], data.ids["trigger_id"]
    urls += [f"/accounts/{account_id}?tab={key}" for key in ACCOUNT_TABS]
    urls += [f"/contacts/{contact_id}?section={key}" for key in CONTACT_SECTIONS]
    urls += [
        "/accounts?" + urlencode({"q": HOSTILE}), "/accounts?" + urlencode({"q": "acct"}),
        "/contacts?" + urlencode({"q": HOSTILE}), "/contacts?" + urlencode({"q": "x'"}),
        f"/triggers/{trigger_id}/edit/review?contact_id={contact_id}",
        "/templates/sample-contacts?" + urlencode({"sample_q": "x'"}),
        f"/templates/{data.ids['template_id']}?sample_contact_id={contact_id}",
        "/rules/matches?" + urlencode({"rule": json.dumps({"user_types": ["product_user"], "all": [
            {"field": "contact.role", "op": "eq", "value": BREAK_SINGLE_QUOTE},
            {"field": "account.name", "op": "eq", "value": HOSTILE}]})}),
        "/outbox/?" + urlencode({"q": HOSTILE}),
    ]
    return list(dict.fromkeys(urls))


@pytest.fixture
def csp_bypassing_page(_browser, live_server):
    context = _browser.new_context(viewport={"width": 1360, "height": 900}, timezone_id="UTC", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server.url)
    yield page
    context.close()


def _check(page, url, problems):
    resp = page.goto(url)
    page.wait_for_load_state("load")
    found = page.evaluate(FIND_INJECTIONS)
    if found:
        problems.append(f"{url}: {found}")
    return resp, page.inner_text("body") if page.locator("body").count() else ""


@pytest.mark.browser
def test_hostile_values_are_shown_as_text_on_every_page(app, hostile, csp_bypassing_page, live_server):
    page = csp_bypassing_page
    problems, shown = [], {}
    urls = _urls(app, hostile)
    assert len(urls) > 40
    for fragment in (False, True):
        page.set_extra_http_headers({"HX-Request": "true"} if fragment else {})
        for url in urls:
            resp, text = _check(page, live_server.url + url, problems)
            if resp is not None and resp.status not in (200, 302):
                problems.append(f"{url} {'(htmx)' if fragment else ''}: HTTP {resp.status}")
            shown[(url, fragment)] = text
    assert problems == [], "\n".join(problems)

    # Not vacuous: the pages did show the hostile values, as text.
    account_id, contact_id = hostile.ids["account_id"], hostile.ids["contact_id"]
    for url in (f"/accounts/{account_id}", f"/contacts/{contact_id}", "/accounts?" + urlencode({"q": "acct"}),
                f"/outbox/{hostile.ids['message_id']}"):
        for fragment in (False, True):
            if (url, fragment) in shown:
                assert BREAK_ATTRIBUTE in shown[(url, fragment)] and BREAK_SCRIPT in shown[(url, fragment)], url
    contact_page = shown[(f"/contacts/{contact_id}", False)]
    assert "{{7*7}}" in contact_page and BREAK_SINGLE_QUOTE in contact_page and HOSTILE_EMAIL in contact_page


@pytest.mark.browser
def test_event_property_tooltips_and_htmx_swaps_keep_hostile_values_inert(app, hostile, csp_bypassing_page,
                                                                       live_server):
    """The reported hole: event properties in a title attribute (|tojson left `"` raw). Hover
    them, and swap the tabs and sections in with htmx as staff do."""
    page = csp_bypassing_page
    account_id, contact_id = hostile.ids["account_id"], hostile.ids["contact_id"]
    problems = []

    page.goto(f"{live_server.url}/contacts/{contact_id}")
    tips = page.locator(".props-summary[title]")
    assert tips.count() >= 2
    tips.first.hover()
    for i in range(tips.count()):
        title = json.loads(tips.nth(i).get_attribute("title"))
        assert title[HOSTILE] == HOSTILE and title[BREAK_ATTRIBUTE][0] == BREAK_SCRIPT
    assert page.evaluate(FIND_INJECTIONS) == []

    page.goto(f"{live_server.url}/accounts/{account_id}")
    page.wait_for_load_state("load")
    page.locator("#account-tabs .tab", has_text="events").click()
    page.locator("#account-tabs .props-summary").first.wait_for()
    page.locator("#account-tabs .props-summary").first.hover()
    found = page.evaluate(FIND_INJECTIONS)
    if found:
        problems.append(f"account events tab: {found}")

    page.goto(f"{live_server.url}/accounts")
    page.wait_for_load_state("load")
    page.fill("input[name=q]", BREAK_ATTRIBUTE[:12])
    page.locator("#accounts-results").get_by_text(HOSTILE, exact=False).first.wait_for()
    page.locator("#accounts-results tbody tr", has_text=BREAK_ATTRIBUTE).first.hover()
    found = page.evaluate(FIND_INJECTIONS)
    if found:
        problems.append(f"account search: {found}")
    assert problems == []
