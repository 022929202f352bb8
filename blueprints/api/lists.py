"""Lists API (DESIGN.md "Lists and the change feed"): GET|POST /api/v1/lists and
POST|DELETE /api/v1/lists/<id>/members with {"contact_external_ids": [...]}.

A members batch is atomic like an ingest batch: every external id must name a
contact, or 422 with the ingest API's error shape and nothing changes. The change
rows name the API key as their actor."""
from flask import current_app, g, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from blueprints.api.outbox import iso_utc
from blueprints.api.routes import api_error, bp, json_body, require_api_key
from engine.contacts import lists as engine
from extensions import db
from models import ContactList
from models.base import utcnow


def list_to_json(contact_list: ContactList, members: int) -> dict:
    return {"id": contact_list.id, "name": contact_list.name, "members": members,
            "created_at": iso_utc(contact_list.created_at)}


def _unknown_list(list_id):
    return api_error(404, f"no list with id {list_id}")


@bp.get("/lists")
@require_api_key
def lists_index():
    rows = db.session.scalars(select(ContactList).order_by(func.lower(ContactList.name), ContactList.id)).all()
    counts = engine.member_counts([r.id for r in rows])
    return jsonify({"lists": [list_to_json(r, counts[r.id]) for r in rows]})


@bp.post("/lists")
@require_api_key
def lists_create():
    body = json_body()
    if body is None:
        return api_error(400, 'expected a JSON object like {"name": "Webinar — March"}')
    try:
        made = engine.create_list(body.get("name"), actor=f"api: {g.api_key.name}", now=utcnow())
        db.session.commit()
    except engine.ListError as exc:
        db.session.rollback()
        return jsonify({"errors": [{"field": exc.field, "message": exc.message}]}), 422
    except IntegrityError:  # the same name created a moment ago
        db.session.rollback()
        return jsonify({"errors": [{"field": "name", "message": engine.NAME_TAKEN}]}), 422
    return jsonify(list_to_json(made, 0)), 201


def _members_endpoint(list_id: int, change):
    if db.session.get(ContactList, list_id) is None:
        return _unknown_list(list_id)
    body = json_body()
    items = body.get("contact_external_ids") if body is not None else None
    if not isinstance(items, list):
        return api_error(400, 'expected a JSON object like {"contact_external_ids": ["u-1", ...]}')
    limit = current_app.config.get("API_MAX_BATCH", 10_000)
    if len(items) > limit:
        return api_error(413, f"at most {limit} contact_external_ids per request; split the batch")
    ids, errors = engine.contact_ids_for_external_ids(items)
    if errors:
        return jsonify({"errors": errors}), 422
    for attempt in (1, 2):
        try:
            count = change(list_id, ids, source="api", actor=g.api_key.name, now=utcnow())
            db.session.commit()  # the members and their change rows: all of the batch or nothing
            return count
        except engine.ListNotFound:  # deleted since the check above
            db.session.rollback()
            return _unknown_list(list_id)
        except IntegrityError:
            # A concurrent batch added one of these contacts first: once more, and it is a no-op.
            db.session.rollback()
            if attempt == 2:
                raise


@bp.post("/lists/<int:list_id>/members")
@require_api_key
def lists_add_members(list_id):
    result = _members_endpoint(list_id, engine.add_members)
    return jsonify({"added": result}) if isinstance(result, int) else result


@bp.delete("/lists/<int:list_id>/members")
@require_api_key
def lists_remove_members(list_id):
    result = _members_endpoint(list_id, engine.remove_members)
    return jsonify({"removed": result}) if isinstance(result, int) else result
