"""Accessibility (issue 14 item 15): axe-core finds no critical and no serious violation
on any page a signed-in admin can open -- the same page list as the CSP test, filled
from the robustness data set (a row of every table, every outbox state) -- nor on any
tab those pages link to (account sections, outbox states, trigger statuses, inbox
views), nor after switching the client-side tabs (rule builder JSON, review text); nor
signed out (login, not found), on empty lists, forms with errors, a flash, each outbox
state's message, an open menu or the rule explainer. A few DOM checks axe does not make
(DOM_CHECKS) run on every one of those pages too.

One browser page loops over every URL; animations are off and htmx has settled before
axe runs, so the result does not depend on timing."""
import os
from collections import Counter

import pytest
from axe_playwright_python.sync_playwright import Axe

from extensions import db
from tests.web import robustness_data as rd
from tests.web.robustness_access import rules_for

pytestmark = pytest.mark.browser

# Only what axe itself calls critical or serious fails the test (A11Y_IMPACTS=critical,serious,
# moderate,minor lists the lesser ones too, when working on them).
FAILING = tuple(os.environ.get("A11Y_IMPACTS", "critical,serious").split(","))
NO_MOTION = "*, *::before, *::after { transition: none !important; animation: none !important; }"
# Client-side tabs, clicked one after the other on every page that has them.
CLIENT_TABS = ("[data-rb-tab]", "[data-show-part]")
# Same-site links found in a tab strip, opened as pages of their own.
TAB_LINKS = """() => [...document.querySelectorAll('.tabs a.tab[href]')]
  .map(a => a.getAttribute('href')).filter(h => h.startsWith('/'))"""
# What axe (4.x) no longer checks or never did: ids used twice, an input whose list= names no
# <datalist>, a tab that controls no tabpanel, an icon inlined as a data: URI.
DOM_CHECKS = """() => {
  const found = [], ids = {};
  document.querySelectorAll('[id]').forEach(el => { ids[el.id] = (ids[el.id] || 0) + 1; });
  Object.entries(ids).filter(([, n]) => n > 1).forEach(([id, n]) => found.push(['duplicate-id', `id="${id}" used ${n} times`]));
  document.querySelectorAll('input[list]').forEach(el => {
    const dl = document.getElementById(el.getAttribute('list'));
    if (!dl || dl.tagName !== 'DATALIST') found.push(['missing-datalist', `input ${el.name} list="${el.getAttribute('list')}"`]);
  });
  document.querySelectorAll('[role=tab]').forEach(el => {
    const panel = document.getElementById(el.getAttribute('aria-controls') || '');
    if (!panel || panel.getAttribute('role') !== 'tabpanel') found.push(['tab-without-tabpanel', `tab "${el.textContent.trim()}"`]);
  });
  document.querySelectorAll('link[rel~=icon]').forEach(el => {
    if (el.getAttribute('href').startsWith('data:')) found.push(['data-uri-favicon', el.getAttribute('href').slice(0, 40)]);
  });
  return found;
}"""
SETTLED = "() => !document.querySelector('.htmx-request') && document.readyState === 'complete'"


def page_urls(app, data) -> list[str]:
    """Every GET page of the app (as in tests/browser/test_csp.py), filled from the data set."""
    urls = [u for rule in rules_for(app, "GET") if not rule.endpoint.endswith("_csv")
            and rule.endpoint not in ("tracking.open_pixel", "tracking.click", "auth.logout", "static")
            for u in rd.rule_urls(rule, data)]
    return urls + [f"/triggers/{data.triggers['schedule']}/edit/review",
                   f"/triggers/{data.triggers['persona_enter']}/edit/rule"]


def violations_of(axe, page, where: str, totals: Counter) -> list[str]:
    page.add_style_tag(content=NO_MOTION)
    page.wait_for_function(SETTLED)
    results = axe.run(page, options={"resultTypes": ["violations"]})
    found = []
    for rule, detail in page.evaluate(DOM_CHECKS):
        totals[f"dom {rule}"] += 1
        found.append(f"{where}: dom {rule}: {detail}")
    for v in results.response["violations"]:
        if v["impact"] in FAILING:
            totals[f"{v['impact']} {v['id']}"] += len(v["nodes"])
            targets = ", ".join(" ".join(n["target"][-1:]) if isinstance(n["target"][-1], str)
                                else str(n["target"][-1]) for n in v["nodes"][:4])
            more = f" (+{len(v['nodes']) - 4})" if len(v["nodes"]) > 4 else ""
            found.append(f"{where}: {v['impact']} {v['id']} x{len(v['nodes'])}: {targets}{more}")
    return found


def test_the_checks_see_what_they_look_for(page):
    """Not vacuous: a page with each problem gets each finding."""
    page.set_content("""<!doctype html><html lang="en"><head><title>Bad</title>
      <link rel="icon" href="data:image/svg+xml,<svg></svg>"></head><body><main>
      <p style="color:#aaa;background:#fff">Low contrast</p>
      <p>Text with <a href="/x" style="color:#222;text-decoration:none">a link</a> in it.</p>
      <input id="twice" list="nothing" name="q" aria-label="Query"><span id="twice"></span>
      <div role="tablist"><button role="tab" aria-selected="true">Tab</button></div>
      </main></body></html>""")
    found = "\n".join(violations_of(Axe(), page, "bad", Counter()))
    for rule in ("serious color-contrast", "serious link-in-text-block", "dom duplicate-id", "dom missing-datalist",
                 "dom tab-without-tabpanel", "dom data-uri-favicon"):
        assert rule in found, found


def test_no_critical_or_serious_violation_on_any_page(app, page):
    data = rd.build()
    axe = Axe()
    totals = Counter()
    # Signed out: the login form and the not-found page.
    problems = []
    for url, status in (("/login", 200), ("/no-such-page", 404)):
        assert page.goto(page.base + url).status == status
        problems += violations_of(axe, page, f"{url} (signed out)", totals)
    page.login("admin")
    queue = page_urls(app, data)
    assert len(queue) > 40
    seen, checked = set(queue), 0
    while queue:
        url = queue.pop(0)
        response = page.goto(page.base + url)
        assert response is not None and response.status < 400, f"{url}: {response and response.status}"
        if "<html" not in response.text()[:500].lower():
            continue  # an htmx fragment: checked inside the page that loads it
        problems += violations_of(axe, page, url, totals)
        checked += 1
        for href in page.evaluate(TAB_LINKS):
            if href not in seen:
                seen.add(href)
                queue.append(href)
        for selector in CLIENT_TABS:
            tabs = page.locator(selector)
            for i in range(tabs.count()):
                if tabs.nth(i).is_visible():
                    tabs.nth(i).click()
                    problems += violations_of(axe, page, f"{url} [{selector} #{i}]", totals)
    assert checked > 50
    summary = ", ".join(f"{rule}: {n}" for rule, n in totals.most_common())
    assert problems == [], f"{len(problems)} findings ({summary}):\n" + "\n".join(problems)


# Lists with nothing in them yet: their empty states.
EMPTY_PAGES = ("/", "/accounts", "/contacts", "/outbox/", "/triggers/", "/personas/", "/templates/",
               "/reports/", "/settings/api-keys", "/settings/inbox", "/settings/import")
# (page, what to fill, the button to press): forms sent empty show their errors; the API key
# form shows the new key and a flash.
SUBMITS = (("/personas/new", {}, "Create persona"), ("/templates/new", {}, "Create template"),
           ("/triggers/new", {}, "Save & continue →"), ("/settings/staff", {}, "Add login"),
           ("/settings/api-keys", {"input[name=name]": "CI"}, "Create key"))


def test_no_critical_or_serious_violation_in_other_states(app, page):
    """Empty lists, forms with errors, a flash, every outbox state's message page, an open
    menu and the rule explainer: the states the page sweep above does not reach."""
    axe, totals, problems = Axe(), Counter(), []
    page.login("admin")
    for url in EMPTY_PAGES:
        page.goto(page.base + url)
        problems += violations_of(axe, page, f"{url} (empty)", totals)
    data = rd.build()
    db.session.commit()  # build() ends inside a transaction that would keep the app's writes waiting
    for url, fill, button in SUBMITS:
        page.goto(page.base + url)
        page.evaluate("() => document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))")
        for selector, value in fill.items():
            page.fill(selector, value)
        page.get_by_role("button", name=button, exact=True).click()
        page.wait_for_load_state("load")
        problems += violations_of(axe, page, f"{url} after {button!r}", totals)
    for state, message_id in data.messages.items():
        page.goto(page.base + f"/outbox/{message_id}")
        problems += violations_of(axe, page, f"/outbox/{message_id} ({state})", totals)
    page.goto(page.base + f"/personas/{data.ids['persona_id']}")
    page.click("summary[aria-label='More actions']")
    problems += violations_of(axe, page, "persona page, menu open", totals)
    page.goto(page.base + f"/personas/{data.ids['persona_id']}/edit")
    page.locator(".rb-why").first.click()
    page.locator(".rb-explain-list").wait_for()
    problems += violations_of(axe, page, "persona edit, contact explained", totals)
    summary = ", ".join(f"{rule}: {n}" for rule, n in totals.most_common())
    assert problems == [], f"{len(problems)} findings ({summary}):\n" + "\n".join(problems)
