"""Issue 15: the import's rows not imported list every problem of each row, and the
download has the original rows with all their problems."""
import csv
import io

import pytest
from playwright.sync_api import expect

from extensions import db
from models import ImportJob
from tests import factories
from tests.browser import shot

pytestmark = pytest.mark.browser


def test_the_import_page_lists_every_problem_and_the_download_has_the_rows(page, run_jobs):
    from engine.contacts.csv_import import inspect_file
    from workers.queues import get_queue

    page.login("manager")
    factories.account(external_id="acme")
    text = ("external_id,account_external_id,email,is_crm_contact,first_name\n"
            "c-1,acme,ann@example.com,yes,Ann\n"
            "c-2,ghost,bob-at-example,maybe,Bob\n"
            "c-3,acme,cy@example.com,perhaps,Cy\n")
    info = inspect_file(text, "contacts")
    job = ImportJob(kind="contacts", filename="people.csv", csv_text=text, status="pending",
                    total_rows=info["total_rows"], mapping={**info["mapping"], "attributes": []})
    db.session.add(job)
    db.session.commit()
    get_queue("imports").enqueue("workers.jobs.import_job", job.id)
    run_jobs()

    page.goto(page.base + f"/settings/import/{job.id}")
    row = page.locator(".errors-table tbody tr").first
    expect(row.locator("li")).to_have_count(3)  # line 3: email, true/false and the unknown account
    expect(row).to_contain_text("unknown account")
    shot(page, "import-errors")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download rows to fix (CSV)").click()
    got = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert got[0] == ["import_line", "import_problems", "external_id", "account_external_id", "email",
                      "is_crm_contact", "first_name"]
    assert got[1][0] == "3" and got[1][2:] == ["c-2", "ghost", "bob-at-example", "maybe", "Bob"]
    assert len(got[1][1].split("; ")) == 3
    assert got[2][0] == "4" and got[2][2:] == ["c-3", "acme", "cy@example.com", "perhaps", "Cy"]
