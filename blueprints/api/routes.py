"""The JSON API (DESIGN.md "Public contracts"): bearer-key auth, no CSRF, JSON errors
(every HTTP error under /api/ is turned into JSON app-wide: blueprints/api/app_level.py).

Each area adds its endpoints in its own module on this blueprint.
"""
from datetime import timedelta
from functools import wraps

from flask import g, jsonify, request

from blueprints.api import bp
from extensions import csrf, db
from models import ApiKey
from models.base import utcnow

csrf.exempt(bp)


LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_error(status: int, message: str, **extra):
    body = {"error": message}
    body.update(extra)
    return jsonify(body), status


def require_api_key(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        key = ApiKey.find_active(raw.strip()) if scheme.lower() == "bearer" and raw else None
        if key is None:
            resp, status = api_error(401, "missing or invalid API key")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="nudge"'
            return resp, status
        now = utcnow()
        # "Last used" to the minute: not a write (and, on SQLite, the database's
        # write lock) on every call of a busy integration.
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            key.last_used_at = now
            db.session.commit()
        g.api_key = key
        return view(*args, **kwargs)

    return wrapped


def json_body(required_type=dict):
    """The request's JSON body, or None when it is missing or not valid JSON."""
    data = request.get_json(silent=True)
    if not isinstance(data, required_type):
        return None
    return data


@bp.errorhandler(RecursionError)
def _too_deep(_exc):
    # Python's json gives up on bodies nested ~1000 levels deep: that is bad input, not a crash.
    return api_error(400, "the JSON body is nested too deeply")


# Endpoint modules register their routes on `bp` when imported.
from blueprints.api import ingest, lists, outbox, preview, triggers  # noqa: E402,F401
