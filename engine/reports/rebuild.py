"""Recompute the report aggregates from every delivery event, set-based in SQL.

`flask nudge rebuild-reports` runs it; engine/reports/fold.py keeps the same
tables current incrementally, and tests prove the two agree. Local days are
UTC ranges joined to the events (DST-safe, the same SQL on both databases).
"""
from collections import Counter
from datetime import datetime

from sqlalchemy import (Date, DateTime, String, and_, bindparam, case, false, func, literal, select, true,
                        union_all, update)

from engine.reports.fold import KIND_METRICS, delete_aggregates, lock
from engine.reports import day_ranges
from engine.clock import local_date
from extensions import db
from models import DeliveryEvent, ReportDay, ReportDayContact, ReportRecipient, Trigger
from models.report import METRICS

DAYS_PER_STATEMENT = 120  # SQLite allows 500 terms in one UNION ALL
ev = DeliveryEvent


def rebuild(now: datetime, trigger_ids: list[int] | None = None) -> dict:
    """Recompute the aggregates of the given triggers (all when None) in the
    caller's transaction, which it commits (`flask nudge rebuild-reports`).

    Holds the fold lock throughout. Events are marked counted first: one that
    commits meanwhile stays uncounted and the next fold adds it (folding an
    event the rebuild already saw changes nothing)."""
    lock(now)
    delete_aggregates(trigger_ids)
    mark = update(ev).where(ev.counted == false()).values(counted=True)
    if trigger_ids is not None:
        mark = mark.where(ev.trigger_id.in_(trigger_ids))
    db.session.execute(mark)
    triggers = select(Trigger.id, Trigger.timezone)
    if trigger_ids is not None:
        triggers = triggers.where(Trigger.id.in_(trigger_ids))
    n_days = 0
    for trigger_id, tz in db.session.execute(triggers).all():
        n_days += _rebuild_day_contacts(trigger_id, tz or "UTC")
    _rebuild_days(trigger_ids)
    _rebuild_recipients(trigger_ids)
    return {"triggers": len(trigger_ids) if trigger_ids is not None else None, "days": n_days}


def _kinds_table():
    rows = [select(literal(kind, String).label("kind"), literal(metric, String).label("metric"))
            for kind, metrics in KIND_METRICS.items() for metric in metrics]
    return union_all(*rows).subquery("kind_metrics")


def _days_table(ranges):
    rows = [select(literal(d, Date).label("day"), literal(s, DateTime).label("day_start"),
                   literal(e, DateTime).label("day_end")) for d, s, e in ranges]
    return union_all(*rows).subquery("days") if len(rows) > 1 else rows[0].subquery("days")


def _rebuild_day_contacts(trigger_id: int, tz: str) -> int:
    first, last = db.session.execute(
        select(func.min(ev.at), func.max(ev.at)).where(ev.trigger_id == trigger_id)).one()
    if first is None:
        return 0
    ranges = day_ranges(local_date(first, tz), local_date(last, tz), tz)
    kinds = _kinds_table()
    columns = ["trigger_id", "day", "metric", "contact_id"]
    for i in range(0, len(ranges), DAYS_PER_STATEMENT):
        days = _days_table(ranges[i:i + DAYS_PER_STATEMENT])
        rows = (select(ev.trigger_id, days.c.day, kinds.c.metric, ev.contact_id).distinct()
                .select_from(days)
                .join(ev, and_(ev.trigger_id == trigger_id, ev.at >= days.c.day_start,
                               ev.at < days.c.day_end))
                .join(kinds, kinds.c.kind == ev.kind))
        db.session.execute(ReportDayContact.__table__.insert().from_select(columns, rows))
    return len(ranges)


def _scope(column, trigger_ids):
    return column.in_(trigger_ids) if trigger_ids is not None else true()


def _rebuild_days(trigger_ids) -> None:
    c = ReportDayContact
    scope = _scope(c.trigger_id, trigger_ids)
    sums = [func.sum(case((c.metric == m, 1), else_=0)) for m in METRICS]
    rows = select(c.trigger_id, c.day, *sums, literal(0)).where(scope).group_by(c.trigger_id, c.day)
    db.session.execute(ReportDay.__table__.insert().from_select(
        ["trigger_id", "day", *METRICS, "latest_delivered"], rows))


def _rebuild_recipients(trigger_ids) -> None:
    c = ReportDayContact
    scope = _scope(c.trigger_id, trigger_ids)
    db.session.execute(ReportRecipient.__table__.insert().from_select(
        ["trigger_id", "contact_id", "last_day"],
        select(c.trigger_id, c.contact_id, func.max(c.day)).where(scope, c.metric == "delivered")
        .group_by(c.trigger_id, c.contact_id)))
    r = ReportRecipient
    latest = Counter()
    recipient_scope = _scope(r.trigger_id, trigger_ids)
    for trigger_id, day, n in db.session.execute(
            select(r.trigger_id, r.last_day, func.count()).where(recipient_scope)
            .group_by(r.trigger_id, r.last_day)):
        latest[(trigger_id, day)] = n
    if latest:
        days = ReportDay.__table__
        db.session.execute(
            update(days).where(days.c.trigger_id == bindparam("t"), days.c.day == bindparam("d"))
            .values(latest_delivered=bindparam("n")),
            [{"t": t, "d": d, "n": n} for (t, d), n in latest.items()])
