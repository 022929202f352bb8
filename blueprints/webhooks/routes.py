"""POST /webhooks/<provider>: read the request, let the engine verify and parse
it (no database yet), then record. A refused request is 401 and changes
nothing; events for messages Nudge does not know are logged and answered 200,
so the provider does not retry them forever."""
import logging
import urllib.request

from flask import current_app, jsonify, request

from blueprints.webhooks import bp
from engine.bounces.webhooks import WebhookPayloadError, WebhookRefused, record_events
from engine.bounces.webhooks import mailgun, postmark, sendgrid, ses
from extensions import db
from models.base import utcnow

log = logging.getLogger(__name__)
PROVIDERS = ("ses", "sendgrid", "postmark", "mailgun")
MAX_BODY = 5 * 1024 * 1024
FETCH_TIMEOUT = 10


def fetch_url(url: str) -> bytes:
    """GET an SNS certificate or SubscribeURL (the engine checked the host)."""
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 (https only)
        return response.read(1024 * 1024)


def _fetch():
    # Tests put a function here that serves the certificate they generated.
    return current_app.extensions.get("webhook_fetch") or fetch_url


def verp_secret():
    """The key VERP return paths are signed with (engine/sending/mime.py uses SECRET_KEY)."""
    return current_app.config["SECRET_KEY"]


def _refused(provider: str, exc: Exception):
    log.warning("%s webhook refused: %s", provider, exc)
    return jsonify({"error": "unauthorized", "message": str(exc)}), 401


def _body() -> bytes:
    return request.get_data(cache=False)


def _record(source: str, events, extra=None):
    now = utcnow()
    counts = record_events(source, events, secret=verp_secret(), now=now)
    db.session.commit()
    return jsonify({**counts, **(extra or {})}), 200


@bp.before_request
def _limit_size():
    if (request.content_length or 0) > MAX_BODY:
        return jsonify({"error": "too large"}), 413
    return None


@bp.errorhandler(WebhookPayloadError)
def _bad_payload(exc):
    return jsonify({"error": "bad request", "message": str(exc)}), 400


@bp.route("/ses", methods=["POST"])
def ses_webhook():
    topics = {t.strip() for t in (current_app.config.get("SES_SNS_TOPIC_ARNS") or "").split(",") if t.strip()}
    try:
        batch = ses.verify_and_parse(_body(), topics=topics, fetch=_fetch())
    except WebhookRefused as exc:
        return _refused("ses", exc)
    confirmed = 0
    for url in batch.subscribe_urls:
        try:
            _fetch()(url)
            confirmed += 1
        except Exception as exc:  # SNS sends the confirmation again; say so in the log
            log.warning("ses webhook: confirming the subscription failed: %s", exc)
            return jsonify({"error": "subscription confirmation failed"}), 502
    return _record("ses", batch.events, {"confirmed": confirmed, "ignored": batch.ignored})


@bp.route("/sendgrid", methods=["POST"])
def sendgrid_webhook():
    body = _body()
    try:
        events = sendgrid.verify_and_parse(
            body, signature=request.headers.get(sendgrid.SIGNATURE_HEADER),
            timestamp=request.headers.get(sendgrid.TIMESTAMP_HEADER),
            public_key=current_app.config.get("SENDGRID_WEBHOOK_PUBLIC_KEY") or "", now=utcnow())
    except WebhookRefused as exc:
        return _refused("sendgrid", exc)
    return _record("sendgrid", events)


@bp.route("/postmark", methods=["POST"])
def postmark_webhook():
    try:
        events = postmark.verify_and_parse(
            _body(), authorization=request.headers.get("Authorization"),
            username=current_app.config.get("POSTMARK_WEBHOOK_USERNAME") or "",
            password=current_app.config.get("POSTMARK_WEBHOOK_PASSWORD") or "")
    except WebhookRefused as exc:
        response, status = _refused("postmark", exc)
        response.headers["WWW-Authenticate"] = 'Basic realm="nudge-webhooks"'
        return response, status
    return _record("postmark", events)


@bp.route("/mailgun", methods=["POST"])
def mailgun_webhook():
    try:
        events, replay = mailgun.verify_and_parse(
            _body(), signing_key=current_app.config.get("MAILGUN_WEBHOOK_SIGNING_KEY") or "", now=utcnow())
    except WebhookRefused as exc:
        return _refused("mailgun", exc)
    if replay:
        log.info("mailgun webhook: a replayed token ignored")
        return jsonify({"ignored": "replay"}), 200
    return _record("mailgun", events)
