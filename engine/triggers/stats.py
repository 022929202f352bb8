"""List statistics for triggers: last send, next send, 30-day recipients (set-based)."""
from datetime import datetime

from sqlalchemy import func, select

from extensions import db
from models import OutboxMessage, Trigger


def iso(value):
    return value.isoformat(timespec="seconds") + "Z" if isinstance(value, datetime) else value



def trigger_stats(trigger_ids, now: datetime) -> dict:
    """{id: {"last_send_at", "next_send_at", "recipients_30d"}} in three set-based queries.

    recipients_30d is as of the last fold of delivery events (engine.reports.fold).

    next_send_at: for an active schedule trigger the next send instant (today's
    if generated but not yet sent, else the next day's); "on event" for active
    persona/event triggers; None when the trigger is not active.
    """
    ids = list(trigger_ids)
    if not ids:
        return {}
    from engine.clock import next_run, occurrence_for

    from engine.reports import recipients_30d

    m = OutboxMessage
    # Not one GROUP BY over every sent row (1.3M rows: seconds): the last send is
    # one seek per trigger on ix_outbox_trigger_sent; the 30-day recipients come
    # from the report aggregates (<= 30 rows a trigger).
    last_send = (select(func.max(m.sent_at)).where(m.trigger_id == Trigger.id)
                 .correlate(Trigger).scalar_subquery())
    recent = recipients_30d(ids, now)
    schedule = db.session.execute(
        select(Trigger.id, Trigger.kind, Trigger.status, Trigger.generate_at, Trigger.send_at,
               Trigger.timezone, last_send).where(Trigger.id.in_(ids))).all()
    out = {}
    for tid, kind, status, generate_at, send_at, tz, last in schedule:
        next_send = None
        if status == "active" and kind != "schedule":
            next_send = "on event"
        elif status == "active":
            today = occurrence_for(now, generate_at, tz, send_at)
            if today is not None and today[2] >= now:
                next_send = today[2]
            else:
                next_send = next_run(generate_at, send_at, tz, now)["send"]
        out[tid] = {"last_send_at": last, "next_send_at": next_send, "recipients_30d": recent.get(tid, 0)}
    return out
