"""Trigger reports (Natero's definitions), read from the report aggregates.

Per day in the trigger's timezone (engine/reports/fold.py folds delivery events
into report_days; engine/reports/rebuild.py recomputes them from the events):
- Recipients: contacts the trigger attempted to email (a delivered, failed or
  bounced outcome that day);
- Delivered / Opened / Clicked / Failed / Unsubscribed: distinct contacts with
  that delivery event that day (Failed includes bounces);
- Bounced: distinct contacts whose email bounced that day (a DSN or a provider
  webhook reported it, hard or soft; complaints count as Unsubscribed);
- Click-thru rate: clicked / opened.
A range's totals count each contact once (range_totals: distinct contacts with
that event in the range, from the events themselves), so a totals cell and its
drill-down list agree; the overview's per-trigger figures are sums of the days.
The drill-down lists read the events themselves, a local day's (or range's) UTC range.
"""
from datetime import date, datetime, timedelta

from sqlalchemy import case, distinct, func, select

from engine.clock import local_date, local_instant
from extensions import db
from models import Account, Contact, DeliveryEvent, OutboxMessage, ReportDay, Trigger, TriggerRun
from models.report import METRICS

# Which delivery-event kinds each metric counts (the drill-down's filter).
METRIC_KINDS = {
    "recipients": ("delivered", "failed", "bounced"),
    "delivered": ("delivered",),
    "opened": ("opened",),
    "clicked": ("clicked",),
    "failed": ("failed", "bounced"),
    "unsubscribed": ("unsubscribed",),
    "bounced": ("bounced",),
}
MIDNIGHT = datetime.min.time()


def day_ranges(start: date, end: date, tz: str) -> list[tuple[date, datetime, datetime]]:
    """[(local day, utc_start, utc_end)] for every local day from start to end inclusive."""
    days = []
    day = start
    while day <= end:
        nxt = day + timedelta(days=1)
        days.append((day, local_instant(day, MIDNIGHT, tz), local_instant(nxt, MIDNIGHT, tz)))
        day = nxt
    return days


def _with_ctr(values: dict) -> dict:
    values["ctr"] = (values["clicked"] / values["opened"]) if values["opened"] else None
    return values


def range_for(days: int, tz: str, now: datetime, start: date | None = None, end: date | None = None):
    """(start, end) local dates: the last `days` days up to today, or a custom range."""
    today = local_date(now, tz)
    if start and end:
        if start > end:
            start, end = end, start
        return start, min(end, today)
    return today - timedelta(days=days - 1), today


def daily_trends(trigger, start: date, end: date) -> list[dict]:
    """One dict per local day (newest first): the METRICS plus ctr (None without opens)."""
    r = ReportDay
    found = {row.day: row for row in db.session.execute(
        select(r.day, *[getattr(r, m) for m in METRICS])
        .where(r.trigger_id == trigger.id, r.day >= start, r.day <= end))}
    result = []
    day = end
    while day >= start:
        row = found.get(day)
        result.append(_with_ctr({"day": day, **{m: (getattr(row, m) if row else 0) for m in METRICS}}))
        day -= timedelta(days=1)
    return result


def totals(rows: list[dict]) -> dict:
    """Sum of daily figures (a contact active on two days counts on both, as per day)."""
    return _with_ctr({m: sum(r[m] for r in rows) for m in METRICS})


def first_day(trigger) -> date:
    """The first local day the trigger's report has anything to say about: the
    earliest of its creation, its start and its first reported activity."""
    tz = trigger.timezone or "UTC"
    days = [local_date(t, tz) for t in (trigger.created_at, trigger.started_at) if t is not None]
    first = db.session.scalar(select(func.min(ReportDay.day)).where(ReportDay.trigger_id == trigger.id))
    if first is not None:
        days.append(first)
    return min(days) if days else None


def _utc_range(trigger, start: date, end: date) -> tuple[datetime, datetime]:
    tz = trigger.timezone or "UTC"
    return local_instant(start, MIDNIGHT, tz), local_instant(end + timedelta(days=1), MIDNIGHT, tz)


def range_totals(trigger, start: date, end: date) -> dict:
    """Each metric over the local days start..end as distinct contacts (a contact
    emailed on two days counts once), counted by the database in one query over
    the delivery events, plus ctr. The same rows the range's drill-down lists."""
    ev = DeliveryEvent
    since, until = _utc_range(trigger, start, end)
    row = db.session.execute(
        select(*[func.count(distinct(case((ev.kind.in_(kinds), ev.contact_id)))).label(m)
                 for m, kinds in METRIC_KINDS.items()])
        .where(ev.trigger_id == trigger.id, ev.at >= since, ev.at < until)).one()
    return _with_ctr({m: getattr(row, m) or 0 for m in METRIC_KINDS})


def recipients_query(trigger, day: date, metric: str, end_day: date | None = None):
    """Who is behind one number of the daily table (or, with end_day, of the range's
    totals row): one row per contact, their earliest such event."""
    if metric not in METRIC_KINDS:
        raise ValueError(f"unknown metric: {metric}")
    start, end = _utc_range(trigger, day, end_day or day)
    ev = DeliveryEvent
    first = (
        select(ev.contact_id, func.min(ev.id).label("event_id"))
        .where(ev.trigger_id == trigger.id, ev.kind.in_(METRIC_KINDS[metric]),
               ev.at >= start, ev.at < end)
        .group_by(ev.contact_id)
        .subquery()
    )
    return (
        select(Contact.id.label("contact_id"), Contact.external_id, Contact.email, Contact.first_name,
               Contact.last_name, Account.id.label("account_id"), Account.name.label("account_name"),
               ev.at, ev.kind, ev.detail, ev.message_id)
        .join(first, first.c.contact_id == Contact.id)
        .join(ev, ev.id == first.c.event_id)
        .join(Account, Account.id == Contact.account_id)
        .order_by(ev.at, Contact.id)
    )


def daily_status(trigger, limit: int = 14) -> list[dict]:
    """The trigger's recent generations: when, how many, and where they stand now."""
    runs = db.session.scalars(
        select(TriggerRun).where(TriggerRun.trigger_id == trigger.id)
        .order_by(TriggerRun.generated_at.desc()).limit(limit)
    ).all()
    if not runs:
        return []
    keys = [r.occurrence_key for r in runs]
    states = db.session.execute(
        select(OutboxMessage.occurrence_key, OutboxMessage.state, func.count())
        .where(OutboxMessage.trigger_id == trigger.id, OutboxMessage.occurrence_key.in_(keys))
        .group_by(OutboxMessage.occurrence_key, OutboxMessage.state)
    ).all()
    reasons = db.session.execute(
        select(OutboxMessage.occurrence_key, OutboxMessage.reason_code, func.count())
        .where(OutboxMessage.trigger_id == trigger.id, OutboxMessage.occurrence_key.in_(keys),
               OutboxMessage.state == "suppressed")
        .group_by(OutboxMessage.occurrence_key, OutboxMessage.reason_code)
    ).all()
    by_key = {k: {"states": {}, "reasons": []} for k in keys}
    for key, state, n in states:
        by_key[key]["states"][state] = n
    for key, code, n in reasons:
        by_key[key]["reasons"].append({"code": code, "count": n})
    for entry in by_key.values():
        entry["reasons"].sort(key=lambda r: (-r["count"], r["code"] or ""))
    return [{"run": r, **by_key[r.occurrence_key]} for r in runs]


def _window_sums(now: datetime, days: int, *group_by, start: date | None = None, end: date | None = None):
    """Sums of the daily figures over the last `days` days, or the days start..end
    (UTC dates: across triggers of several timezones a day is at most a few hours off)."""
    r = ReportDay
    since = start or now.date() - timedelta(days=days - 1)
    where = [r.day >= since] + ([r.day <= end] if end else [])
    return db.session.execute(
        select(*group_by, *[func.coalesce(func.sum(getattr(r, m)), 0).label(m) for m in METRICS])
        .where(*where).group_by(*group_by)).all()


def overview(now: datetime, days: int = 30, start: date | None = None, end: date | None = None) -> dict:
    """Across all triggers, the last `days` days (or start..end): sends (delivered), opens, clicks..."""
    rows = _window_sums(now, days, start=start, end=end)
    values = dict(rows[0]._mapping) if rows else {m: 0 for m in METRICS}
    return _with_ctr({m: values[m] for m in METRICS})


def trigger_summaries(now: datetime, days: int = 30, start: date | None = None,
                      end: date | None = None) -> dict[int, dict]:
    """{trigger_id: METRICS summed over the window + ctr}, one grouped query."""
    return {row.trigger_id: _with_ctr({m: getattr(row, m) for m in METRICS})
            for row in _window_sums(now, days, ReportDay.trigger_id, start=start, end=end)}


def daily_overview(start: date, end: date) -> list[dict]:
    """Across all triggers, one dict per day start..end (oldest first): the METRICS
    summed over the triggers' report days, grouped by the database."""
    r = ReportDay
    found = {row.day: row for row in db.session.execute(
        select(r.day, *[func.sum(getattr(r, m)).label(m) for m in METRICS])
        .where(r.day >= start, r.day <= end).group_by(r.day))}
    out, day = [], start
    while day <= end:
        row = found.get(day)
        out.append({"day": day, **{m: int(getattr(row, m) or 0) if row else 0 for m in METRICS}})
        day += timedelta(days=1)
    return out


def trigger_ctr_ranking(now: datetime, days: int = 30, min_opens: int = 1) -> list[dict]:
    """Triggers with opens in the window, by click-through (clicked / opened)."""
    ranked = [{"trigger_id": tid, "opened": v["opened"], "clicked": v["clicked"], "ctr": v["ctr"]}
              for tid, v in trigger_summaries(now, days).items() if v["opened"] >= min_opens]
    return sorted(ranked, key=lambda r: (-r["ctr"], -r["opened"]))


def recipients_30d(trigger_ids, now: datetime) -> dict[int, int]:
    """{trigger_id: distinct contacts delivered to in the last 30 local days}:
    each contact counts on the day of its latest delivery, so <= 30 rows a trigger.
    For a long list: the window's rows by day (an index range), not 500 ids."""
    out = dict.fromkeys(trigger_ids, 0)
    if not out:
        return {}
    r = ReportDay
    query = select(r.trigger_id, r.day, r.latest_delivered).where(
        r.day >= now.date() - timedelta(days=31), r.latest_delivered != 0)
    if len(out) <= 50:
        query = query.where(r.trigger_id.in_(list(out)))
    rows = [row for row in db.session.execute(query) if row[0] in out]
    if not rows:
        return out
    zones = dict(db.session.execute(select(Trigger.id, Trigger.timezone)
                                    .where(Trigger.id.in_({row[0] for row in rows}))).all())
    cutoff = {tid: local_date(now, tz or "UTC") - timedelta(days=29) for tid, tz in zones.items()}
    for tid, day, n in rows:
        if day >= cutoff[tid]:
            out[tid] += n
    return out
