"""Triggers API: the wizard's fields and validation as JSON (DESIGN.md "Public contracts"),
so teams can keep triggers in version control.

PUT merges: fields left out of the body keep their current value. An active
trigger must stay activatable, so PUT on it is validated as for activation.
once_per_24h left out takes its kind's default (on for the change-feed kinds)
on POST, and on a PUT that changes the kind.
"""
from flask import jsonify, request
from sqlalchemy import select

from blueprints.api.routes import api_error, bp, require_api_key
from engine import triggers as engine
from engine.reports.fold import fold_for_reading
from extensions import db
from models import Trigger
from models.base import utcnow
from models.trigger import STATUSES


def _find(trigger_id: int):
    return db.session.get(Trigger, trigger_id)


def _not_found(trigger_id: int):
    return api_error(404, f"no trigger with id {trigger_id}")


def _body():
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


def _invalid(errors):
    db.session.rollback()
    return jsonify({"errors": errors}), 422


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


@bp.get("/triggers")
@require_api_key
def triggers_list():
    status = request.args.get("status", "")
    query = select(Trigger).order_by(Trigger.id)
    if status:
        if status not in STATUSES:
            return api_error(400, "status must be one of: " + ", ".join(STATUSES))
        query = query.where(Trigger.status == status)
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()
    rows = db.session.scalars(query).all()
    stats = engine.trigger_stats([t.id for t in rows], now)
    return jsonify({"triggers": [engine.trigger_to_json(t, now, stats[t.id]) for t in rows]})


@bp.post("/triggers")
@require_api_key
def triggers_create():
    body = _body()
    if body is None:
        return api_error(400, "expected a JSON object with the trigger's fields")
    clean, errors = engine.validate_trigger({**engine.DEFAULTS, **engine.kind_defaults(body), **body})
    if errors:
        return _invalid(errors)
    trigger = Trigger(status="draft")
    engine.apply_trigger(trigger, clean)
    db.session.add(trigger)
    db.session.commit()
    return jsonify(engine.trigger_to_json(trigger, utcnow())), 201


@bp.get("/triggers/<int:trigger_id>")
@require_api_key
def triggers_get(trigger_id):
    fold_for_reading(utcnow())
    db.session.commit()
    trigger = _find(trigger_id)
    if trigger is None:
        return _not_found(trigger_id)
    return jsonify(engine.trigger_to_json(trigger, utcnow()))


@bp.put("/triggers/<int:trigger_id>")
@require_api_key
def triggers_update(trigger_id):
    trigger = _find(trigger_id)
    if trigger is None:
        return _not_found(trigger_id)
    body = _body()
    if body is None:
        return api_error(400, "expected a JSON object with the trigger's fields")
    merged = {**engine.trigger_data(trigger), **body}
    if body.get("kind", trigger.kind) != trigger.kind:
        merged = {**merged, **engine.kind_defaults(body), **body}
    clean, errors = engine.validate_trigger(merged, for_activation=trigger.status == "active")
    if errors:
        return _invalid(errors)
    engine.apply_trigger(trigger, clean)
    db.session.commit()
    return jsonify(engine.trigger_to_json(trigger, utcnow()))


@bp.delete("/triggers/<int:trigger_id>")
@require_api_key
def triggers_delete(trigger_id):
    trigger = _find(trigger_id)
    if trigger is None:
        return _not_found(trigger_id)
    try:
        cancelled = engine.delete_trigger(trigger, utcnow(), cancel_waiting=_flag("cancel_waiting"))
    except engine.TriggerInUse as exc:
        db.session.rollback()
        hint = " Repeat with ?cancel_waiting=true to cancel them." if "waiting" in str(exc) else ""
        return api_error(409, str(exc) + hint, waiting=exc.waiting)
    db.session.commit()
    return jsonify({"deleted": trigger_id, "cancelled": cancelled})


@bp.post("/triggers/<int:trigger_id>/activate")
@require_api_key
def triggers_activate(trigger_id):
    trigger = _find(trigger_id)
    if trigger is None:
        return _not_found(trigger_id)
    errors = engine.activation_errors(trigger)  # field-level form of activation_problems
    if errors:
        return _invalid(errors)
    engine.activate(trigger, utcnow())
    db.session.commit()
    return jsonify(engine.trigger_to_json(trigger, utcnow()))


@bp.post("/triggers/<int:trigger_id>/deactivate")
@require_api_key
def triggers_deactivate(trigger_id):
    trigger = _find(trigger_id)
    if trigger is None:
        return _not_found(trigger_id)
    body = _body() or {}
    # Waiting emails are cancelled, as in the UI, unless the caller keeps them
    # (cancel_pending / cancel_waiting are still accepted: that is the default now).
    keep = _flag("keep_waiting") or body.get("keep_waiting") is True
    cancelled = engine.deactivate(trigger, utcnow(), keep_waiting=keep)
    db.session.commit()
    response = jsonify(engine.trigger_to_json(trigger, utcnow()))
    response.headers["X-Cancelled-Messages"] = str(cancelled)  # the body stays the trigger
    return response
