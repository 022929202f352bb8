from datetime import timedelta

from flask import render_template
from sqlalchemy import func, select

from engine import reports
from engine.outbox import awaiting_approval_count
from engine.reports.fold import fold_for_reading
from extensions import db
from models import Account, Contact, Event, OutboxMessage, TickRun, Trigger
from models.base import utcnow
from blueprints.dashboard import bp



def _count(query):
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


@bp.route("/")
def index():
    now = utcnow()
    fold_for_reading(now)
    db.session.commit()
    week_ago = now - timedelta(days=7)
    counts = {
        "accounts": _count(select(Account.id)),
        "churned": _count(select(Account.id).where(Account.status == "churned")),
        "contacts": _count(select(Contact.id)),
        "active_7d": _count(select(Contact.id).where(Contact.last_seen_at >= week_ago)),
        "events_7d": _count(select(Event.id).where(Event.occurred_at >= week_ago)),
        "waiting": awaiting_approval_count(),
        "uncertain": _count(select(OutboxMessage.id).where(OutboxMessage.state == "uncertain")),
        "active_triggers": _count(select(Trigger.id).where(Trigger.status == "active")),
    }
    ranking = reports.trigger_ctr_ranking(now, 30)
    names = dict(db.session.execute(
        select(Trigger.id, Trigger.name).where(Trigger.id.in_([r["trigger_id"] for r in ranking]))
    ).all()) if ranking else {}
    for row in ranking:
        row["name"] = names.get(row["trigger_id"], "Deleted trigger")
    best = ranking[:3]
    worst = list(reversed(ranking[-3:])) if len(ranking) > 3 else []
    failures = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.state == "failed")
        .order_by(OutboxMessage.failed_at.desc().nulls_last(), OutboxMessage.id.desc()).limit(8)
    ).all()
    last_tick = db.session.scalars(select(TickRun).order_by(TickRun.id.desc()).limit(1)).first()
    return render_template(
        "dashboard/index.html", counts=counts, last_tick=last_tick, overview=reports.overview(now, 30),
        best=best, worst=worst, failures=failures,
    )
