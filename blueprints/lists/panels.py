"""The contact page's "Lists" section (blueprints/accounts/panels.py): the lists the
contact is in, an "Add to list" picker and a remove button per list (editors only).
The buttons post here with htmx and get the refreshed section back; without
JavaScript they post normally and land back on the contact page."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response
from markupsafe import Markup
from sqlalchemy import func, select

from blueprints.accounts.panels import CONTACT_SECTIONS, contact_section
from blueprints.auth.decorators import EDITORS, role_required
from blueprints.lists import bp
from blueprints.lists.forms import ContactListForm
from engine.contacts import lists as engine
from extensions import db
from models import Contact, ContactList
from models.base import utcnow


@contact_section("lists", "Lists", "lists/_contact_lists.html", order=20)
def contact_lists_section(contact, args):
    memberships = engine.contact_lists(contact.id)
    member_of = {lst.id for lst, _at in memberships}
    editor = current_user.is_authenticated and current_user.role in EDITORS
    others = [lst for lst in db.session.scalars(
        select(ContactList).order_by(func.lower(ContactList.name), ContactList.id)) if lst.id not in member_of] \
        if editor else []
    n = len(memberships)
    return {"memberships": memberships, "other_lists": others, "can_edit_lists": editor,
            "list_form": ContactListForm(formdata=None),
            "summary": f"in {n} list{'' if n == 1 else 's'}" if n else "in no list"}


def _section(contact, error=None) -> Markup:
    panel = CONTACT_SECTIONS["lists"]
    context = {**panel.load(contact, request.args), "contact": contact, "panel": panel, "now": utcnow(),
               "list_error": error}
    return Markup(render_template("accounts/_contact_section.html", **context))


def _back(contact, message: str, ok: bool = True):
    """htmx: the refreshed section (a toast says what happened; a refusal shows in the
    section, as htmx swaps only 2xx responses). Otherwise back to the contact page."""
    if request.htmx:
        if ok:
            return make_response(_section(contact), 200, trigger={"toast": message})
        return _section(contact, error=message)
    flash(message, "success" if ok else "error")
    return redirect(url_for("accounts.contact_detail", contact_id=contact.id), 303)


@bp.post("/contact/<int:contact_id>/add")
@role_required(*EDITORS)
def add_contact_to_list(contact_id):
    contact = db.session.get(Contact, contact_id) or abort(404)
    form = ContactListForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        list_id = int(form.list_id.data or request.form.get("list_id") or "")
        contact_list = engine.get_list(list_id)
        engine.add_members(list_id, [contact.id], source="staff", actor=current_user.email, now=utcnow())
        db.session.commit()
    except (ValueError, engine.ListNotFound):  # no list chosen, or it was deleted meanwhile
        db.session.rollback()
        return _back(contact, "Choose a list to add them to.", ok=False)
    return _back(contact, f"Added {contact.full_name} to “{contact_list.name}”.")


@bp.post("/contact/<int:contact_id>/remove")
@role_required(*EDITORS)
def remove_contact_from_list(contact_id):
    contact = db.session.get(Contact, contact_id) or abort(404)
    form = ContactListForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        list_id = int(form.list_id.data or "")
        contact_list = engine.get_list(list_id)
        engine.remove_members(list_id, [contact.id], source="staff", actor=current_user.email, now=utcnow())
        db.session.commit()
    except (ValueError, engine.ListNotFound):
        db.session.rollback()
        return _back(contact, "That list no longer exists.", ok=False)
    return _back(contact, f"Removed {contact.full_name} from “{contact_list.name}”.")
