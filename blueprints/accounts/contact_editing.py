"""The contact page's "Edit contact" form (admins and managers): parse -> one engine call
(engine.contacts.editing.update_contact, which also writes the change feed) -> redirect,
or the page again with the errors and nothing stored."""
from flask import abort, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from blueprints.accounts import bp
from blueprints.auth.decorators import EDITORS, role_required
from engine.clock import is_timezone
from engine.contacts.editing import ContactEditError, update_contact
from extensions import db
from models import Contact
from models.base import utcnow


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ContactEditForm(FlaskForm):
    # A missing or wrong CSRF token never gets here: CSRFProtect answers 400 first.
    first_name = StringField("First name", filters=[_strip], validators=[
        Optional(), Length(max=128, message="A first name has at most 128 characters.")])
    last_name = StringField("Last name", filters=[_strip], validators=[
        Optional(), Length(max=128, message="A last name has at most 128 characters.")])
    email = EmailField("Email", filters=[_strip], validators=[
        DataRequired(message="Enter the contact's email address."),
        Length(max=254, message="An email address has at most 254 characters."),
        Email(check_deliverability=False, message="Enter a valid email address, like name@company.com.")])
    role = StringField("Role", filters=[_strip], validators=[
        Optional(), Length(max=64, message="A role has at most 64 characters.")])
    timezone = StringField("Time zone", filters=[_strip])
    is_product_user = BooleanField("Product user")
    is_crm_contact = BooleanField("CRM contact")

    def validate_timezone(self, field):
        field.data = (field.data or "").strip()
        if field.data and not is_timezone(field.data):
            raise ValidationError("Choose a time zone from the list, such as Europe/Berlin; "
                                  "leave it empty when it is not known.")

    def values(self) -> dict:
        text = lambda f: (f.data or "").strip() or None  # noqa: E731
        return {"first_name": text(self.first_name), "last_name": text(self.last_name),
                "email": (self.email.data or "").strip(), "role": text(self.role),
                "timezone": self.timezone.data or None,
                "is_product_user": bool(self.is_product_user.data),
                "is_crm_contact": bool(self.is_crm_contact.data)}


def edit_form_for(contact) -> ContactEditForm:
    """The form filled with the contact's stored values (the page's first view)."""
    return ContactEditForm(formdata=None, obj=contact)


@bp.app_template_global("can_edit_contacts")
def can_edit_contacts() -> bool:
    return current_user.is_authenticated and current_user.role in EDITORS


@bp.app_template_global("contact_edit_form")
def contact_edit_form(contact):
    return edit_form_for(contact)


@bp.route("/contacts/<int:contact_id>/edit", methods=["POST"])
@role_required(*EDITORS)
def edit_contact(contact_id: int):
    from blueprints.accounts.routes import contact_page

    contact = db.session.get(Contact, contact_id) or abort(404)
    form = ContactEditForm()
    now = utcnow()
    if not form.validate_on_submit():
        return contact_page(contact, now, status=422, edit_form=form)
    try:
        changes = update_contact(contact.id, form.values(), actor=current_user.email, now=now)
    except ContactEditError as bad:
        db.session.rollback()
        for key, message in bad.errors.items():
            getattr(form, key).errors.append(message)
        return contact_page(contact, now, status=422, edit_form=form)
    db.session.commit()
    if changes:
        flash(f"Saved {len(changes)} change{'' if len(changes) == 1 else 's'} to {contact.full_name}.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("accounts.contact_detail", contact_id=contact.id) + "#section-changes")
