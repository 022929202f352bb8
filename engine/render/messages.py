"""Rendering generated outbox messages for their recipients, in batches.

Generation (engine/triggers/generate.py) inserts waiting rows with subject NULL in one
set-based statement; this module fills in subject/html/text. A waiting row
(pending_approval / approved) with a NULL subject has not been rendered yet
(a rendered subject is never empty). Rendering is idempotent: the UPDATE only
touches rows still unrendered, so the tick, a render job, the send path and a
page showing the message may all call it without conflict.

  * render_after_generation: the tick renders small runs (<= 500) at once and
    hands big ones to parallel render jobs (queue "default"): the tick stays
    short, and the send path renders anything a job has not reached yet;
  * ensure_rendered(ids): pages and the send path render what they need now;
  * a render error for one recipient fails that message, not the run.
None of these commit but the tick step render_sweep_step: the caller commits
(a render job one batch at a time, workers/jobs.py).
"""
import logging
from datetime import datetime

from sqlalchemy import bindparam, func, select, update

from engine import outbox
from engine.ports import doorbell
from extensions import db
from models import Account, Contact, Event, OutboxMessage, Trigger

log = logging.getLogger(__name__)
T = OutboxMessage.__table__
BATCH = 500
SYNC_RENDER_LIMIT = 500  # runs up to this size are rendered by the tick itself
SHARD_ROWS = 20_000      # one render job per this many rows (they run in parallel)
MAX_SHARDS = 8
CONTACT_COLS = list(Contact.__table__.c)
ACCOUNT_COLS = list(Account.__table__.c)
# trigger_id is in the WHERE so PostgreSQL seeks ix_outbox_unrendered on both its
# columns: with `id = ?` alone it chose that (small, partial) index and scanned all
# of it per row, so a run rendered in time quadratic in its size.
_SET = (update(T).where(T.c.trigger_id == bindparam("_trigger_id"), T.c.id == bindparam("_id"),
                        T.c.subject.is_(None))
        .values(subject=bindparam("_subject"), html=bindparam("_html"), text=bindparam("_text")))


def _unrendered():
    return (T.c.state.in_(outbox.WAITING_STATES), T.c.subject.is_(None))


def unrendered_batch(*, after=0, size=BATCH, trigger_id=None, ids=None, shard=(0, 1)):
    """The next `size` waiting, unrendered rows with id > after, in id order, with
    their contact's and account's columns: with trigger_id, a seek on
    ix_outbox_unrendered (tests/unit/test_render_plans.py checks the plan)."""
    where = [*_unrendered(), T.c.id > after]
    if trigger_id is not None:
        where.append(T.c.trigger_id == trigger_id)
    if ids is not None:
        where.append(T.c.id.in_([int(i) for i in ids]))
    index, shards = shard
    if shards > 1:
        where.append(T.c.id % shards == index)
    return (select(T.c.id, T.c.trigger_id, T.c.occurrence_key, T.c.created_at,
                   *[c.label(f"c_{c.name}") for c in CONTACT_COLS],
                   *[c.label(f"a_{c.name}") for c in ACCOUNT_COLS])
            .join(Contact, Contact.id == T.c.contact_id)
            .join(Account, Account.id == T.c.account_id)
            .where(*where).order_by(T.c.id).limit(size))


def render_pending(now: datetime, *, trigger_id=None, ids=None, limit=None,
                   shard=(0, 1), after=0) -> dict:
    """Render waiting, unrendered messages (optionally of one trigger, or these
    ids, or one id shard; at most `limit`; ids above `after`), BATCH rows per
    statement. The caller commits. Returns {"rendered", "failed", "after"}:
    pass "after" back to go on where this call stopped (a job committing batch
    by batch), instead of stepping again over the rows already rendered."""
    done = {"rendered": 0, "failed": 0}
    while limit is None or done["rendered"] + done["failed"] < limit:
        size = BATCH if limit is None else min(BATCH, limit - done["rendered"] - done["failed"])
        rows = db.session.execute(unrendered_batch(after=after, size=size, trigger_id=trigger_id,
                                                   ids=ids, shard=shard)).all()
        if not rows:
            break
        part = render_rows(rows, now)
        done["rendered"] += part["rendered"]
        done["failed"] += part["failed"]
        after = rows[-1].id
    return {**done, "after": after}


def ensure_rendered(message_ids, now: datetime) -> dict:
    """Render these messages now if they are not yet (for a page or a send batch)."""
    ids = [int(i) for i in message_ids]
    return render_pending(now, ids=ids) if ids else {"rendered": 0, "failed": 0, "after": 0}


def render_rows(rows, now: datetime) -> dict:
    """Render one batch of rows (outbox + contact + account columns)."""
    from engine.render import RenderError, build_context, compile_for_trigger
    from engine.tracking import unsubscribe_url

    triggers = {t.id: t for t in db.session.execute(
        select(Trigger).where(Trigger.id.in_({r.trigger_id for r in rows}))).scalars()}
    compiled, broken = {}, {}
    for tid, trigger in triggers.items():
        try:
            compiled[tid] = compile_for_trigger(trigger)
        except Exception as exc:  # noqa: BLE001 - a broken template fails its messages, visibly
            broken[tid] = f"template error: {exc}"
    events = _events(rows, triggers)
    updates, failures = [], []
    for row in rows:
        m = row._mapping
        try:
            if row.trigger_id in broken:
                raise RenderError(broken[row.trigger_id])
            trigger = triggers[row.trigger_id]
            extra = {"event": events[row.id]} if row.id in events else None
            context = build_context({c.name: m[f"c_{c.name}"] for c in CONTACT_COLS},
                                    {c.name: m[f"a_{c.name}"] for c in ACCOUNT_COLS},
                                    unsubscribe_url=unsubscribe_url(row.id), extra=extra,
                                    now=row.created_at)
            out = compiled[row.trigger_id].render(context)
            updates.append({"_id": row.id, "_trigger_id": row.trigger_id, "_subject": out.subject, "_html": out.html,
                            "_text": out.text})
        except Exception as exc:  # noqa: BLE001 - one recipient fails, the batch goes on
            reason = str(exc) if isinstance(exc, RenderError) else f"render error: {exc}"
            failures.append((row.trigger_id, row.id, reason or type(exc).__name__))
    if updates:
        db.session.connection().execute(_SET, updates)
    outbox.fail_unrendered(failures, now)
    return {"rendered": len(updates), "failed": len(failures)}


def _events(rows, triggers) -> dict:
    """{outbox id: {"name", "occurred_at", "properties"}} for event-trigger rows."""
    wanted = {r.id: int(r.occurrence_key) for r in rows
              if triggers[r.trigger_id].kind == "event" and r.occurrence_key.isdigit()}
    if not wanted:
        return {}
    found = {e.id: e for e in db.session.execute(
        select(Event.id, Event.name, Event.occurred_at, Event.properties)
        .where(Event.id.in_(set(wanted.values()))))}
    return {mid: {"name": found[eid].name, "occurred_at": found[eid].occurred_at,
                  "properties": found[eid].properties or {}}
            for mid, eid in wanted.items() if eid in found}


def contact_context(contact_id, now, *, unsubscribe_url="", extra=None) -> dict:
    """The render context for one contact (test emails, previews)."""
    from engine.render import build_context

    stmt = (select(*[c.label(f"c_{c.name}") for c in CONTACT_COLS],
                   *[c.label(f"a_{c.name}") for c in ACCOUNT_COLS])
            .join_from(Contact, Account, Account.id == Contact.account_id)
            .where(Contact.id == contact_id))
    row = db.session.execute(stmt).first()
    if row is None:
        raise LookupError(f"contact {contact_id} does not exist")
    m = row._mapping
    return build_context({c.name: m[f"c_{c.name}"] for c in CONTACT_COLS},
                         {c.name: m[f"a_{c.name}"] for c in ACCOUNT_COLS},
                         unsubscribe_url=unsubscribe_url, extra=extra, now=now)


def ring_render_jobs(trigger_id: int, rows: int) -> int:
    """Render work for a big run: one part per id shard, so several workers share it."""
    shards = max(1, min(MAX_SHARDS, -(-rows // SHARD_ROWS)))
    doorbell().render_run(trigger_id, shards)
    return shards


def render_after_generation(trigger_id: int, created: int, now: datetime) -> dict:
    """Right after a run: a small run (up to SYNC_RENDER_LIMIT messages) is
    rendered at once, a big one by parallel render jobs so the tick stays
    short. The caller commits, then rings for auto-send triggers' messages."""
    result = {}
    if created <= SYNC_RENDER_LIMIT:
        done = render_pending(now, trigger_id=trigger_id, limit=SYNC_RENDER_LIMIT)
        result = {"rendered": done["rendered"], "render_failed": done["failed"]}
    left = created if created > SYNC_RENDER_LIMIT else 0  # all of a big run is unrendered
    if left:
        try:
            result["render_jobs"] = ring_render_jobs(trigger_id, left)
        except Exception:  # noqa: BLE001 - the render sweep and the send path catch up
            log.exception("could not enqueue render jobs for trigger %s", trigger_id)
        result["render_queued"] = left
    return result


def render_sweep_step(now: datetime) -> dict:
    """Tick step (an orchestrator): waiting rows still unrendered (render jobs
    lost with Redis, or slow) get a bounded inline render, committed, and new
    jobs when nobody is on them."""
    pending = dict(db.session.execute(select(T.c.trigger_id, func.count()).where(*_unrendered())
                                      .group_by(T.c.trigger_id)).all())
    db.session.rollback()
    if not pending:
        return {"unrendered": 0}
    done = {"rendered": 0, "failed": 0}
    for trigger_id in sorted(pending):  # per trigger: each batch is a seek on ix_outbox_unrendered
        left = SYNC_RENDER_LIMIT - done["rendered"] - done["failed"]
        if left <= 0:
            break
        part = render_pending(now, trigger_id=trigger_id, limit=left)
        db.session.commit()
        done = {k: done[k] + part[k] for k in done}
    requeued = 0
    for trigger_id, rows in pending.items():
        if rows <= SYNC_RENDER_LIMIT:
            continue
        try:
            if not doorbell().render_run_pending(trigger_id):
                requeued += ring_render_jobs(trigger_id, rows)
        except Exception:  # noqa: BLE001 - Redis down: inline rendering still progresses
            log.warning("render sweep could not reach Redis")
    return {"unrendered": sum(pending.values()), "rendered": done["rendered"],
            "failed": done["failed"], "jobs": requeued}


def rerender_waiting(trigger_id: int, now: datetime) -> dict:
    """Re-render a trigger's waiting messages with its current content (the wizard,
    after a change to the message, when staff chose "re-render"): they are marked
    unrendered in one UPDATE (engine.outbox.mark_for_rerender) and rendered like a
    fresh run -- at once up to SYNC_RENDER_LIMIT, else by render jobs, the render
    sweep and the send path. The caller commits. Returns {"marked", "rendered", ...}."""
    marked = outbox.mark_for_rerender(trigger_id, now)
    result = render_after_generation(trigger_id, marked, now) if marked else {}
    return {"marked": marked, **result}
