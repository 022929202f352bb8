"""Turning triggers into outbox messages: candidates -> controls -> one INSERT ... SELECT.

One run = one trigger and its new occurrences, in ONE transaction whose first
statement is the lock (generate_step, the orchestrator, commits each run; the
runners end their own reads with a rollback so the lock opens the transaction):
  * schedule triggers insert their TriggerRun (unique trigger + local day);
  * persona / event / change-feed triggers advance their high-water mark
    with a conditional UPDATE (WHERE last_*_id = <value we read>); an event
    or feed trigger's mark trails by a settle window (see run_events).
A concurrent tick that loses the lock writes nothing (on PostgreSQL it waits
for the winner's commit, then sees the conflict). Outbox rows are inserted
with ON CONFLICT DO NOTHING on (trigger_id, contact_id, occurrence_key) as a
second guard, so nothing is ever generated twice.

The run itself is a single set-based statement: the candidates (rule
matches, persona members, transitions or events) joined to contacts, with
the frequency controls as correlated lookups on the outbox, inserted
as waiting messages or as suppressed ones with their reason. No row passes
through Python, so a trigger matching a million contacts costs one statement
and no memory. Rendering each recipient's email is the next step
(engine/render/messages.py): right away for small runs, in batch jobs for big ones.
"""
import logging
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, and_, case, cast, func, literal, over, select, true, update

from engine.triggers import controls
from engine.triggers.audience import audience_select, rule_filter
from engine.db.upsert import insert_ignoring_duplicates
from extensions import db
from models import Contact, OutboxMessage, Trigger, TriggerRun

log = logging.getLogger(__name__)
UNIQUE_KEY = ["trigger_id", "contact_id", "occurrence_key"]
# An event received this long ago is settled: every lower event id is committed.
EVENT_SETTLE = timedelta(minutes=10)


def generate(trigger: Trigger, candidates, now: datetime, *, send_after=None,
             occurrence_key: str | None = None) -> dict:
    """Insert outbox rows for `candidates` (a Select of contact_id, account_id,
    occurrence_key, seq) in one statement. The caller holds the run's lock and
    commits. Returns {"candidates", "created", "suppressed"}."""
    dialect = db.session.get_bind().dialect.name
    cand = candidates.subquery("candidates")
    many_per_contact = trigger.kind != "schedule"  # two events of one contact in one run
    nth = (over(func.row_number(), partition_by=cand.c.contact_id, order_by=cand.c.seq)
           if many_per_contact else literal(1, Integer))
    checked = (select(cand.c.contact_id, cand.c.account_id, cand.c.occurrence_key,
                      Contact.email, Contact.unsubscribed_at, Contact.email_bounced_at, nth.label("nth"),
                      *controls.control_columns(trigger, cand.c.contact_id, now))
               .join(Contact, Contact.id == cand.c.contact_id)
               .cte("checked"))
    frm, c = controls.with_history(checked)
    duplicate = c.nth > 1 if many_per_contact else None
    state, reason_code, reason = controls.state_and_reason(trigger, c, now, dialect,
                                                           duplicate=duplicate)
    auto = not trigger.requires_approval
    stamp = OutboxMessage.approved_at.type
    approved_at = (case((state == "approved", literal(now, stamp)), else_=literal(None, stamp))
                   if auto else literal(None, stamp))
    rows = select(
        literal(trigger.id, Integer), c.contact_id, c.account_id, c.occurrence_key,
        func.coalesce(c.email, ""), state, reason_code, reason,
        literal(now, OutboxMessage.created_at.type), literal(now, OutboxMessage.updated_at.type),
        literal(send_after, OutboxMessage.send_after.type), approved_at, literal(0, Integer),
    ).select_from(frm).where(true())  # SQLite needs a WHERE before ON CONFLICT here
    cols = ["trigger_id", "contact_id", "account_id", "occurrence_key", "to_email", "state",
            "reason_code", "reason", "created_at", "updated_at", "send_after", "approved_at", "attempts"]
    ins = insert_ignoring_duplicates(OutboxMessage, UNIQUE_KEY).from_select(cols, rows)
    db.session.connection().execute(ins)
    # A schedule run has one occurrence key: counting by it reads only the
    # (trigger_id, state, occurrence_key) index.
    this_run = (OutboxMessage.occurrence_key == occurrence_key if occurrence_key is not None
                else OutboxMessage.created_at == now)
    counted = dict(db.session.execute(
        select(OutboxMessage.state, func.count())
        .where(OutboxMessage.trigger_id == trigger.id, this_run)
        .group_by(OutboxMessage.state)).all())
    suppressed = counted.get("suppressed", 0)
    return {"candidates": sum(counted.values()), "created": sum(counted.values()) - suppressed,
            "suppressed": suppressed}


def lock_schedule_run(trigger_id: int, occurrence_key: str, now: datetime, send_after) -> bool:
    """Insert this occurrence's TriggerRun as the run's first statement (its lock)."""
    ins = insert_ignoring_duplicates(TriggerRun, ["trigger_id", "occurrence_key"]).values(
        trigger_id=trigger_id, occurrence_key=occurrence_key, generated_at=now,
        send_after=send_after, candidates=0, created=0, suppressed=0)
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT that returns rows.
    return db.session.connection().execute(ins.returning(TriggerRun.id)).first() is not None


def schedule_candidates(trigger, now, occurrence_key):
    """The trigger's audience (engine.triggers.audience: persona members optionally
    narrowed by the inline rule, or the rule's matches) as candidates of this
    occurrence; None when it reaches nobody."""
    audience = audience_select(trigger, now)
    if audience is None:
        return None
    return audience.add_columns(literal(occurrence_key, String(64)).label("occurrence_key"),
                                literal(0, Integer).label("seq"))


def run_schedule(trigger, now) -> dict | None:
    """Generate today's occurrence of a schedule trigger if its time has come and
    nobody generated it yet. One transaction, which the caller commits; returns
    counts or None (skipped)."""
    from engine.clock import occurrence_for

    occ = occurrence_for(now, trigger.generate_at, trigger.timezone or "UTC", trigger.send_at)
    if occ is None:
        return None
    key, generate_at, send_at = occ
    if trigger.started_at and generate_at < trigger.started_at:
        return None  # activated after today's generate time: the first run is tomorrow
    done = db.session.execute(select(TriggerRun.id).where(
        TriggerRun.trigger_id == trigger.id, TriggerRun.occurrence_key == key)).first()
    db.session.rollback()  # end the read: the lock below must start the transaction
    if done:
        return None  # the usual case every minute after the run: no write at all
    candidates = schedule_candidates(trigger, now, key)
    if not lock_schedule_run(trigger.id, key, now, send_at):
        db.session.rollback()
        return None
    counts = {"candidates": 0, "created": 0, "suppressed": 0}
    if candidates is not None:
        counts = generate(trigger, candidates, now, send_after=send_at, occurrence_key=key)
    db.session.connection().execute(
        update(TriggerRun.__table__)
        .where(TriggerRun.trigger_id == trigger.id, TriggerRun.occurrence_key == key)
        .values(candidates=counts["candidates"], suppressed=counts["suppressed"],
                created=counts["created"]))
    return dict(counts, occurrence_key=key)


def _advance_mark(trigger_id, column, old, new) -> bool:
    """Move a high-water mark forward as the run's first statement (its lock)."""
    stmt = (update(Trigger.__table__).where(Trigger.id == trigger_id, column == old)
            .values({column.key: new}))
    return db.session.connection().execute(stmt).rowcount == 1


def _run_new_rows(trigger, now, mark, model, where, first_time_filter) -> dict | None:
    """Persona triggers: rows of `model` newer than the mark. Refreshes of one
    persona are serialised (engine/personas/), so its transitions commit in
    id order and a plain high-water mark misses none (unlike events)."""
    old = db.session.execute(select(mark).where(Trigger.id == trigger.id)).scalar() or 0
    new = db.session.execute(select(func.max(model.id)).where(*where, model.id > old)).scalar()
    db.session.rollback()  # end the read so the lock is the transaction's first statement
    if not new or new <= old or not _advance_mark(trigger.id, mark, old, new):
        db.session.rollback()
        return None
    scope = [*where, model.id > old, model.id <= new]
    if old == 0 and trigger.started_at:
        scope.append(first_time_filter >= trigger.started_at)  # never fire for history
    stmt = (select(model.contact_id.label("contact_id"), Contact.account_id.label("account_id"),
                   cast(model.id, String(64)).label("occurrence_key"), model.id.label("seq"))
            .join(Contact, Contact.id == model.contact_id).where(and_(*scope)))
    narrowed = rule_filter(trigger, now)
    if narrowed is not None:
        stmt = stmt.where(model.contact_id.in_(narrowed))
    counts = generate(trigger, stmt, now)
    return dict(counts, through_id=new)


def run_transitions(trigger, now) -> dict | None:
    """Fire a persona_enter / persona_leave trigger for transitions newer than its mark."""
    from models import PersonaTransition as T

    if not trigger.persona_id:
        return None
    kind = "enter" if trigger.kind == "persona_enter" else "leave"
    return _run_new_rows(trigger, now, Trigger.last_transition_id, T,
                         [T.persona_id == trigger.persona_id, T.kind == kind], T.at)


def run_events(trigger, now) -> dict | None:
    """Fire an event trigger for its events (named trigger.event_name, optional
    rule filter) that have not fired it yet.

    Event ids come from a sequence at INSERT time, but ingest transactions
    commit in another order: an event may become visible with an id BELOW
    a mark that has already moved past it. So the mark (last_event_id) only
    advances over SETTLED ids -- up to the newest event received at least
    EVENT_SETTLE ago, by when every transaction holding a lower id has
    committed (an ingest batch takes seconds) -- and each tick re-examines
    every event above it. Whether an event has fired is a fact in the outbox:
    its row (trigger, contact, occurrence_key = event id); the candidates skip
    those, and INSERT ... ON CONFLICT DO NOTHING guards a race. Quiet ticks
    cost two index range scans over the unsettled window and write nothing.
    """
    from models import Event

    if not trigger.event_name:
        return None
    return _run_settled_rows(trigger, now, Event, Trigger.last_event_id, Event.received_at,
                             [Event.name == trigger.event_name])


def _run_settled_rows(trigger, now, model, mark, received_at, scope) -> dict | None:
    """Rows of `model` (events, change-feed rows) matching `scope` that have not
    fired the trigger, behind a mark that only advances over settled ids (see
    run_events); an optional rule and the persona narrow who qualifies."""
    old = db.session.execute(select(mark).where(Trigger.id == trigger.id)).scalar() or 0
    scope = [*scope, model.id > old]
    if trigger.started_at:
        scope.append(received_at >= trigger.started_at)  # never fire for history
    fired = (select(OutboxMessage.id).where(
        OutboxMessage.trigger_id == trigger.id, OutboxMessage.contact_id == model.contact_id,
        OutboxMessage.occurrence_key == cast(model.id, String(64))).exists())
    unfired = and_(*scope, ~fired)
    pending = db.session.execute(select(model.id).where(unfired).limit(1)).first() is not None
    settled = db.session.execute(
        select(model.id).where(model.id > old, received_at <= now - EVENT_SETTLE)
        .order_by(model.id.desc()).limit(1)).scalar() or old
    db.session.rollback()  # end the read so the lock is the transaction's first statement
    if not pending and settled == old:
        return None  # the usual quiet tick: no write at all
    # The lock (first statement): on PostgreSQL a concurrent run waits here, then
    # either finds the mark moved (and stops) or sees this run's rows.
    if not _advance_mark(trigger.id, mark, old, settled) or not pending:
        return None  # the caller commits the settled mark
    stmt = (select(model.contact_id.label("contact_id"), Contact.account_id.label("account_id"),
                   cast(model.id, String(64)).label("occurrence_key"), model.id.label("seq"))
            .join(Contact, Contact.id == model.contact_id).where(unfired))
    narrowed = rule_filter(trigger, now)
    if narrowed is not None:
        stmt = stmt.where(model.contact_id.in_(narrowed))
    if trigger.persona_id:  # the audience is the persona's members, as "matching now" counts
        from models import PersonaMember

        stmt = stmt.where(model.contact_id.in_(select(PersonaMember.contact_id).where(
            PersonaMember.persona_id == trigger.persona_id)))
    counts = generate(trigger, stmt, now)
    return dict(counts, settled_id=settled)


# Which change-feed rows (models.ContactChange.kind) each feed trigger kind fires on.
FEED_CHANGE_KIND = {"contact_created": "created", "field_updated": "field",
                    "list_added": "list_added", "list_removed": "list_removed"}


def feed_scope(trigger) -> list | None:
    """The conditions on ContactChange that a feed trigger fires on (kind;
    field_updated: field and the optional from / to values, equal as encoded
    JSON text; list kinds: the list), or None when the trigger is incomplete."""
    from models import ContactChange as CC

    scope = [CC.kind == FEED_CHANGE_KIND[trigger.kind]]
    if trigger.kind == "field_updated":
        if not trigger.field:
            return None
        scope.append(CC.field == trigger.field)
        if trigger.from_value is not None:
            scope.append(CC.old_value == trigger.from_value)
        if trigger.to_value is not None:
            scope.append(CC.new_value == trigger.to_value)
    elif trigger.kind in ("list_added", "list_removed"):
        if not trigger.list_id:
            return None
        scope.append(CC.list_id == trigger.list_id)
    return scope


def run_changes(trigger, now) -> dict | None:
    """Fire a change-feed trigger (contact_created, field_updated, list_added,
    list_removed) for its feed rows that have not fired it yet.

    The feed is written by ingest, imports, staff edits and list changes in
    their own transactions, so ids commit out of order exactly as events do,
    and this is run_events over models.ContactChange: the mark (last_change_id)
    only advances over SETTLED ids (recorded at least EVENT_SETTLE ago), each
    tick re-examines the rows above it, and the outbox row (trigger, contact,
    occurrence_key = change id) is the fact that a change has fired. Quiet
    ticks write nothing. An optional rule and the persona narrow who qualifies;
    two changes of one contact in one run are handled by generate() (the
    second is held back when the trigger has any control).
    """
    from models import ContactChange as CC

    scope = feed_scope(trigger)
    if scope is None:
        return None
    return _run_settled_rows(trigger, now, CC, Trigger.last_change_id, CC.at, scope)


RUNNERS = {"schedule": run_schedule, "persona_enter": run_transitions,
           "persona_leave": run_transitions, "event": run_events,
           **{kind: run_changes for kind in FEED_CHANGE_KIND}}


def generate_step(now: datetime) -> dict:
    """Tick step (an orchestrator): every active trigger, highest priority first
    (so the global delay sees what higher-priority triggers generated a moment
    earlier), one committed transaction per run; then render what the runs
    created (small runs now, big ones in batch jobs), commit, and ring for the
    auto-send triggers' messages."""
    from engine.outbox import schedule_auto_sends
    from engine.render.messages import render_after_generation

    triggers = db.session.execute(
        select(Trigger).where(Trigger.status == "active")
        .order_by(Trigger.priority.desc(), Trigger.id)).scalars().all()
    auto_send = {t.id for t in triggers if not t.requires_approval}
    summary = {}
    for trigger in triggers:
        trigger_id = trigger.id
        try:
            counts = RUNNERS.get(trigger.kind, lambda *_: None)(trigger, now)
            db.session.commit()
        except Exception as exc:  # noqa: BLE001 - one broken trigger must not stop the others
            db.session.rollback()
            log.exception("generating trigger %s failed", trigger_id)
            summary[str(trigger_id)] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        if counts is not None:
            summary[str(trigger_id)] = counts
    for trigger_id, counts in summary.items():
        if counts.get("created"):
            counts.update(render_after_generation(int(trigger_id), counts["created"], now))
            db.session.commit()
            if int(trigger_id) in auto_send:  # after the commit: a woken worker finds them
                schedule_auto_sends(int(trigger_id), now)
    return summary
