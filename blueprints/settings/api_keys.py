"""Settings -> API keys (admins only): create (shown once), list, revoke."""
from flask import abort, flash, redirect, url_for
from flask_login import current_user
from sqlalchemy import select

from blueprints.auth.decorators import role_required
from blueprints.settings.forms import ApiKeyForm, ConfirmForm
from blueprints.settings import bp
from blueprints.ui import render_page
from extensions import db
from models import ApiKey
from models.base import utcnow


def _page(form, new_key=None, status=200):
    keys = db.session.scalars(
        select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    ).all()
    return render_page("settings/api_keys.html", keys=keys, form=form, new_key=new_key,
                       confirm=ConfirmForm()), status


@bp.route("/api-keys")
@role_required("admin")
def api_keys():
    return _page(ApiKeyForm())


@bp.route("/api-keys", methods=["POST"])
@role_required("admin")
def create_api_key():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    key, raw = ApiKey.generate(form.name.data.strip(), created_by_id=current_user.id)
    db.session.add(key)
    db.session.commit()
    # Rendered in this response only: the raw key is never stored or put in a cookie.
    return _page(ApiKeyForm(formdata=None), new_key={"key": key, "raw": raw}, status=201)


@bp.route("/api-keys/<int:key_id>/revoke", methods=["POST"])
@role_required("admin")
def revoke_api_key(key_id):
    key = db.session.get(ApiKey, key_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
        flash(f"Key “{key.name}” ({key.prefix}…) is revoked; requests using it now get 401.", "success")
    return redirect(url_for("settings.api_keys"))
