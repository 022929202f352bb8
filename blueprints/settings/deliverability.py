"""Settings -> Deliverability (managers and admins): where bounces come back
(the bounce domain, the SMTP listener, IMAP polling), each provider webhook's
URL and whether its secret is set, the latest bounce and complaint records and
their counts per day. Admins and managers own sending; the secrets themselves
are never shown, only whether they are set."""
from urllib.parse import urlsplit

from flask import current_app, url_for

from blueprints.auth.decorators import EDITORS, role_required
from blueprints.settings import bp
from blueprints.ui import render_page
from engine.bounces import stats
from models.base import utcnow

# (provider key, name, the settings it needs, how to set it up there)
WEBHOOKS = (
    ("ses", "Amazon SES (via SNS)", ("SES_SNS_TOPIC_ARNS",),
     "Create an SNS topic, subscribe this URL to it over HTTPS (the subscription is confirmed "
     "automatically), and point the SES identity's bounce, complaint and delivery notifications at the topic. "
     "Only topics listed in SES_SNS_TOPIC_ARNS are accepted."),
    ("sendgrid", "SendGrid", ("SENDGRID_WEBHOOK_PUBLIC_KEY",),
     "Settings → Mail Settings → Event Webhook: paste this URL, select Bounced, Dropped, Spam Reports and "
     "Delivered, turn on Signed Event Webhook and copy its verification key into SENDGRID_WEBHOOK_PUBLIC_KEY."),
    ("postmark", "Postmark", ("POSTMARK_WEBHOOK_USERNAME", "POSTMARK_WEBHOOK_PASSWORD"),
     "Server → Webhooks → Add webhook: paste this URL, add basic auth credentials equal to "
     "POSTMARK_WEBHOOK_USERNAME / _PASSWORD, and select Bounce, Spam Complaint and Delivery."),
    ("mailgun", "Mailgun", ("MAILGUN_WEBHOOK_SIGNING_KEY",),
     "Sending → Webhooks: add this URL for Permanent Failure, Temporary Failure, Spam Complaints and "
     "Delivered, and copy the HTTP webhook signing key into MAILGUN_WEBHOOK_SIGNING_KEY."),
)


def imap_without_password(url: str) -> str | None:
    """imaps://user@host:993/INBOX: the polled mailbox, its password left out."""
    if not (url or "").strip():
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(BOUNCE_IMAP_URL is not a valid URL)"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path or ''}"


def webhook_rows(config) -> list[dict]:
    base = (config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    rows = []
    for key, name, settings, how in WEBHOOKS:
        rows.append({"key": key, "name": name, "settings": settings, "how": how,
                     "url": base + url_for(f"webhooks.{key}_webhook"),
                     "configured": all((str(config.get(s) or "")).strip() for s in settings)})
    return rows


@bp.route("/deliverability")
@role_required(*EDITORS)
def deliverability():
    config = current_app.config
    now = utcnow()
    days = stats.daily_counts(now, 30)
    domain = (config.get("BOUNCE_DOMAIN") or "").strip().lower()
    return render_page(
        "settings/deliverability.html", domain=domain, imap=imap_without_password(config.get("BOUNCE_IMAP_URL")),
        imap_unparsed=config.get("BOUNCE_IMAP_UNPARSED_FOLDER") or "",
        soft_limit=config.get("BOUNCE_SOFT_LIMIT"), soft_days=config.get("BOUNCE_SOFT_WINDOW_DAYS"),
        webhooks=webhook_rows(config), records=stats.recent_records(50), days=days,
        totals={k: sum(d[k] for d in days) for k in ("hard", "soft", "complaint", "total")})
