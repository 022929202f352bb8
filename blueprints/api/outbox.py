"""GET /api/v1/outbox: read-only view of outbox messages (DESIGN.md "Public contracts").

Beyond the contract's fields each item has `reason_code` (models.outbox.REASON_LABELS,
null when none applies), and `reason_code=` filters by it. Paging stays a
LIMIT of one row more than a page: db.paginate would either COUNT the whole
outbox per page or (count=False) not know whether a next page exists.
"""
from flask import jsonify, request
from sqlalchemy import select

from blueprints.api.routes import api_error, bp, require_api_key
from extensions import db
from models import Contact, OutboxMessage
from models.outbox import REASON_CODES, STATES

PAGE_SIZE = 100


def iso_utc(value):
    """Naive-UTC datetime -> "2026-01-05T09:00:00Z" (the API's time format)."""
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def _positive_int(name: str, default=None):
    raw = request.args.get(name, "")
    if raw == "":
        return default
    # Ids are PostgreSQL integers; a bigger page would overflow OFFSET on either database.
    if not raw.isdigit() or int(raw) < 1 or int(raw) > 2**31 - 1:
        raise ValueError(f"{name} must be a positive integer")
    return int(raw)


@bp.get("/outbox")
@require_api_key
def outbox_list():
    try:
        trigger_id = _positive_int("trigger_id")
        page = _positive_int("page", 1)
    except ValueError as exc:
        return api_error(400, str(exc))
    state = request.args.get("state", "")
    if state and state not in STATES:
        return api_error(400, "state must be one of: " + ", ".join(STATES))
    reason_code = request.args.get("reason_code", "")
    if reason_code and reason_code not in REASON_CODES:
        return api_error(400, "reason_code must be one of: " + ", ".join(REASON_CODES))
    contact_external_id = request.args.get("contact_external_id", "")

    m = OutboxMessage
    query = (
        select(m.id, m.trigger_id, Contact.external_id, m.state, m.reason_code, m.reason, m.smtp_reply,
               m.last_error, m.created_at, m.approved_at, m.sent_at)
        .join(Contact, Contact.id == m.contact_id)
        .order_by(m.id)
    )
    if trigger_id is not None:
        query = query.where(m.trigger_id == trigger_id)
    if state:
        query = query.where(m.state == state)
    if reason_code:
        query = query.where(m.reason_code == reason_code)
    if contact_external_id:
        query = query.where(Contact.external_id == contact_external_id)
    # One row more than a page tells whether there is a next page without a COUNT.
    rows = db.session.execute(
        query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    items = [{
        "id": r.id,
        "trigger_id": r.trigger_id,
        "contact_external_id": r.external_id,
        "state": r.state,
        "reason": _reason(r),
        "reason_code": r.reason_code,
        "created_at": iso_utc(r.created_at),
        "approved_at": iso_utc(r.approved_at),
        "sent_at": iso_utc(r.sent_at),
    } for r in rows[:PAGE_SIZE]]
    return jsonify({"items": items, "next_page": page + 1 if len(rows) > PAGE_SIZE else None})


def _reason(row):
    # Suppressed: which control held it back; failed: what the SMTP server said.
    if row.state == "failed":
        return row.smtp_reply or row.last_error or row.reason
    return row.reason
