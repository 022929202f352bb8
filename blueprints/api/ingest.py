"""POST /api/v1/accounts|contacts|events: atomic batch upserts (DESIGN.md "Public contracts")."""
from flask import current_app, g, jsonify
from sqlalchemy.exc import IntegrityError

from blueprints.api.routes import api_error, bp, json_body, require_api_key
from engine.contacts.ingest import IngestError, ingest
from extensions import db
from models.base import utcnow


def _ingest_endpoint(kind: str):
    body = json_body()
    if body is None:
        return api_error(400, f'expected a JSON object like {{"{kind}": [...]}}')
    items = body.get(kind)
    if not isinstance(items, list):
        return api_error(400, f'"{kind}" must be a list of objects')
    limit = current_app.config.get("API_MAX_BATCH", 10_000)
    if len(items) > limit:
        return api_error(413, f"at most {limit} {kind} per request; split the batch")
    touched: set[int] = set()
    now = utcnow()
    for attempt in (1, 2):
        try:
            # The change feed says which key made a contact change (by its name).
            result = ingest(kind, items, now, touched_contacts=touched, source="api",
                            actor=g.api_key.name)
            db.session.commit()  # the batch is one transaction: all of it or nothing
            break
        except IngestError as exc:
            db.session.rollback()
            return jsonify({"errors": exc.errors}), 422
        except IntegrityError:
            # A concurrent batch inserted one of these external ids first: once
            # more, and those rows become updates.
            db.session.rollback()
            if attempt == 2:
                raise
    if touched:
        _refresh_personas(sorted(touched))
    return jsonify(result), 200


def _refresh_personas(contact_ids: list[int]) -> None:
    # Persona membership depends on events; the refresh is queued after the
    # commit so a slow or unavailable Redis never loses the stored events.
    from engine.personas import ring_refresh_for_contacts

    try:
        ring_refresh_for_contacts(contact_ids)
    except Exception:  # Redis is only a doorbell: the tick refreshes personas anyway
        current_app.logger.exception("could not queue persona refresh")


@bp.post("/accounts")
@require_api_key
def ingest_accounts():
    return _ingest_endpoint("accounts")


@bp.post("/contacts")
@require_api_key
def ingest_contacts():
    return _ingest_endpoint("contacts")


@bp.post("/events")
@require_api_key
def ingest_events():
    return _ingest_endpoint("events")
