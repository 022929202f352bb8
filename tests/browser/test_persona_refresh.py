"""Issue 15: persona "Refresh now" shows progress and updates the page when it is done
(a partial polled with htmx, as the import progress is)."""
import pytest
from playwright.sync_api import expect

from extensions import db
from tests import factories
from tests.browser import shot

pytestmark = pytest.mark.browser


def test_refresh_now_shows_progress_then_the_new_figures(page, run_jobs):
    page.login("manager")
    acc = factories.account(name="Bigco")
    for i in range(3):
        factories.contact(acc, role="admin", email=f"admin{i}@bigco.test")
    persona = factories.persona(name="Bigco admins", rule={
        "user_types": ["product_user"], "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]})
    db.session.commit()
    page.goto(page.base + f"/personas/{persona.id}")
    members_stat = page.locator("#persona-stats .stat", has_text="Members").locator(".stat-value")
    expect(members_stat).to_have_text("0")

    page.get_by_role("button", name="Refresh now").click()
    progress = page.locator("#persona-refresh")
    expect(progress).to_have_attribute("data-status", "running")
    expect(progress).to_contain_text("Refreshing the members of “Bigco admins”")
    expect(progress.get_by_role("progressbar")).to_be_visible()
    shot(page, "persona-refresh-running")
    page.wait_for_timeout(1500)  # it keeps polling while nothing has run
    expect(progress).to_have_attribute("data-status", "running")

    run_jobs()  # the worker does the refresh
    expect(progress).to_have_attribute("data-status", "done", timeout=8000)
    expect(progress).to_contain_text("3 members")
    expect(progress).to_contain_text("3 entered")
    # The page updated in place, without a reload: figures, members, daily and recent changes.
    expect(members_stat).to_have_text("3")
    expect(page.locator("#members")).to_contain_text("admin0@bigco.test")
    expect(page.locator("#persona-recent")).to_contain_text("admin2@bigco.test")
    expect(page.locator("#persona-daily tfoot")).to_contain_text("3")
    chart_total = page.evaluate(
        "() => Chart.getChart('persona-chart').data.datasets[0].data.reduce((a, b) => a + b, 0)")
    assert chart_total == 3
    assert "refreshing" not in page.url
    page.wait_for_timeout(1200)
    expect(progress).to_have_attribute("data-status", "done")  # polling stopped, still done
    shot(page, "persona-refresh-done")
    page.goto(page.base + f"/personas/{persona.id}")  # the same page loaded afresh looks the same
    shot(page, "persona-after-reload")
