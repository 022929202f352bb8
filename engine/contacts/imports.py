"""CSV import of accounts and contacts: run an ImportJob in chunks through the
same validate/store as the ingest API (engine.contacts.ingest), recording progress and
per-row errors. Reading and mapping the file lives in engine.contacts.csv_import."""
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from engine.contacts.csv_import import (FIELDS, KINDS, MAX_BYTES, ImportFileError, RowConverter,  # noqa: F401
                               attribute_key, auto_mapping, check_mapping, decode_upload,
                               inspect_file, read_records)
from extensions import db
from models import ImportJob
from models.base import utcnow

log = logging.getLogger(__name__)
# The views use this module as the one entry point for imports.
__all__ = ["FIELDS", "KINDS", "MAX_BYTES", "ImportFileError", "RowConverter", "attribute_key", "auto_mapping",
           "check_mapping", "decode_upload", "inspect_file", "read_records", "run_import"]

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
    # Counters live here and are written with one UPDATE per chunk, so the
    # (up to 20 MB) file text is read once, not reloaded after every commit.
    progress = Progress(job.processed_rows, job.created_rows, job.updated_rows, job.failed_rows,
                        list(job.errors or []))
    try:
        converter, chunks = _chunks(kind, text, mapping, progress.processed)
        for chunk in chunks:
            for attempt in (1, 2):
                try:
                    _process_chunk(import_id, kind, converter, chunk, progress, now)
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
                   progress: Progress, now: datetime | None) -> None:
    from engine.contacts.ingest import store, validate

    errors, items, lines = [], [], []
    for line, cells in chunk:
        item, problems = converter.convert(cells)
        if problems:
            errors.append({"line": line, "message": "; ".join(problems)})
        else:
            items.append(item)
            lines.append(line)
    # validate() returns only the valid rows (with "_index"): those are stored,
    # the others listed. Same checks and upsert as the ingest API.
    rows, problems = validate(kind, items) if items else ([], [])
    created, updated = store(kind, rows, now or utcnow()) if rows else (0, 0)
    bad = {}
    for p in problems:
        field = p.get("field")
        bad.setdefault(p["index"], []).append(f"{field}: {p['message']}" if field else p["message"])
    errors.extend({"line": lines[i], "message": "; ".join(msgs)} for i, msgs in bad.items())
    errors.sort(key=lambda e: e["line"])
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
