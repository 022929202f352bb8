"""Settings -> Dev inbox (admins only): what the development mail sink received."""
from flask import abort, current_app, flash, redirect, request, url_for
from sqlalchemy import delete, func, select

from blueprints.auth.decorators import role_required
from blueprints.settings.forms import ConfirmForm
from blueprints.settings import bp
from blueprints.ui import page_args, paginate, render_page
from devtools.mail_sink import message_parts
from extensions import db
from models import SinkMessage

VIEWS = ("html", "text", "raw")


def _smtp_target():
    """(host, port) of the real SMTP server when one is configured, else None."""
    host = current_app.config.get("SMTP_HOST")
    return (host, current_app.config.get("SMTP_PORT")) if host else None


@bp.route("/inbox")
@role_required("admin")
def inbox():
    messages = paginate(select(SinkMessage).order_by(SinkMessage.received_at.desc(), SinkMessage.id.desc()),
                        *page_args(25))
    return render_page("settings/inbox.html", "settings/_inbox_list.html", messages=messages,
                       smtp=_smtp_target(), confirm=ConfirmForm(),
                       sink=(current_app.config["MAIL_SINK_HOST"], current_app.config["MAIL_SINK_PORT"]))


@bp.route("/inbox/<int:message_id>")
@role_required("admin")
def inbox_message(message_id):
    message = db.session.get(SinkMessage, message_id) or abort(404)
    parts = message_parts(message.raw)
    view = request.args.get("view")
    if view not in VIEWS:
        view = "html" if parts["html"] is not None else "text" if parts["text"] is not None else "raw"
    newer = db.session.scalar(select(func.min(SinkMessage.id)).where(SinkMessage.id > message.id))
    older = db.session.scalar(select(func.max(SinkMessage.id)).where(SinkMessage.id < message.id))
    return render_page("settings/inbox_message.html", message=message, parts=parts, view=view,
                       newer=newer, older=older, smtp=_smtp_target())


@bp.route("/inbox/clear", methods=["POST"])
@role_required("admin")
def clear_inbox():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    removed = db.session.execute(delete(SinkMessage)).rowcount
    db.session.commit()
    flash(f"Cleared the dev inbox ({removed} message{'s' if removed != 1 else ''}).", "success")
    return redirect(url_for("settings.inbox"))
