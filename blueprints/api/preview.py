"""POST /api/v1/preview: who a rule matches now -- the same engine call as the
rule builder's live preview (engine.rules.preview)."""
from flask import jsonify

from blueprints.api.routes import api_error, bp, json_body, require_api_key
from engine.rules import RuleError, preview, rule_warnings
from models.base import utcnow


@bp.post("/preview")
@require_api_key
def preview_rule():
    body = json_body()
    if body is None:
        return api_error(400, 'expected a JSON object like {"rule": {...}, "limit": 20}')
    limit = body.get("limit", 20)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
        return api_error(400, '"limit" must be a whole number from 1 to 100')
    if "rule" not in body:
        return jsonify({"errors": [{"path": "", "message": '"rule" is required'}]}), 422
    try:
        result = preview(body["rule"], utcnow(), limit)
    except RuleError as exc:
        return jsonify({"errors": exc.errors}), 422
    result["warnings"] = rule_warnings(body["rule"])
    return jsonify(result), 200
