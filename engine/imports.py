"""CSV import of accounts and contacts: run an ImportJob in chunks through the
same validate/store as the ingest API (engine.ingest), recording progress and
per-row errors. Reading and mapping the file lives in engine.import_csv."""
import logging
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from engine.import_csv import (FIELDS, KINDS, MAX_BYTES, ImportFileError, RowConverter,  # noqa: F401
                               attribute_key, auto_mapping, check_mapping, decode_upload,
                               inspect_file, read_records)
from extensions import db
from models import ImportJob
from models.base import utcnow

log = logging.getLogger(__name__)

CHUNK_ROWS = 500
MAX_STORED_ERRORS = 1000  # the page lists these; failed_rows counts all of them


# ---- running a job ----------------------------------------------------------

def run_import(import_id: int, now: datetime | None = None) -> dict:
    """Process an ImportJob; safe if Redis delivers the job twice (only one run claims it)."""
    claimed = db.session.execute(
        update(ImportJob).where(ImportJob.id == import_id, ImportJob.status == "pending")
        .values(status="running", failure_reason=None)
    ).rowcount
    db.session.commit()
    if not claimed:
        return {"skipped": True}
    job = db.session.get(ImportJob, import_id)
    try:
        _process(job, now)
    except Exception as exc:  # the job page must say what happened, not spin forever
        log.exception("import %s failed", import_id)
        db.session.rollback()
        job = db.session.get(ImportJob, import_id)
        job.status, job.finished_at = "failed", utcnow()
        job.failure_reason = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        return {"failed": job.failure_reason}
    return {"processed": job.processed_rows, "created": job.created_rows,
            "updated": job.updated_rows, "failed": job.failed_rows}


def _process(job: ImportJob, now: datetime | None) -> None:
    columns, records = read_records(job.csv_text)
    mapping = {k: v for k, v in (job.mapping or {}).items() if k != "attributes" and v}
    converter = RowConverter(job.kind, columns, mapping, (job.mapping or {}).get("attributes") or [])
    done = job.processed_rows  # a retried job resumes where it stopped
    chunk = []
    for n, record in enumerate(records):
        if n < done:
            continue
        chunk.append(record)
        if len(chunk) >= CHUNK_ROWS:
            _process_chunk(job, converter, chunk, now)
            chunk = []
    if chunk:
        _process_chunk(job, converter, chunk, now)
    job.status, job.finished_at = "done", utcnow()
    db.session.commit()


def _process_chunk(job: ImportJob, converter: RowConverter, chunk: list, now: datetime | None) -> None:
    from engine.ingest import store, validate

    errors, items, lines = [], [], []
    for line, cells in chunk:
        item, problems = converter.convert(cells)
        if problems:
            errors.append({"line": line, "message": "; ".join(problems)})
        else:
            items.append(item)
            lines.append(line)
    created = updated = 0
    for attempt in (1, 2):
        # validate() returns only the valid rows (with "_index"): those are stored,
        # the others listed. Same checks and upsert as the ingest API.
        rows, problems = validate(job.kind, items) if items else ([], [])
        try:
            if rows:
                created, updated = store(job.kind, rows, now or utcnow())
            break
        except IntegrityError:
            # Another writer inserted one of these external ids meanwhile:
            # look again, and the rows become updates.
            db.session.rollback()
            if attempt == 2:
                raise
    bad = {}
    for p in problems:
        field = p.get("field")
        bad.setdefault(p["index"], []).append(f"{field}: {p['message']}" if field else p["message"])
    errors.extend({"line": lines[i], "message": "; ".join(msgs)} for i, msgs in bad.items())
    errors.sort(key=lambda e: e["line"])
    job.processed_rows += len(chunk)
    job.created_rows += created
    job.updated_rows += updated
    job.failed_rows += len(errors)
    room = MAX_STORED_ERRORS - len(job.errors or [])
    if errors and room > 0:
        job.errors = list(job.errors or []) + errors[:room]  # reassign: JSON columns track assignment
    db.session.commit()
