"""Fold delivery events into the report aggregates (models/report.py).

Exact and incremental:
- each event waits in the small `counted = false` index until a fold takes it;
- a contact counts once per trigger, local day (trigger's timezone) and metric:
  report_day_contacts' primary key decides, so folding an event twice is harmless;
- folds run one at a time (the report_fold_lock row), so the counters' and the
  last-delivery days' read-modify-write never race.
`rebuild` recomputes the same tables from every event in set-based SQL
(`flask nudge rebuild-reports`); tests prove the two agree.
Nothing here commits but the tick step report_fold_step (a batch per
transaction); a page that folds before reading commits the fold itself.
"""
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import false, select, true, update

from engine.clock import local_date
from engine.db.upsert import insert_ignoring_duplicates, insert_or_add, insert_or_replace
from extensions import db
from models import DeliveryEvent, ReportDay, ReportDayContact, ReportFoldLock, ReportRecipient, Trigger
from models.report import METRICS

# Natero's definitions: Recipients = attempted (delivered, failed or bounced),
# Failed includes bounces, which also count under Bounced (a hard or soft bounce
# that came back later, from a DSN or a provider webhook); the others are their
# own event kind.
KIND_METRICS = {
    "delivered": ("recipients", "delivered"),
    "failed": ("recipients", "failed"),
    "bounced": ("recipients", "failed", "bounced"),
    "opened": ("opened",),
    "clicked": ("clicked",),
    "unsubscribed": ("unsubscribed",),
}
COUNTERS = METRICS + ("latest_delivered",)
BATCH = 5000
CHUNK = 1000  # ids per IN (...) list
READ_LIMIT = 20_000

ev = DeliveryEvent


def lock(now: datetime) -> None:
    """Take the fold lock for the rest of the transaction (the caller's)."""
    stmt = update(ReportFoldLock).where(ReportFoldLock.id == 1).values(folded_at=now)
    if db.session.execute(stmt).rowcount == 0:
        db.session.execute(insert_ignoring_duplicates(ReportFoldLock).values(id=1, folded_at=now))
        db.session.execute(stmt)


def has_pending() -> bool:
    return db.session.execute(select(ev.id).where(ev.counted == false()).limit(1)).first() is not None


def fold_pending(now: datetime, max_events: int | None = None) -> int:
    """Fold every event not yet counted (or about max_events of them: whole
    batches of BATCH), in the caller's transaction, under the fold lock.
    Returns how many events were folded."""
    folded = 0
    while max_events is None or folded < max_events:
        if not has_pending():
            break
        lock(now)
        rows = db.session.execute(
            select(ev.id, ev.trigger_id, ev.contact_id, ev.kind, ev.at)
            .where(ev.counted == false()).order_by(ev.id).limit(BATCH)).all()
        if rows:
            _fold(rows)
            ids = [r.id for r in rows]
            for i in range(0, len(ids), CHUNK):
                db.session.execute(update(ev).where(ev.id.in_(ids[i:i + CHUNK])).values(counted=True))
        folded += len(rows)
        if len(rows) < BATCH:
            break
    return folded


def fold_for_reading(now: datetime) -> int:
    """Before a report page is read: fold what the last tick has not (bounded,
    so a page never waits long; the tick folds any rest). The view commits
    right after, which also lets go of the fold lock."""
    return fold_pending(now, max_events=READ_LIMIT)


def report_fold_step(now: datetime) -> dict:
    """Tick step (an orchestrator): keep the reports current even when nobody
    reads them, one committed batch at a time so the fold lock is held briefly."""
    folded = 0
    while True:
        n = fold_pending(now, max_events=BATCH)
        db.session.commit()
        folded += n
        if n < BATCH:
            return {"folded": folded}


def _fold(rows) -> None:
    zones = dict(db.session.execute(
        select(Trigger.id, Trigger.timezone).where(Trigger.id.in_({r.trigger_id for r in rows}))).all())
    keys = set()
    for r in rows:
        day = local_date(r.at, zones.get(r.trigger_id) or "UTC")
        for metric in KIND_METRICS.get(r.kind, ()):
            keys.add((r.trigger_id, day, metric, r.contact_id))
    new = _insert_new_day_contacts(keys)
    counts: dict = defaultdict(Counter)
    last_delivered: dict = {}
    for trigger_id, day, metric, contact_id in new:
        counts[(trigger_id, day)][metric] += 1
        if metric == "delivered":
            key = (trigger_id, contact_id)
            last_delivered[key] = max(day, last_delivered.get(key, day))
    _move_latest(last_delivered, counts)
    if counts:
        db.session.execute(insert_or_add(ReportDay, ["trigger_id", "day"], list(COUNTERS)), [
            {"trigger_id": t, "day": d, **{c: n.get(c, 0) for c in COUNTERS}}
            for (t, d), n in counts.items()])


def _insert_new_day_contacts(keys) -> list[tuple]:
    """Insert the (trigger, day, metric, contact) keys; return those that were new."""
    new = []
    keys = list(keys)
    stmt = insert_ignoring_duplicates(ReportDayContact).returning(
        ReportDayContact.trigger_id, ReportDayContact.day, ReportDayContact.metric,
        ReportDayContact.contact_id)
    for i in range(0, len(keys), CHUNK):
        params = [{"trigger_id": t, "day": d, "metric": m, "contact_id": c} for t, d, m, c in keys[i:i + CHUNK]]
        new.extend(tuple(row) for row in db.session.execute(stmt, params))
    return new


def _move_latest(last_delivered: dict, counts: dict) -> None:
    """Record each contact's newest delivery day per trigger and move its one
    `latest_delivered` count from the old day to the new one."""
    if not last_delivered:
        return
    by_trigger = defaultdict(list)
    for trigger_id, contact_id in last_delivered:
        by_trigger[trigger_id].append(contact_id)
    old = {}
    for trigger_id, contact_ids in by_trigger.items():
        for i in range(0, len(contact_ids), CHUNK):
            old.update({(trigger_id, c): d for c, d in db.session.execute(
                select(ReportRecipient.contact_id, ReportRecipient.last_day)
                .where(ReportRecipient.trigger_id == trigger_id,
                       ReportRecipient.contact_id.in_(contact_ids[i:i + CHUNK])))})
    changed = []
    for (trigger_id, contact_id), day in last_delivered.items():
        before = old.get((trigger_id, contact_id))
        if before is not None and before >= day:
            continue
        if before is not None:
            counts[(trigger_id, before)]["latest_delivered"] -= 1
        counts[(trigger_id, day)]["latest_delivered"] += 1
        changed.append({"trigger_id": trigger_id, "contact_id": contact_id, "last_day": day})
    for i in range(0, len(changed), CHUNK):
        db.session.execute(insert_or_replace(ReportRecipient, ["trigger_id", "contact_id"], ["last_day"]),
                           changed[i:i + CHUNK])


def forget_trigger(trigger_id: int, now: datetime, *, refold: bool = True) -> None:
    """Drop a trigger's aggregates (deleted, or its timezone changed); with
    refold its events wait to be folded again. Caller commits."""
    lock(now)
    delete_aggregates([trigger_id])
    if refold:
        db.session.execute(update(ev).where(ev.trigger_id == trigger_id, ev.counted == true())
                           .values(counted=False))


def delete_aggregates(trigger_ids) -> None:
    for model in (ReportDayContact, ReportDay, ReportRecipient):
        stmt = model.__table__.delete()
        if trigger_ids is not None:
            stmt = stmt.where(model.__table__.c.trigger_id.in_(trigger_ids))
        db.session.execute(stmt)
