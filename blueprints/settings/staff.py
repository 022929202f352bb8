"""Settings -> Staff (admins only): list, add a login, change a role, sign someone out
everywhere, remove.

There is always at least one admin: the last one can be neither demoted nor removed."""
from datetime import timedelta

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from blueprints.auth.decorators import role_required
from blueprints.settings.forms import ConfirmForm, RoleForm, StaffForm
from blueprints.settings import bp
from blueprints.ui import render_page
from engine.staff import reset as staff_reset
from engine.staff import sessions
from extensions import db
from models import Staff
from models.base import utcnow

LAST_ADMIN = "{} is the only admin. Make someone else an admin first, so Nudge always has one."


def _admin_count() -> int:
    return db.session.scalar(select(func.count(Staff.id)).where(Staff.role == "admin"))


def _page(form, status=200, reset_link=None):
    members = db.session.scalars(select(Staff).order_by(Staff.role != "admin", Staff.email)).all()
    return render_page("settings/staff.html", members=members, form=form, role_form=RoleForm,
                       confirm=ConfirmForm(), admins=_admin_count(), reset_link=reset_link), status


@bp.route("/staff")
@role_required("admin")
def staff():
    return _page(StaffForm())


@bp.route("/staff", methods=["POST"])
@role_required("admin")
def add_staff():
    form = StaffForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    email = form.email.data.strip().lower()
    if db.session.scalar(select(Staff.id).where(func.lower(Staff.email) == email)):
        form.email.errors.append("Someone with this email already has a login.")
        return _page(form, status=400)
    member = Staff(email=email, name=(form.name.data or "").strip() or None, role=form.role.data)
    member.set_password(form.password.data)
    db.session.add(member)
    db.session.commit()
    flash(f"{member.email} can now sign in as {member.role}.", "success")
    return redirect(url_for("settings.staff"))


@bp.route("/staff/<int:staff_id>/role", methods=["POST"])
@role_required("admin")
def change_role(staff_id):
    member = db.session.get(Staff, staff_id) or abort(404)
    form = RoleForm(prefix=f"m{member.id}-")  # one role form per row, as on the page
    if not form.validate_on_submit():
        flash("Choose one of the listed roles.", "error")
        return redirect(url_for("settings.staff"))
    new_role = form.role.data
    if member.role == "admin" and new_role != "admin" and _admin_count() <= 1:
        flash(LAST_ADMIN.format(member.email), "error")
        return redirect(url_for("settings.staff"))
    if new_role == member.role:
        flash(f"{member.email} is already {new_role}.", "info")
        return redirect(url_for("settings.staff"))
    sessions.set_role(member, new_role)  # sessions opened under the old role end
    db.session.commit()
    if member.id == current_user.id:
        _keep_this_browser_signed_in(member)
        flash(f"You are now {new_role}. Your other devices were signed out.", "success")
    else:
        flash(f"{member.email} is now {new_role}, and was signed out everywhere.", "success")
    if member.id == current_user.id and new_role != "admin":
        return redirect(url_for("settings.index"))  # you just gave up this page
    return redirect(url_for("settings.staff"))


def _confirmed_member(staff_id) -> Staff:
    """The member a confirmed per-row action (sign out, reset link, remove) is for:
    404 when there is no such login, 400 without the form's CSRF token."""
    member = db.session.get(Staff, staff_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return member


@bp.route("/staff/<int:staff_id>/sign-out", methods=["POST"])
@role_required("admin")
def sign_out_staff(staff_id):
    """End every session and remember cookie of this member, on every device."""
    member = _confirmed_member(staff_id)
    sessions.revoke_sessions(member)
    db.session.commit()
    if member.id == current_user.id:
        logout_user()
        flash("You are signed out on every device. Sign in again to continue here.", "info")
        return redirect(url_for("auth.login"))
    flash(f"{member.email} is signed out on every device.", "success")
    return redirect(url_for("settings.staff"))


@bp.route("/staff/<int:staff_id>/reset-link", methods=["POST"])
@role_required("admin")
def create_reset_link(staff_id):
    """A one-time, expiring link that lets this member set a new password (nothing stored:
    the signed token is bound to the current password hash, so it stops working once used)."""
    member = _confirmed_member(staff_id)
    if member.id == current_user.id:
        flash("Change your own password on your account page.", "info")
        return redirect(url_for("auth.account"))
    hours = current_app.config["PASSWORD_RESET_HOURS"]
    link = staff_reset.make_link(member, utcnow(), secret_key=current_app.config["SECRET_KEY"],
                                 max_age=timedelta(hours=hours))
    # Shown in this response only, like a new API key: share it privately.
    return _page(StaffForm(formdata=None), reset_link={
        "member": member, "url": url_for("auth.reset_password", token=link.token, _external=True),
        "expires_at": link.expires_at, "hours": hours})


def _keep_this_browser_signed_in(me: Staff) -> None:
    """After revoking your own sessions for a change you made: this browser continues
    under the new session version (remembered again if it was)."""
    login_user(me, remember=current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies)


@bp.route("/staff/<int:staff_id>/remove", methods=["POST"])
@role_required("admin")
def remove_staff(staff_id):
    member = _confirmed_member(staff_id)
    if member.id == current_user.id:
        flash("You cannot remove your own login. Ask another admin.", "error")
        return redirect(url_for("settings.staff"))
    if member.role == "admin" and _admin_count() <= 1:
        flash(LAST_ADMIN.format(member.email), "error")
        return redirect(url_for("settings.staff"))
    _detach(member.id)
    db.session.delete(member)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash(f"{member.email} is still referenced by records that need it; change the role to viewer instead.",
              "error")
        return redirect(url_for("settings.staff"))
    flash(f"{member.email} can no longer sign in.", "success")
    return redirect(url_for("settings.staff"))


def _detach(staff_id: int) -> None:
    """Clear every nullable reference to this login (who created a key, approved a
    message, ...) so the rows it touched stay; the history keeps the action, not the name."""
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "staff" and fk.parent.nullable:
                db.session.execute(update(table).where(fk.parent == staff_id).values({fk.parent.name: None}))
