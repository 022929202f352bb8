"""Lists: hand-kept sets of contacts (engine/contacts/lists.py). Everyone signed in may
look; managers and admins (EDITORS, as for personas and triggers) create, rename,
delete and change members. Every change is recorded with source "staff" and the
staff member's email as its actor."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from blueprints.accounts.queries import _contains
from blueprints.auth.decorators import EDITORS, role_required
from blueprints.lists import bp
from blueprints.lists import panels  # noqa: F401  (registers the contact page's Lists section)
from blueprints.lists.forms import AddMembersForm, ListNameForm
from blueprints.ui import page_args, paginate
from engine.contacts import lists as engine
from extensions import db
from models import Account, Contact, ContactChange, ContactList, ListMember
from models.base import utcnow

TABS = ("members", "history")
# Lines the "Add people" box takes at once; the API takes batches of 10,000.
MAX_ADD_LINES = 1000


def can_edit() -> bool:
    return current_user.is_authenticated and current_user.role in EDITORS


def _list_or_404(list_id: int) -> ContactList:
    return db.session.get(ContactList, list_id) or abort(404)


def _search_text() -> str:
    return " ".join(request.args.get("q", "").split())[:200]


@bp.get("/")
def index():
    return _index_page(ListNameForm(formdata=None))


def _index_page(form: ListNameForm, status: int = 200):
    rows = db.session.scalars(select(ContactList).order_by(func.lower(ContactList.name), ContactList.id)).all()
    ids = [r.id for r in rows]
    return render_template("lists/index.html", lists=rows, counts=engine.member_counts(ids),
                           usage=engine.list_usage(ids), form=form, can_edit=can_edit()), status


@bp.post("/")
@role_required(*EDITORS)
def create():
    form = ListNameForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        made = engine.create_list(form.name.data, actor=current_user.email, now=utcnow())
        db.session.commit()
    except engine.ListError as exc:
        db.session.rollback()
        form.name.errors = [exc.message]
        return _index_page(form, 422)
    except IntegrityError:  # the same name created a moment ago
        db.session.rollback()
        form.name.errors = [engine.NAME_TAKEN]
        return _index_page(form, 422)
    flash(f"List “{made.name}” created. Add people to it below or from a contact's page.", "success")
    return redirect(url_for("lists.detail", list_id=made.id), 303)


@bp.get("/<int:list_id>")
def detail(list_id):
    contact_list = _list_or_404(list_id)
    tab = request.args.get("tab", "members")
    if tab not in TABS:
        tab = "members"
    ctx = _tab_context(contact_list, tab)
    if request.htmx and request.htmx.target == "list-tabs" and not request.htmx.history_restore_request:
        return render_template("lists/_tabs.html", **ctx)
    return _detail_page(contact_list, ctx)


def _detail_page(contact_list, ctx, *, rename_form=None, add_form=None, add_errors=(), status=200):
    usage = engine.list_usage([contact_list.id])[contact_list.id]
    return render_template(
        "lists/detail.html", usage=usage, can_edit=can_edit(),
        member_count=engine.member_counts([contact_list.id])[contact_list.id],
        rename_form=rename_form or ListNameForm(formdata=None, data={"name": contact_list.name}),
        add_form=add_form or AddMembersForm(formdata=None), add_errors=add_errors, **ctx), status


def _tab_context(contact_list: ContactList, tab: str) -> dict:
    page, per_page = page_args(25)
    ctx = {"list": contact_list, "tab": tab, "q": ""}
    if tab == "history":
        stmt = (select(ContactChange, Contact).join(Contact, Contact.id == ContactChange.contact_id)
                .where(ContactChange.list_id == contact_list.id,
                       ContactChange.kind.in_(("list_added", "list_removed")))
                .order_by(ContactChange.id.desc()))
        ctx["pagination"] = paginate(stmt, page, per_page)
        ctx["rows"] = db.session.execute(stmt.limit(per_page).offset(
            (ctx["pagination"].page - 1) * per_page)).all()
        return ctx
    q = _search_text()
    stmt = (select(ListMember).join(Contact, Contact.id == ListMember.contact_id)
            .where(ListMember.list_id == contact_list.id)
            .order_by(ListMember.added_at.desc(), Contact.id))
    for word in q.split():  # as the contacts page: each word matches a name, the email or the external id
        stmt = stmt.where(or_(*(_contains(col, word) for col in (
            Contact.first_name, Contact.last_name, Contact.email, Contact.external_id))))
    pagination = paginate(stmt, page, per_page)
    ids = [m.contact_id for m in pagination.items]
    found = {c.id: (c, a) for c, a in db.session.execute(
        select(Contact, Account).join(Account, Account.id == Contact.account_id)
        .where(Contact.id.in_(ids)))} if ids else {}
    ctx.update(q=q, pagination=pagination,
               rows=[(*found[m.contact_id], m.added_at) for m in pagination.items if m.contact_id in found])
    return ctx


@bp.post("/<int:list_id>/rename")
@role_required(*EDITORS)
def rename(list_id):
    contact_list = _list_or_404(list_id)
    form = ListNameForm()
    if not form.validate_on_submit():
        abort(400)
    old = contact_list.name
    try:
        engine.rename_list(list_id, form.name.data)
        db.session.commit()
    except (engine.ListError, IntegrityError) as exc:
        db.session.rollback()
        form.name.errors = [exc.message if isinstance(exc, engine.ListError) else engine.NAME_TAKEN]
        contact_list = _list_or_404(list_id)
        return _detail_page(contact_list, _tab_context(contact_list, "members"), rename_form=form, status=422)
    if old != contact_list.name:
        flash(f"“{old}” is now called “{contact_list.name}”.", "success")
    return redirect(url_for("lists.detail", list_id=list_id), 303)


@bp.post("/<int:list_id>/delete")
@role_required(*EDITORS)
def remove(list_id):
    _list_or_404(list_id)
    if not ListNameForm().validate_on_submit():  # the CSRF token; the name field is not used
        abort(400)
    try:
        name = engine.delete_list(list_id)
        db.session.commit()
    except engine.ListInUse as exc:
        db.session.rollback()
        flash(f"Not deleted: {exc.message}", "error")
        return redirect(url_for("lists.detail", list_id=list_id), 303)
    flash(f"List “{name}” deleted, with its members and its history.", "success")
    return redirect(url_for("lists.index"), 303)


@bp.post("/<int:list_id>/members")
@role_required(*EDITORS)
def add_members(list_id):
    contact_list = _list_or_404(list_id)
    form = AddMembersForm()
    if not form.validate_on_submit():
        abort(400)
    lines = [line for line in (form.people.data or "").splitlines() if line.strip()]
    errors = []
    if not lines:
        form.people.errors = ["Enter at least one email or external id."]
    elif len(lines) > MAX_ADD_LINES:
        form.people.errors = [f"At most {MAX_ADD_LINES:,} people at once here (this has {len(lines):,}); "
                              "use a CSV import or the API for more."]
    else:
        ids, errors = engine.contact_ids_for_references(lines)
        if errors:
            form.people.errors = [f"{len(errors)} of the {len(lines)} lines name no single contact, "
                                  "so nobody was added. Fix or remove them and add again."]
    if form.people.errors:
        return _detail_page(contact_list, _tab_context(contact_list, "members"), add_form=form,
                            add_errors=errors, status=422)
    added = engine.add_members(list_id, ids, source="staff", actor=current_user.email, now=utcnow())
    db.session.commit()
    already = len(ids) - added
    note = f" ({already:,} already in it)" if already else ""
    flash(f"Added {added:,} {'person' if added == 1 else 'people'} to “{contact_list.name}”{note}.", "success")
    return redirect(url_for("lists.detail", list_id=list_id), 303)


@bp.post("/<int:list_id>/members/<int:contact_id>/remove")
@role_required(*EDITORS)
def remove_member(list_id, contact_id):
    contact_list = _list_or_404(list_id)
    contact = db.session.get(Contact, contact_id) or abort(404)
    if not AddMembersForm().validate_on_submit():  # the CSRF token
        abort(400)
    removed = engine.remove_members(list_id, [contact_id], source="staff", actor=current_user.email, now=utcnow())
    db.session.commit()
    if removed:
        flash(f"Removed {contact.full_name} from “{contact_list.name}”.", "success")
    back = request.form.get("back", "")
    if back == "contact":
        return redirect(url_for("accounts.contact_detail", contact_id=contact_id), 303)
    return redirect(url_for("lists.detail", list_id=list_id, q=request.form.get("q") or None,
                            page=request.form.get("page", type=int) or None), 303)
