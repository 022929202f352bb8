"""The contact page's bounce panel (templates/accounts/_contact_bounce.html) and
its staff action "Mark address as fixed" (admins and managers)."""
from flask import abort, flash, redirect, url_for
from flask_login import current_user

from blueprints.accounts import bp
from blueprints.auth.decorators import EDITORS, role_required
from engine.bounces.records import bounce_summary, mark_address_fixed
from extensions import db
from models import Contact
from models.base import utcnow


@bp.app_template_global("contact_bounce_summary")
def contact_bounce_summary(contact_id: int) -> dict:
    """What the panel shows (engine/bounces/records.py bounce_summary), and whether
    the viewer may clear the bounce."""
    return {**bounce_summary(contact_id, utcnow()),
            "can_fix": getattr(current_user, "role", None) in EDITORS}


@bp.post("/contacts/<int:contact_id>/bounce/fixed")
@role_required(*EDITORS)
def bounce_fixed(contact_id: int):
    contact = db.session.get(Contact, contact_id) or abort(404)
    if mark_address_fixed(contact.id, actor=current_user.email, now=utcnow()):
        db.session.commit()
        flash(f"{contact.email} is marked as working again; Nudge emails it from the next run.",
              "success")
    else:
        flash(f"{contact.email} was not marked as bounced.", "info")
    return redirect(url_for("accounts.contact_detail", contact_id=contact.id) + "#bounce")
