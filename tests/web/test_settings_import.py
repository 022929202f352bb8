"""Settings -> Import: upload, bad files, mapping, start, progress partial, roles."""
import io

import pytest

from engine.contacts import csv_import as import_csv
from extensions import db
from models import Contact, ImportJob

CONTACTS_CSV = (
    "external_id,account_external_id,email,First Name,last_name,is_product_user,Plan Tier,attributes.seats\n"
    "c1,acc-x,ann@example.com,Ann,Lee,yes,gold,5\n"
    "c2,acc-x,not-an-email,Bob,Ray,no,silver,3\n"
)


def upload(client, text, kind="contacts", name="people.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post("/settings/import", data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_upload_map_start_and_finish(login, make, run_jobs):
    from workers.queues import get_queue

    make.account(external_id="acc-x")
    client = login("manager")
    res = upload(client, CONTACTS_CSV)
    assert res.status_code == 302
    job = ImportJob.query.one()
    assert job.status == "draft" and job.total_rows == 2 and job.kind == "contacts"
    assert res.headers["Location"].endswith(f"/settings/import/{job.id}/map")

    page = client.get(f"/settings/import/{job.id}/map").get_data(as_text=True)
    # Auto-matched dropdowns, the preview rows and the attribute columns.
    assert '<option value="First Name" selected>' in page
    assert '<option value="email" selected>' in page
    assert "ann@example.com" in page and "not-an-email" in page
    assert 'value="Plan Tier" checked' in page and "plan_tier" in page

    form = {"field-external_id": "external_id", "field-account_external_id": "account_external_id",
            "field-email": "email", "field-first_name": "First Name", "field-last_name": "last_name",
            "field-is_product_user": "is_product_user", "attribute": ["Plan Tier", "attributes.seats"]}
    res = client.post(f"/settings/import/{job.id}/map", data=form)
    assert res.headers["Location"].endswith(f"/settings/import/{job.id}")
    client.post(f"/settings/import/{job.id}/map", data=form)  # a double click starts nothing new
    assert get_queue("imports").count == 1
    db.session.refresh(job)
    assert job.status == "pending" and job.mapping["attributes"] == ["Plan Tier", "attributes.seats"]

    live = client.get(f"/settings/import/{job.id}/progress").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in live and "Queued" in live

    run_jobs()
    contact = Contact.query.one()
    assert (contact.external_id, contact.first_name, contact.is_product_user) == ("c1", "Ann", True)
    assert contact.attributes == {"plan_tier": "gold", "seats": 5}
    done = client.get(f"/settings/import/{job.id}/progress").get_data(as_text=True)
    assert "hx-trigger" not in done  # polling stops
    assert 'data-status="done"' in done and 'aria-valuenow="100"' in done
    assert "<td class=\"num\">3</td>" in done and "email: is not a valid email address" in done
    page = client.get(f"/settings/import/{job.id}").get_data(as_text=True)
    assert "Import finished" in page and "Rows not imported" in page
    csv_text = client.get(f"/settings/import/{job.id}/errors.csv").get_data(as_text=True)
    header, first = csv_text.splitlines()[:2]
    assert header.startswith("import_line,import_problems,") and first.startswith("3,") and ",c2," in first
    listing = client.get("/settings/import").get_data(as_text=True)
    assert "people.csv" in listing and "Done" in listing


@pytest.mark.parametrize("payload, kind, message", [
    (b"", "contacts", "The file is empty."),
    (b"   \n\n", "contacts", "The file is empty."),
    ("external_id,email\n".encode(), "contacts", "no data rows"),
    ("ext,email\n1,ann@example.com\n".encode("utf-16"), "contacts", "not UTF-8"),
    ("külliäinen,x\n".encode("latin-1"), "contacts", "not UTF-8"),
    (b"PK\x03\x04\x00\x00binary", "contacts", "looks binary"),
    (b"c1,acc-x,ann@example.com\nc2,acc-x,bob@example.com\n", "contacts", "header row"),
    (b"external_id,name,arr,plan\na1,Acme,100,pro\n", "contacts", "looks like accounts, not contacts"),
    (CONTACTS_CSV.encode(), "accounts", "looks like contacts, not accounts"),
    (b"id,id\n1,2\n", "accounts", "names a column twice"),
    (b'external_id,name\n"a1,Acme\n', "accounts", "not valid CSV"),
])
def test_bad_files_get_a_clear_error(login, payload, kind, message):
    res = upload(login("admin"), payload, kind=kind)
    assert res.status_code == 400
    page = res.get_data(as_text=True)
    assert 'class="alert alert-error"' in page and message in page.replace("&#34;", '"')
    assert ImportJob.query.count() == 0


def test_file_over_the_size_limit_is_refused(login, monkeypatch):
    monkeypatch.setattr(import_csv, "MAX_BYTES", 1000)
    import blueprints.settings.imports as views

    monkeypatch.setattr(views, "MAX_BYTES", 1000)
    res = upload(login("admin"), "external_id,name\n" + "a,b\n" * 400, kind="accounts")
    assert res.status_code == 400
    assert "larger than" in res.get_data(as_text=True)
    assert ImportJob.query.count() == 0


def test_missing_file_or_kind(login):
    client = login("admin")
    res = client.post("/settings/import", data={"kind": "contacts"}, content_type="multipart/form-data")
    assert res.status_code == 400 and "Choose a CSV file" in res.get_data(as_text=True)
    res = client.post("/settings/import", data={"kind": "events", "file": (io.BytesIO(b"a\n1\n"), "x.csv")},
                      content_type="multipart/form-data")
    assert res.status_code == 400 and "Not a valid choice" in res.get_data(as_text=True)


def test_mapping_needs_the_required_fields(login):
    from workers.queues import get_queue

    client = login("admin")
    upload(client, CONTACTS_CSV)
    job = ImportJob.query.one()
    res = client.post(f"/settings/import/{job.id}/map", data={
        "field-external_id": "external_id", "field-account_external_id": "email",
        "field-email": "email", "field-role": "no such column"})
    assert res.status_code == 400
    page = res.get_data(as_text=True)
    assert "is mapped to both" in page and "There is no column" in page
    res = client.post(f"/settings/import/{job.id}/map", data={"field-external_id": "external_id"})
    assert "Choose the column for Email (required)." in res.get_data(as_text=True)
    db.session.refresh(job)
    assert job.status == "draft" and get_queue("imports").count == 0


def test_discard_a_draft(login):
    client = login("manager")
    upload(client, CONTACTS_CSV)
    job = ImportJob.query.one()
    res = client.post(f"/settings/import/{job.id}/discard", follow_redirects=True)
    assert "nothing was imported" in res.get_data(as_text=True)
    assert ImportJob.query.count() == 0


def test_failed_job_can_be_retried(login, make, run_jobs, monkeypatch):
    make.account(external_id="acc-x")
    client = login("admin")
    upload(client, CONTACTS_CSV)
    job = ImportJob.query.one()
    client.post(f"/settings/import/{job.id}/map", data={
        "field-external_id": "external_id", "field-account_external_id": "account_external_id",
        "field-email": "email"})
    import engine.contacts.ingest

    def broken(*_a, **_k):
        raise RuntimeError("database went away")

    monkeypatch.setattr(engine.contacts.ingest, "store", broken)
    run_jobs()
    page = client.get(f"/settings/import/{job.id}/progress").get_data(as_text=True)
    assert 'data-status="failed"' in page and "database went away" in page and "Retry" in page
    monkeypatch.undo()
    client.post(f"/settings/import/{job.id}/requeue")
    run_jobs()
    db.session.refresh(job)
    assert job.status == "done" and job.created_rows == 1 and job.failed_rows == 1


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_import_is_for_managers_and_admins(login, role):
    client = login(role)
    assert client.get("/settings/import").status_code == 403
    assert upload(client, CONTACTS_CSV).status_code == 403
    job = ImportJob(kind="contacts", filename="x.csv", csv_text=CONTACTS_CSV, status="draft")
    db.session.add(job)
    db.session.commit()
    for url in (f"/settings/import/{job.id}", f"/settings/import/{job.id}/map",
                f"/settings/import/{job.id}/progress", f"/settings/import/{job.id}/errors.csv"):
        assert client.get(url).status_code == 403
    for url in (f"/settings/import/{job.id}/map", f"/settings/import/{job.id}/discard",
                f"/settings/import/{job.id}/requeue"):
        assert client.post(url, data={"field-external_id": "external_id"}).status_code == 403
    db.session.refresh(job)
    assert job.status == "draft"


def test_unknown_import_is_404(login):
    assert login("admin").get("/settings/import/424242").status_code == 404
