"""Settings -> Import (managers and admins): upload a CSV, map its columns,
run it as an RQ job and watch its progress."""
import csv
import io
import logging

from flask import Response, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select, update

from blueprints.auth.decorators import EDITORS, role_required
from blueprints.lists.imports import import_list, import_lists, read_list_choice
from blueprints.settings.forms import ConfirmForm, UploadForm
from blueprints.settings import bp
from blueprints.ui import page_args, paginate, render_page
from engine.contacts.imports import (FIELDS, MAX_BYTES, ImportFileError, attribute_key, check_mapping, decode_upload,
                                     error_rows, inspect_file, read_records)
from engine.ports import doorbell
from engine.reports.csv_cells import safe_cell
from extensions import db
from models import ImportJob
from models.base import utcnow

log = logging.getLogger(__name__)


def _job(import_id: int) -> ImportJob:
    return db.session.get(ImportJob, import_id) or abort(404)


def _upload_page(form, error=None, status=200):
    jobs = paginate(select(ImportJob).order_by(ImportJob.id.desc()), *page_args(20))
    return render_page("settings/import_upload.html", form=form, error=error, jobs=jobs, fields=FIELDS,
                       max_mb=MAX_BYTES // (1024 * 1024)), status


@bp.route("/import")
@role_required(*EDITORS)
def imports():
    return _upload_page(UploadForm())


@bp.route("/import", methods=["POST"])
@role_required(*EDITORS)
def upload_import():
    form = UploadForm()
    if not form.validate_on_submit():
        return _upload_page(form, status=400)
    upload = form.file.data
    try:
        text = decode_upload(upload.read(MAX_BYTES + 1))
        info = inspect_file(text, form.kind.data)
    except ImportFileError as exc:
        return _upload_page(form, error=str(exc), status=400)
    job = ImportJob(kind=form.kind.data, filename=(upload.filename or "upload.csv")[-255:], csv_text=text,
                    mapping={**info["mapping"], "attributes": info["attributes"]}, status="draft",
                    total_rows=info["total_rows"], created_by_id=current_user.id)
    db.session.add(job)
    db.session.commit()
    return redirect(url_for("settings.map_import", import_id=job.id))


def _map_page(job, mapping, attributes, problems=(), status=200):
    columns, records = read_records(job.csv_text)
    preview = []
    for _line, cells in records:
        preview.append(cells)
        if len(preview) == 5:
            break
    return render_page("settings/import_map.html", job=job, columns=columns, preview=preview,
                       fields=FIELDS[job.kind], mapping=mapping, attributes=set(attributes),
                       attribute_key=attribute_key, problems=problems, confirm=ConfirmForm(),
                       import_lists=import_lists() if job.kind == "contacts" else []), status


@bp.route("/import/<int:import_id>/map")
@role_required(*EDITORS)
def map_import(import_id):
    job = _job(import_id)
    if job.status != "draft":
        return redirect(url_for("settings.import_job", import_id=job.id))
    mapping = dict(job.mapping or {})
    return _map_page(job, mapping, mapping.pop("attributes", []))


@bp.route("/import/<int:import_id>/map", methods=["POST"])
@role_required(*EDITORS)
def start_import(import_id):
    job = _job(import_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if job.status != "draft":
        return redirect(url_for("settings.import_job", import_id=job.id))
    mapping = {f.name: request.form.get(f"field-{f.name}", "").strip() for f in FIELDS[job.kind]}
    mapping = {k: v for k, v in mapping.items() if v}
    attributes = [c for c in request.form.getlist("attribute") if c not in mapping.values()]
    columns, _records = read_records(job.csv_text)
    problems = check_mapping(job.kind, columns, mapping, attributes)
    list_id = None
    if not problems and job.kind == "contacts":  # "Add the imported contacts to a list"
        list_id, list_problem = read_list_choice(request.form, job.filename, utcnow())
        problems = [list_problem] if list_problem else []
    if problems:
        db.session.rollback()
        return _map_page(job, mapping, attributes, problems, status=400)
    # Conditional: a double click starts one import, not two.
    started = db.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.status == "draft")
        .values(status="pending", mapping={**mapping, "attributes": attributes}, queued_at=utcnow(),
                list_id=list_id)
    ).rowcount
    db.session.commit() if started else db.session.rollback()  # (a new list only with its import)
    if started:
        _enqueue(job.id)
    return redirect(url_for("settings.import_job", import_id=job.id))


def _enqueue(import_id: int) -> bool:
    try:
        doorbell().run_import(import_id)
        return True
    except Exception:  # Redis down: the import waits in the database; "Queue again" retries
        log.exception("could not enqueue import %s", import_id)
        flash("The job queue is not reachable right now. The import is saved; use “Queue again” "
              "once the workers are back.", "error")
        return False


@bp.route("/import/<int:import_id>/discard", methods=["POST"])
@role_required(*EDITORS)
def discard_import(import_id):
    job = _job(import_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if job.status == "draft":
        db.session.delete(job)
        db.session.commit()
        flash(f"Discarded “{job.filename}”; nothing was imported.", "info")
    return redirect(url_for("settings.imports"))


@bp.route("/import/<int:import_id>/requeue", methods=["POST"])
@role_required(*EDITORS)
def requeue_import(import_id):
    job = _job(import_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if job.status == "failed":  # resumes after the rows already processed
        job.status, job.finished_at, job.failure_reason, job.queued_at = "pending", None, None, utcnow()
        db.session.commit()
    elif job.status == "pending":
        job.queued_at = utcnow()
        db.session.commit()
    if job.status == "pending" and _enqueue(job.id):
        flash("The import is queued again.", "info")
    return redirect(url_for("settings.import_job", import_id=job.id))


@bp.route("/import/<int:import_id>")
@role_required(*EDITORS)
def import_job(import_id):
    job = _job(import_id)
    if job.status == "draft":
        return redirect(url_for("settings.map_import", import_id=job.id))
    return render_page("settings/import_job.html", job=job, confirm=ConfirmForm(), now=utcnow(),
                       into_list=import_list(job.list_id))


@bp.route("/import/<int:import_id>/progress")
@role_required(*EDITORS)
def import_progress(import_id):
    """The self-replacing progress partial htmx polls every second until the job ends."""
    return render_page("settings/_import_progress.html", job=_job(import_id), confirm=ConfirmForm(), now=utcnow())


@bp.route("/import/<int:import_id>/errors.csv")
@role_required(*EDITORS)
def import_errors_csv(import_id):
    """Each row not imported as it was in the file, then its line and every problem of it:
    fix the cells and upload the file again."""
    job = _job(import_id)
    try:
        header, rows = error_rows(job)
    except ImportFileError:  # cannot happen for a job that ran; the file was read then
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(c) for c in header])
    writer.writerows([safe_cell(c) for c in row] for row in rows)
    name = f"import-{job.id}-errors.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
