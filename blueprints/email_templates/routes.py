"""Email templates: saved subject + HTML + text that triggers send. Everyone signed
in may look and preview; managers and admins create, edit, copy and delete."""
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from blueprints.auth.decorators import EDITORS, role_required
from blueprints.email_templates.forms import EmailTemplateForm
from blueprints.ui import render_page
from engine.render import RenderError, TemplateError, build_context, compile_email, variable_catalog
from engine.render.document import as_document
from extensions import db
from models import Account, Contact, EmailTemplate, Trigger
from blueprints.email_templates import bp

# Shown when there are no contacts yet, labelled as sample data in the preview.
SAMPLE_CONTACT = {"external_id": "sample", "email": "jane@example.com", "first_name": "Jane", "last_name": "Doe",
                  "role": "admin", "attributes": {}}
SAMPLE_ACCOUNT = {"external_id": "sample", "name": "Example Inc", "arr": 48000, "plan": "pro",
                  "status": "active", "attributes": {}}


def _can_edit() -> bool:
    return current_user.is_authenticated and current_user.role in EDITORS


def _template_or_404(template_id: int) -> EmailTemplate:
    template = db.session.get(EmailTemplate, template_id)
    if template is None:
        abort(404)
    return template


def _users(template_ids) -> dict[int, list]:
    """{template_id: [(trigger_id, name, status), ...]} in one query."""
    if not template_ids:
        return {}
    rows = db.session.execute(
        select(Trigger.template_id, Trigger.id, Trigger.name, Trigger.status)
        .where(Trigger.template_id.in_(template_ids)).order_by(func.lower(Trigger.name)))
    users: dict[int, list] = {}
    for template_id, *trigger in rows:
        users.setdefault(template_id, []).append(tuple(trigger))
    return users


@bp.app_template_global()
def template_variables() -> list[tuple[str, list[dict]]]:
    """[(group, [variable, ...])] for _variable_picker.html (also used by the trigger wizard)."""
    groups: dict[str, list] = {}
    for variable in variable_catalog(db.session):
        groups.setdefault(variable["group"], []).append(variable)
    return list(groups.items())


@bp.get("/")
def index():
    q = (request.args.get("q") or "").strip()
    sort = request.args.get("sort") if request.args.get("sort") in ("name", "updated") else "name"
    stmt = select(EmailTemplate)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(func.lower(EmailTemplate.name).like(like),
                              func.lower(EmailTemplate.subject).like(like)))
    order = EmailTemplate.updated_at.desc() if sort == "updated" else func.lower(EmailTemplate.name)
    templates = db.session.scalars(stmt.order_by(order).limit(500)).all()
    total = db.session.scalar(select(func.count()).select_from(EmailTemplate))
    return render_page("email_templates/index.html", "email_templates/_list.html", templates=templates,
                       users=_users([t.id for t in templates]), q=q, sort=sort, total=total,
                       can_edit=_can_edit())


@bp.get("/<int:template_id>")
def show(template_id):
    template = _template_or_404(template_id)
    return render_template("email_templates/show.html", template=template,
                       users=_users([template.id]).get(template.id, []), can_edit=_can_edit(),
                       **_preview_context(template.subject, template.html, template.text))


@bp.route("/new", methods=["GET", "POST"])
@role_required(*EDITORS)
def new():
    return _edit(EmailTemplate(), EmailTemplateForm(), is_new=True)


@bp.route("/<int:template_id>/edit", methods=["GET", "POST"])
@role_required(*EDITORS)
def edit(template_id):
    template = _template_or_404(template_id)
    return _edit(template, EmailTemplateForm(obj=template), is_new=False)


def _edit(template: EmailTemplate, form: EmailTemplateForm, *, is_new: bool):
    status = 200
    if request.method == "POST":
        if _save(template, form):
            flash(f"Template “{template.name}” {'created' if is_new else 'saved'}.", "success")
            return redirect(url_for("email_templates.show", template_id=template.id))
        status = 422
    preview = _preview_context(form.subject.data, form.html.data, form.text.data)
    return render_template("email_templates/edit.html", template=template, form=form, is_new=is_new,
                       users=_users([template.id]).get(template.id, []) if template.id else [],
                       **preview), status


def _save(template: EmailTemplate, form: EmailTemplateForm) -> bool:
    """Validate fields and template code; store only when everything is valid."""
    valid = form.validate()
    if form.name.data and db.session.scalar(
            select(EmailTemplate.id).where(func.lower(EmailTemplate.name) == form.name.data.lower(),
                                           EmailTemplate.id != (template.id or 0))):
        form.name.errors = [*form.name.errors, "Another template already has this name."]
        valid = False
    try:
        compile_email(form.subject.data or "", form.html.data or "", form.text.data or "")
    except TemplateError as exc:
        for error in exc.errors:
            field = getattr(form, error["field"])
            if error["field"] == "subject" and field.errors:
                continue  # the form already said what is wrong with the subject
            line = f"Line {error['line']}: " if error.get("line") else ""
            field.errors = [*field.errors, line + error["message"][:1].upper() + error["message"][1:]]
        valid = False
    if not valid:
        return False
    template.name = form.name.data
    template.subject = form.subject.data.strip()
    template.html = form.html.data or ""
    template.text = form.text.data if (form.text.data or "").strip() else ""  # empty: generated from HTML
    db.session.add(template)
    try:
        db.session.commit()
    except IntegrityError:  # the same name saved by someone else a moment ago
        db.session.rollback()
        form.name.errors = [*form.name.errors, "Another template already has this name."]
        return False
    return True


@bp.post("/<int:template_id>/copy")
@role_required(*EDITORS)
def copy(template_id):
    source = _template_or_404(template_id)
    base = f"Copy of {source.name}"[:120]
    taken = set(db.session.scalars(select(func.lower(EmailTemplate.name))
                                   .where(func.lower(EmailTemplate.name).like(f"{base.lower()}%"))))
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base} ({n})", n + 1
    clone = EmailTemplate(name=name, subject=source.subject, html=source.html, text=source.text)
    db.session.add(clone)
    db.session.commit()
    flash(f"Copied “{source.name}”. You are editing the copy.", "success")
    return redirect(url_for("email_templates.edit", template_id=clone.id))


@bp.route("/<int:template_id>/delete", methods=["GET", "POST"])
@role_required(*EDITORS)
def delete(template_id):
    template = _template_or_404(template_id)
    users = _users([template.id]).get(template.id, [])
    if request.method == "POST" and not users:
        name = template.name
        db.session.delete(template)
        try:
            db.session.commit()
        except IntegrityError:  # a trigger picked it up in the meantime
            db.session.rollback()
            users = _users([template.id]).get(template.id, [])
        else:
            flash(f"Template “{name}” deleted.", "success")
            return redirect(url_for("email_templates.index"))
    if request.method == "POST":
        flash(_in_use_message(template, users), "error")
    status = 409 if users and request.method == "POST" else 200
    return render_template("email_templates/delete.html", template=template, users=users, can_edit=True), status


def _in_use_message(template, users) -> str:
    n = len(users)
    return (f"“{template.name}” is used by {n} trigger{'s' if n != 1 else ''}, so it cannot be deleted. "
            "Point those triggers at another template (or delete them) first.")


def _sample(contact_id: int | None):
    """(contact, account, label) for the preview: the chosen contact, else the first one."""
    stmt = select(Contact, Account).join(Account, Account.id == Contact.account_id)
    row = None
    if contact_id and 0 < contact_id < 2**31:  # contact ids are PostgreSQL integers
        row = db.session.execute(stmt.where(Contact.id == contact_id)).first()
    if row is None:
        row = db.session.execute(stmt.order_by(Contact.id).limit(1)).first()
    if row is None:
        return SAMPLE_CONTACT, SAMPLE_ACCOUNT, None
    return row[0], row[1], row[0]


def _preview_context(subject, html, text, contact_id: int | None = None) -> dict:
    """Render the given (unsaved) template for one contact: {"preview": {...}}."""
    contact, account, chosen = _sample(contact_id)
    result = {"contact": chosen, "email": None, "errors": [], "render_error": None, "text_generated": False}
    if (subject or "").strip() or (html or "").strip() or (text or "").strip():
        try:
            compiled = compile_email(subject or "", html or "", text or "")
            result["text_generated"] = compiled.text_is_generated
            # Looks like the real link; the token is not valid, so following it changes nothing.
            unsubscribe = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/u/preview"
            email = compiled.render(build_context(contact, account, unsubscribe_url=unsubscribe))
            result["email"] = email
            result["frame"] = as_document(email.html)  # the document the mailer sends
        except TemplateError as exc:
            result["errors"] = exc.errors
        except RenderError as exc:
            result["render_error"] = str(exc)
    return {"preview": result}


@bp.post("/preview")
def preview():
    """Live preview (htmx): renders the posted, unsaved fields. Changes nothing, so every role may use it."""
    ctx = _preview_context(request.form.get("subject"), request.form.get("html"), request.form.get("text"),
                           request.form.get("sample_contact_id", type=int))
    return render_page("email_templates/_preview.html", **ctx)


@bp.get("/sample-contacts")
def sample_contacts():
    """<option>s for the preview's contact picker: matches by email or name."""
    q = (request.args.get("sample_q") or "").strip().lower()
    stmt = select(Contact.id, Contact.email, Contact.first_name, Contact.last_name, Account.name).join(
        Account, Account.id == Contact.account_id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(func.lower(Contact.email).like(like), func.lower(Contact.first_name).like(like),
                              func.lower(Contact.last_name).like(like)))
    rows = db.session.execute(stmt.order_by(Contact.id).limit(25)).all()
    html = render_page("email_templates/_contact_options.html", rows=rows, q=q,
                       selected=request.args.get("sample_contact_id", type=int))
    return make_response(html, trigger_after_swap="sample-contacts-loaded")  # re-renders the preview
