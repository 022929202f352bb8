"""Public tracking endpoints reached from emails: open pixel, click redirect, unsubscribe.

No login and no CSRF token: the signed token in the URL is the proof. Views
only check the token, call engine.tracking and commit; nothing here trusts a URL.
"""
import base64
import logging

from flask import Response, redirect, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.urls import iri_to_uri

from engine import tracking
from extensions import csrf, db
from models import OutboxMessage
from models.base import utcnow
from blueprints.tracking import bp

csrf.exempt(bp)
log = logging.getLogger(__name__)

# The smallest transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
    "Expires": "0",
}


@bp.route("/t/o/<token>.gif")
def open_pixel(token):
    """Always the GIF (a broken image helps nobody); only valid tokens are recorded."""
    message_id = tracking.read_open_token(token)
    # HEAD comes from link scanners and proxies, not from a person opening the email.
    if message_id is not None and request.method == "GET":
        try:
            tracking.record_open(message_id, utcnow())
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("could not record open of message %s", message_id)
    return Response(PIXEL, mimetype="image/gif", headers=NO_CACHE)


@bp.route("/t/c/<token>")
def click(token):
    target = tracking.read_click_token(token)
    if target is None:
        return _invalid(404)
    message_id, link_index = target
    url = None
    if request.method == "GET":  # HEAD is a link scanner, not a click
        try:
            url = tracking.record_click(message_id, link_index, utcnow())
            db.session.commit()
        except SQLAlchemyError:
            # Failing to count a click must not strand the person who clicked.
            db.session.rollback()
            log.exception("could not record click on message %s", message_id)
            url = _link(message_id, link_index)
    else:
        url = _link(message_id, link_index)
    if url is None:
        return _invalid(404)
    response = redirect(iri_to_uri(url), 302)
    response.headers.update(NO_CACHE)
    return response


def _link(message_id, link_index):
    message = db.session.get(OutboxMessage, message_id)
    return tracking.original_link(message, link_index) if message else None


def _invalid(status):
    return render_template("tracking/invalid.html"), status


@bp.get("/u/<token>")
def unsubscribe_confirm(token):
    """A confirmation page: GET never unsubscribes (mail scanners follow links)."""
    message_id = tracking.read_unsubscribe_token(token)
    who = tracking.recipient(message_id) if message_id is not None else None
    if who is None:
        return _invalid(404)
    if who["unsubscribed_at"] is not None:
        return render_template("tracking/unsubscribed.html", who=who, already=True)
    return render_template("tracking/unsubscribe.html", who=who, token=token)


@bp.post("/u/<token>")
def unsubscribe(token):
    """The button on the confirmation page and RFC 8058 one-click
    ("List-Unsubscribe=One-Click") both land here; idempotent."""
    message_id = tracking.read_unsubscribe_token(token)
    if message_id is None:
        return _invalid(400)
    who = tracking.recipient(message_id)
    if who is None:
        return _invalid(404)
    changed = tracking.unsubscribe(message_id, utcnow())
    db.session.commit()
    return render_template("tracking/unsubscribed.html", who=who, already=not changed)
