from datetime import timedelta

from flask import Blueprint, render_template
from sqlalchemy import func, select

from extensions import db
from models import Account, Contact, Event, TickRun
from models.base import utcnow

bp = Blueprint("dashboard", __name__)


@bp.route("/")
def index():
    now = utcnow()
    week_ago = now - timedelta(days=7)
    counts = {
        "accounts": db.session.scalar(select(func.count()).select_from(Account)),
        "churned": db.session.scalar(
            select(func.count()).select_from(Account).where(Account.status == "churned")
        ),
        "contacts": db.session.scalar(select(func.count()).select_from(Contact)),
        "active_7d": db.session.scalar(
            select(func.count()).select_from(Contact).where(Contact.last_seen_at >= week_ago)
        ),
        "events_7d": db.session.scalar(
            select(func.count()).select_from(Event).where(Event.occurred_at >= week_ago)
        ),
    }
    last_tick = db.session.scalars(select(TickRun).order_by(TickRun.id.desc()).limit(1)).first()
    return render_template("dashboard/index.html", counts=counts, last_tick=last_tick)
