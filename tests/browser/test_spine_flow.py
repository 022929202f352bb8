"""The spine end to end in Chromium: sign in, search accounts, open one, then
import a contacts CSV in Settings and watch the RQ job finish."""
import re
import threading

import pytest
from playwright.sync_api import expect
from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty

from models import Contact, ImportJob


class ThreadWorker(SimpleWorker):
    """SimpleWorker that can run off the main thread (no signal handlers, timer-based timeouts)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        pass


@pytest.fixture
def background_worker(app):
    """start() runs an RQ worker on the test's Redis in a thread until the test ends."""
    from workers.queues import all_queues, get_redis

    stop = threading.Event()

    def loop():
        with app.app_context():  # jobs use the test app and database
            while not stop.is_set():
                ThreadWorker(all_queues(), connection=get_redis()).work(burst=True, logging_level="WARNING")
                stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    yield thread.start
    stop.set()
    if thread.ident is not None:  # the test may end before it started the worker
        thread.join(timeout=10)


def contacts_csv(rows: int) -> bytes:
    lines = ["external_id,account_external_id,email,First Name,last_name,role,is_product_user,Plan Tier"]
    for i in range(rows):
        account = "acme" if i % 2 else "globex"
        email = "not-an-email" if i == 41 else f"person{i}@example.com"
        lines.append(f"imp-{i},{account},{email},Person,{i},user,yes,gold")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.browser
def test_login_search_account_and_import_contacts(page, make, background_worker):
    acme = make.account(external_id="acme", name="Acme Analytics", arr=120000, plan="enterprise")
    globex = make.account(external_id="globex", name="Globex Corporation", arr=45000)
    make.account(external_id="initech", name="Initech", plan="starter")
    make.contact(account=acme, email="ann@acme.example")

    page.login("admin")
    page.get_by_role("link", name="Accounts", exact=True).click()
    rows = page.locator("#accounts-results tbody tr")
    expect(rows).to_have_count(3)
    # htmx loads deferred: typing before it has bound the search box would be lost.
    page.wait_for_load_state("domcontentloaded")
    page.fill("input[name=q]", "glob")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Globex Corporation")
    rows.first.get_by_role("link", name="Globex Corporation").click()
    expect(page).to_have_url(re.compile(rf"/accounts/{globex.id}$"))
    expect(page.locator("h1")).to_contain_text("Globex Corporation")

    page.get_by_role("link", name="Settings", exact=True).click()
    page.locator("a.settings-card", has_text="Import").click()
    expect(page.locator("h1")).to_have_text("Import from CSV")
    page.check("input[name=kind][value=contacts]")
    page.set_input_files("input[name=file]", files=[
        {"name": "new-contacts.csv", "mimeType": "text/csv", "buffer": contacts_csv(600)}])
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.locator("h1")).to_have_text("Map columns")
    expect(page.locator("select[name=field-email]")).to_have_value("email")
    expect(page.locator("select[name=field-first_name]")).to_have_value("First Name")
    expect(page.locator(".preview-table tbody tr")).to_have_count(5)
    page.get_by_role("button", name=re.compile("Start import of 600 rows")).click()

    # No worker yet: the job waits, and the page keeps polling its progress.
    progress = page.locator("#import-progress")
    expect(progress).to_have_attribute("data-status", "pending")
    background_worker()
    expect(progress).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.locator(".progress[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
    expect(progress).to_contain_text("Import finished: 600 rows read")
    errors = page.locator(".errors-table tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("td").first).to_have_text("43")  # header + 41 rows before it
    expect(errors.first).to_contain_text("email: is not a valid email address")

    job = ImportJob.query.one()
    assert (job.created_rows, job.failed_rows) == (599, 1)
    assert Contact.query.filter(Contact.external_id.like("imp-%")).count() == 599
    # Polling stopped: the finished partial carries no trigger.
    assert progress.get_attribute("hx-trigger") is None
