"""The CSV import job, run by an RQ worker on real Redis, and the file reading under it."""
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.contacts import csv_import as import_csv

from engine.contacts import imports
from engine.contacts.csv_import import ImportFileError, RowConverter, inspect_file, read_records
from extensions import db
from models import Account, Contact, ImportJob


def queue_import(kind, text, mapping=None, attributes=None):
    from workers.queues import get_queue

    info = inspect_file(text, kind)
    job = ImportJob(kind=kind, filename=f"{kind}.csv", csv_text=text, status="pending",
                    total_rows=info["total_rows"],
                    mapping={**(mapping or info["mapping"]),
                             "attributes": info["attributes"] if attributes is None else attributes})
    db.session.add(job)
    db.session.commit()
    get_queue("imports").enqueue("workers.jobs.import_job", job.id)
    return job


def test_contacts_import_stores_valid_rows_and_lists_the_rest(app, make, run_jobs):
    make.account(external_id="acme")
    make.contact(account=Account.query.one(), external_id="c-old", email="old@example.com",
                 attributes={"keep": 1})
    text = (
        "external_id,account_external_id,email,first_name,is_crm_contact,last_seen_at,seats,beta,zip\n"
        "c-1,acme,ann@example.com,Ann,yes,2026-01-05T09:00:00Z,12,true,01234\n"
        "\n"  # blank lines are skipped but still counted in line numbers
        "c-2,acme,broken-address,Bob,no,,3,,\n"
        "c-3,ghost,cy@example.com,Cy,maybe,,,,\n"
        'c-old,acme,old@example.com,"Multi\nLine",0,,7,,\n'
        "c-4,acme,dee@example.com,Dee,1,not a date,,,\n"
    )
    job = queue_import("contacts", text)
    run_jobs()
    db.session.refresh(job)
    assert job.status == "done" and job.finished_at is not None
    assert (job.total_rows, job.processed_rows, job.created_rows, job.updated_rows, job.failed_rows) == (5, 5, 1, 1, 3)
    by_line = {e["line"]: e["message"] for e in job.errors}
    assert sorted(by_line) == [4, 5, 8]
    assert "email: is not a valid email address" in by_line[4]
    assert "is_crm_contact: “maybe” is not true/false" in by_line[5]
    assert "last_seen_at: must be an ISO-8601 date-time" in by_line[8]
    ann = Contact.query.filter_by(external_id="c-1").one()
    assert ann.is_crm_contact is True and ann.first_name == "Ann"
    assert ann.last_seen_at.isoformat() == "2026-01-05T09:00:00"
    assert ann.attributes == {"seats": 12, "beta": True, "zip": "01234"}
    old = Contact.query.filter_by(external_id="c-old").one()
    assert old.first_name == "Multi\nLine" and old.is_crm_contact is False
    assert old.attributes == {"keep": 1, "seats": 7}  # merged, not replaced
    assert Contact.query.count() == 2


def test_accounts_import_in_chunks_reports_progress(app, run_jobs, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 10)
    seen = []
    real = imports._process_chunk

    def spy(import_id, *args):
        real(import_id, *args)
        # What the progress bar reads: committed after every chunk.
        seen.append(db.session.scalar(select(ImportJob.processed_rows).where(ImportJob.id == import_id)))

    monkeypatch.setattr(imports, "_process_chunk", spy)
    rows = [f"a-{i},Company {i},\"{i * 1000:,}\",pro,active" for i in range(25)]
    rows[7] = "a-7,,100,pro,active"  # missing name
    rows[12] = "a-12,Twelve,lots,pro,active"  # not a number
    job = queue_import("accounts", "external_id,name,ARR,plan,status\n" + "\n".join(rows) + "\n")
    run_jobs()
    db.session.refresh(job)
    assert seen == [10, 20, 25]
    assert (job.created_rows, job.failed_rows, job.status) == (23, 2, "done")
    assert [(e["line"], e["message"]) for e in job.errors] == [
        (9, "name: is required"), (14, "arr: “lots” is not a number")]
    assert Account.query.filter_by(external_id="a-24").one().arr == Decimal("24000")


def test_a_duplicate_delivery_of_the_job_imports_once(app, make, run_jobs):
    from workers.queues import get_queue

    make.account(external_id="acme")
    job = queue_import("contacts", "external_id,account_external_id,email\nc1,acme,a@example.com\n")
    get_queue("imports").enqueue("workers.jobs.import_job", job.id)  # Redis may deliver twice
    run_jobs()
    db.session.refresh(job)
    assert (job.processed_rows, job.created_rows, job.updated_rows) == (1, 1, 0)
    assert imports.run_import(job.id) == {"skipped": True}


def test_stored_errors_are_capped_but_counted(app, run_jobs, monkeypatch):
    monkeypatch.setattr(imports, "MAX_STORED_ERRORS", 3)
    job = queue_import("accounts", "external_id,name\n" + "x,\n" * 6)
    run_jobs()
    db.session.refresh(job)
    assert job.failed_rows == 6 and len(job.errors) == 3


# ---- reading files ------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "external_id;name;arr\na1;Acme;5\n",
    "external_id\tname\tarr\na1\tAcme\t5\n",
    "\ufeffexternal_id,name,arr\r\na1,Acme,5\r\n",
])
def test_delimiters_bom_and_line_endings(text):
    data = text.encode("utf-8")
    if text.startswith("\ufeff"):
        data = b"\xef\xbb\xbf" + text[1:].encode()
    info = inspect_file(import_csv.decode_upload(data), "accounts")
    assert info["columns"] == ["external_id", "name", "arr"]
    assert info["preview"] == [["a1", "Acme", "5"]]
    assert info["mapping"] == {"external_id": "external_id", "name": "name", "arr": "arr"}


def test_auto_mapping_uses_exact_names_before_aliases():
    columns = ["id", "Account ID", "E-mail", "Email", "Surname", "attributes.plan", "Seats"]
    mapping = import_csv.auto_mapping("contacts", columns)
    assert mapping == {"external_id": "id", "account_external_id": "Account ID", "email": "Email",
                       "last_name": "Surname"}
    attrs = import_csv.default_attribute_columns("contacts", columns, mapping)
    assert attrs == ["E-mail", "attributes.plan", "Seats"]
    assert [import_csv.attribute_key(c) for c in attrs] == ["e_mail", "plan", "seats"]


def test_converter_types_and_omits_empty_cells():
    columns = ["external_id", "name", "arr", "crm", "x"]
    conv = RowConverter("accounts", columns, {"external_id": "external_id", "name": "name", "arr": "arr"},
                        ["crm", "x"])
    assert conv.convert(["a", "Acme", "$1,200.50", "no", "3.5"]) == (
        {"external_id": "a", "name": "Acme", "arr": 1200.5, "attributes": {"crm": False, "x": 3.5}}, [])
    assert conv.convert(["a", " ", "", "", ""]) == ({"external_id": "a"}, [])
    item, problems = conv.convert(["a", "b", "c", "d", "e", "extra"])
    assert problems == ["the row has 6 values but the header names 5 columns"]


def test_line_numbers_follow_the_file():
    _cols, records = read_records('h1,h2\n\n"a\nb",1\n2,3\n')
    assert [line for line, _ in records] == [3, 5]


def test_unclosed_quote_is_reported_with_its_line():
    with pytest.raises(ImportFileError, match=r"not valid CSV.*line 3"):
        inspect_file('external_id,name\na1,Acme\na2,"Unclosed\n', "accounts")


@pytest.mark.parametrize("raw, value", [
    ("0", 0), ("007", "007"), ("0.5", 0.5), ("-2.5", -2.5), ("+5", 5), ("1e999", "1e999"),
    ("12345678901234567", "12345678901234567"), ("Yes", True), ("no", False), ("n/a", "n/a"),
])
def test_attribute_values_get_a_sensible_type(raw, value):
    conv = RowConverter("accounts", ["external_id", "x"], {"external_id": "external_id"}, ["x"])
    item, problems = conv.convert(["a", raw])
    assert problems == [] and item["attributes"]["x"] == value and type(item["attributes"]["x"]) is type(value)


# ---- the error file (issue 15): the original row and every problem of it ----------------

def test_a_bad_row_lists_every_problem_not_only_the_first(app, make, run_jobs):
    make.account(external_id="acme")
    text = ("external_id,account_external_id,email,is_crm_contact,last_seen_at,note\n"
            "c-1,ghost,not-an-email,maybe,yesterday,=HYPERLINK(\"http://evil\")\n"  # four problems
            "c-2,acme,ok@example.com,yes,,fine\n"
            ",acme,also-bad,,,\n"  # missing id and a bad email
            "c-3,acme,x@example.com,perhaps,,\n")  # one problem: not stored although the rest is fine
    job = queue_import("contacts", text)
    run_jobs()
    db.session.refresh(job)
    assert (job.created_rows, job.failed_rows) == (1, 3)
    by_line = {e["line"]: e["problems"] for e in job.errors}

    def starts(problems, *expected):
        assert len(problems) == len(expected), problems
        for prefix in expected:
            assert any(p.startswith(prefix) for p in problems), (prefix, problems)

    starts(by_line[2], "is_crm_contact: “maybe” is not true/false", "email: is not a valid email address",
           "last_seen_at: must be an ISO-8601 date-time", "account_external_id: unknown account")
    starts(by_line[4], "email: is not a valid email address", "external_id: is required")
    starts(by_line[5], "is_crm_contact: “perhaps” is not true/false")
    assert Contact.query.filter_by(external_id="c-3").first() is None
    assert job.errors[0]["message"] == "; ".join(by_line[2])  # the one-line form the page had


def test_the_error_file_has_the_original_rows_and_all_their_problems(app, make, run_jobs):
    import csv
    import io

    make.account(external_id="acme")
    text = ("external_id,account_external_id,email,first_name,note\n"
            "c-1,acme,ok@example.com,Ann,\n"
            'c-2,ghost,bad-address,"Multi\nLine",-5\n'  # spans two lines; a cell a spreadsheet would run
            "c-3,acme,x@example.com,Cy,extra,cells\n")  # more cells than the header
    job = queue_import("contacts", text)
    run_jobs()
    db.session.refresh(job)
    header, rows = imports.error_rows(job)
    assert header == ["import_line", "import_problems",
                      "external_id", "account_external_id", "email", "first_name", "note"]
    assert rows[0][2:] == ["c-2", "ghost", "bad-address", "Multi\nLine", "-5"]  # as in the file
    assert rows[0][0] == 3
    problems = rows[0][1].split("; ")
    assert len(problems) == 2 and problems[0].startswith("email: is not a valid email address")
    assert problems[1] == "account_external_id: unknown account"
    assert rows[1][2:] == ["c-3", "acme", "x@example.com", "Cy", "extra", "cells"] and rows[1][0] == 5
    assert "header names 5 columns" in rows[1][1]
    assert len(rows) == 2

    # The page's download: the same rows, cells that start like a formula neutralised.
    client = app.test_client()
    admin = make.staff(role="manager")
    with client.session_transaction() as sess:
        sess["_user_id"] = admin.get_id()
    res = client.get(f"/settings/import/{job.id}/errors.csv")
    assert res.status_code == 200 and res.mimetype == "text/csv"
    got = list(csv.reader(io.StringIO(res.get_data(as_text=True))))
    assert got[0] == header
    assert got[1][2:] == ["c-2", "ghost", "bad-address", "Multi\nLine", "'-5"] and got[1][0] == "3"


def test_an_error_file_uploaded_again_leaves_the_added_columns_unmapped(app):
    text = "external_id,name,import_line,import_problems\na-1,Acme,2,name: is required\n"
    info = inspect_file(text, "accounts")
    assert "import_line" not in info["attributes"] and "import_problems" not in info["attributes"]
    assert "import_line" not in info["mapping"].values()


def test_error_rows_of_stored_jobs_without_problem_lists_still_work(app):
    job = ImportJob(kind="accounts", filename="a.csv", csv_text="external_id,name\nx,\n", status="done",
                    errors=[{"line": 2, "message": "name: is required"}])
    db.session.add(job)
    db.session.commit()
    assert imports.error_rows(job)[1] == [[2, "name: is required", "x", ""]]
