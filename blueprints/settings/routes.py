"""Settings home and scheduler status; the other pages live in sibling modules
that register their routes on this blueprint."""
from flask import current_app
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.settings import bp
from blueprints.ui import page_args, paginate, render_page
from engine.sending import dkim_sign
from extensions import db
from models import ApiKey, ImportJob, SinkMessage, Staff, TickRun

NEWEST_TICK = (TickRun.started_at.desc(), TickRun.id.desc())


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


@bp.route("/")
def index():
    last_tick = db.session.scalars(select(TickRun).order_by(*NEWEST_TICK).limit(1)).first()
    role = current_user.role
    cards = {"scheduler": True, "import": role in ("admin", "manager"),
             "api_keys": role == "admin", "staff": role == "admin", "inbox": role == "admin",
             "dkim": role == "admin", "deliverability": role in ("admin", "manager")}
    facts = {}
    if cards["api_keys"]:
        facts["keys"] = _count(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)))
    if cards["staff"]:
        facts["staff"] = _count(select(Staff.id))
        facts["admins"] = _count(select(Staff.id).where(Staff.role == "admin"))
    if cards["inbox"]:
        facts["inbox"] = _count(select(SinkMessage.id))
    if cards["deliverability"]:
        facts["bounce_domain"] = (current_app.config.get("BOUNCE_DOMAIN") or "").strip()
    if cards["import"]:
        facts["last_import"] = db.session.scalars(
            select(ImportJob).where(ImportJob.status != "draft").order_by(ImportJob.id.desc()).limit(1)
        ).first()
    dkim = dkim_sign.dns_record(current_app.config) if cards["dkim"] else None
    return render_page("settings/index.html", cards=cards, facts=facts, last_tick=last_tick,
                       smtp_host=current_app.config.get("SMTP_HOST"), dkim=dkim)


@bp.route("/scheduler")
def scheduler():
    runs = paginate(select(TickRun).order_by(*NEWEST_TICK), *page_args(50))
    return render_page("settings/scheduler.html", runs=runs)


# Page modules add their routes to `bp` when imported.
from blueprints.settings import api_keys, deliverability, imports, inbox, staff  # noqa: E402,F401
