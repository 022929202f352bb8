"""CSV import of accounts and contacts: run an ImportJob in chunks through the
same validate/store as the ingest API (engine.contacts.ingest), recording progress and
per-row errors. Reading and mapping the file lives in engine.contacts.csv_import."""
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from engine.contacts.csv_import import (ERROR_FILE_COLUMNS, FIELDS, KINDS, MAX_BYTES, ImportFileError, RowConverter,  # noqa: F401
                               attribute_key, auto_mapping, check_mapping, decode_upload,
                               inspect_file, read_records)
from extensions import db
from models import ImportJob
from models.base import utcnow

log = logging.getLogger(__name__)
# The views use this module as the one entry point for imports.
__all__ = ["FIELDS", "KINDS", "MAX_BYTES", "ImportFileError", "RowConverter", "attribute_key", "auto_mapping",
           "check_mapping", "decode_upload", "error_rows", "inspect_file", "read_records", "run_import"]

CHUNK_ROWS = 500
MAX_STORED_ERRORS = 1000  # the page lists these; failed_rows counts all of them


# ---- running a job ----------------------------------------------------------

def run_import(import_id: int, now: datetime | None = None) -> dict:
    """Process an ImportJob: the import job's body, so an orchestrator that
    commits -- the claim, each chunk of rows together with the progress that
    counts them (the page shows it; a retried job resumes after the last
    committed chunk), and the end. Safe if Redis delivers the job twice (only
    one run claims it)."""
    claimed = db.session.execute(
        update(ImportJob).where(ImportJob.id == import_id, ImportJob.status == "pending")
        .values(status="running", failure_reason=None)
    ).rowcount
    db.session.commit()
    if not claimed:
        return {"skipped": True}
    job = db.session.get(ImportJob, import_id)
    kind, text, mapping = job.kind, job.csv_text, dict(job.mapping or {})
    filename = job.filename  # the change feed's actor for the contacts this import changes
    list_id = job.list_id if kind == "contacts" else None  # the list the contacts go into
    # Counters live here and are written with one UPDATE per chunk, so the
    # (up to 20 MB) file text is read once, not reloaded after every commit.
    progress = Progress(job.processed_rows, job.created_rows, job.updated_rows, job.failed_rows,
                        list(job.errors or []))
    try:
        converter, chunks = _chunks(kind, text, mapping, progress.processed)
        for chunk in chunks:
            for attempt in (1, 2):
                try:
                    _process_chunk(import_id, kind, converter, chunk, progress, now, filename, list_id)
                    db.session.commit()
                    break
                except IntegrityError:
                    # Another writer inserted one of these external ids meanwhile:
                    # look again, and the rows become updates.
                    db.session.rollback()
                    if attempt == 2:
                        raise
        db.session.execute(update(ImportJob).where(ImportJob.id == import_id).values(
            status="done", finished_at=utcnow()))
        db.session.commit()
    except Exception as exc:  # the job page must say what happened, not spin forever
        log.exception("import %s failed", import_id)
        db.session.rollback()
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.execute(update(ImportJob).where(ImportJob.id == import_id).values(
            status="failed", finished_at=utcnow(), failure_reason=reason))
        db.session.commit()
        return {"failed": reason}
    return {"processed": progress.processed, "created": progress.created,
            "updated": progress.updated, "failed": progress.failed}


@dataclass
class Progress:
    processed: int
    created: int
    updated: int
    failed: int
    errors: list  # the first MAX_STORED_ERRORS of them


def _chunks(kind: str, text: str, mapping: dict, done: int):
    """(converter, chunks of CHUNK_ROWS (line, cells) records after the first `done`)."""
    columns, records = read_records(text)
    fields = {k: v for k, v in mapping.items() if k != "attributes" and v}
    converter = RowConverter(kind, columns, fields, mapping.get("attributes") or [])

    def chunks():
        chunk = []
        for n, record in enumerate(records):
            if n < done:  # a retried job resumes where it stopped
                continue
            chunk.append(record)
            if len(chunk) >= CHUNK_ROWS:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    return converter, chunks()


def _process_chunk(import_id: int, kind: str, converter: RowConverter, chunk: list,
                   progress: Progress, now: datetime | None, filename: str | None = None,
                   list_id: int | None = None) -> None:
    from engine.contacts.ingest import store, validate

    # Every row goes through the same checks as the ingest API, so a bad row lists all of its
    # problems (a number that is not one *and* a bad email *and* an unknown account), not the
    # first one found. Only rows without any problem are stored.
    items, lines, found = [], [], {}  # found: position in items -> [problems]
    for line, cells in chunk:
        item, problems = converter.convert(cells)
        if problems and not item and len(cells) > converter.width:
            # The row does not fit the header: its cells cannot be told apart, nothing to check.
            found[len(items)] = problems
            item = None
        elif problems:
            found[len(items)] = problems
        items.append(item)
        lines.append(line)
    checkable = [i for i, item in enumerate(items) if item is not None]
    rows, problems = validate(kind, [items[i] for i in checkable]) if checkable else ([], [])
    for p in problems:  # validate's indexes are positions in `checkable`
        position = checkable[p["index"]]
        field = p.get("field")
        if field and p["message"] == "is required" and any(
                m.startswith(f"{field}: ") for m in found.get(position, [])):
            continue  # the cell was there but could not be read: already said why
        found.setdefault(position, []).append(f"{field}: {p['message']}" if field else p["message"])
    if kind == "contacts":
        _unknown_accounts(items, found)
    rows = [r for r in rows if checkable[r["_index"]] not in found]
    created, updated = (store(kind, rows, now or utcnow(), source="import", actor=filename)
                        if rows else (0, 0))
    if list_id and rows:  # in this chunk's transaction, with its rows
        _add_to_list(list_id, filename, [r["external_id"] for r in rows], now or utcnow())
    errors = sorted(({"line": lines[i], "message": "; ".join(msgs), "problems": msgs}
                     for i, msgs in found.items()), key=lambda e: e["line"])
    after = Progress(progress.processed + len(chunk), progress.created + created,
                     progress.updated + updated, progress.failed + len(errors),
                     progress.errors + errors[:max(0, MAX_STORED_ERRORS - len(progress.errors))])
    values = {"processed_rows": after.processed, "created_rows": after.created,
              "updated_rows": after.updated, "failed_rows": after.failed}
    if len(after.errors) != len(progress.errors):
        values["errors"] = after.errors
    # The rows and the progress that counts them commit together (run_import commits).
    db.session.execute(update(ImportJob).where(ImportJob.id == import_id).values(**values))
    progress.__dict__.update(after.__dict__)


def _add_to_list(list_id: int, filename: str, external_ids: list, now: datetime) -> None:
    """Put the chunk's stored contacts in the import's list (source "import", the file
    as the actor). A list deleted meanwhile gets nobody; the contacts still import."""
    from engine.contacts.ingest import lookup_by_external_id
    from engine.contacts.lists import ListNotFound, add_members

    ids = [found[0] for found in lookup_by_external_id("contacts", set(external_ids), "id").values()]
    try:
        add_members(list_id, ids, source="import", actor=filename, now=now)
    except ListNotFound:
        log.warning("import into list %s: the list no longer exists", list_id)


def _unknown_accounts(items: list, found: dict) -> None:
    """validate() looks accounts up only for rows that are otherwise valid: for the rows that
    already have a problem, say too when their account does not exist (one query)."""
    from engine.contacts.ingest import lookup_by_external_id

    refs = {i: items[i].get("account_external_id") for i in found if items[i] is not None}
    refs = {i: ref.strip() for i, ref in refs.items() if isinstance(ref, str) and ref.strip()}
    if not refs:
        return
    known = lookup_by_external_id("accounts", set(refs.values()), "id")
    for i, ref in refs.items():
        if ref not in known and not any(m.startswith("account_external_id: ") for m in found[i]):
            found[i].append("account_external_id: unknown account")


# ---- the error file -------------------------------------------------------------

EXTRA_COLUMNS = ERROR_FILE_COLUMNS  # (line, problems)


def error_rows(job: ImportJob):
    """(header, rows) of the error file: for each row not imported, its line number and every
    problem of it, then the row as it was in the file (its original cells, in the file's
    columns; first, so a row with more cells than the header cannot shift them).
    Uploading the fixed file again imports it: the two added columns are left unmapped.
    Rows beyond the stored errors (MAX_STORED_ERRORS) are not in it; the page says so."""
    errors = {e.get("line"): e for e in job.errors or []}
    columns, records = read_records(job.csv_text)
    rows = []
    if errors:
        for line, cells in records:
            error = errors.get(line)
            if error is not None:
                problems = error.get("problems") or [error.get("message") or ""]
                rows.append([line, "; ".join(problems)] + list(cells) + [""] * (len(columns) - len(cells)))
                if len(rows) == len(errors):
                    break
    return list(EXTRA_COLUMNS) + list(columns), rows
