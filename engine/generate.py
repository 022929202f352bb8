"""Turning triggers into outbox messages: candidates -> controls -> render -> bulk insert.

One run = one trigger and one batch of occurrences, in ONE transaction whose
first statement is the lock:
  * schedule triggers insert their TriggerRun (unique trigger + day);
  * persona / event triggers advance their high-water mark with a
    conditional UPDATE (WHERE last_*_id = <value we read>).
A concurrent tick that loses the lock writes nothing (on PostgreSQL it waits
for the winner's commit, then sees the conflict). Outbox rows are inserted
with ON CONFLICT DO NOTHING on (trigger_id, contact_id, occurrence_key) as a
second guard, so nothing is ever generated twice.

Candidates stream from ONE select (candidates JOIN contacts JOIN accounts,
plus the frequency-control columns) in batches, so memory stays flat however
many contacts match. Rendering happens per recipient (a render error fails
that message, not the run); ids are allocated up front so the rendered body
can carry the message's own unsubscribe link.
"""
import logging
from datetime import datetime

from sqlalchemy import String, and_, cast, func, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from engine import controls
from extensions import db
from models import Account, Contact, OutboxMessage, Trigger, TriggerRun

log = logging.getLogger(__name__)
BATCH = 2000
CONTACT_COLS = list(Contact.__table__.c)
ACCOUNT_COLS = list(Account.__table__.c)
UNIQUE_KEY = ["trigger_id", "contact_id", "occurrence_key"]


def insert_ignoring_duplicates(model, index_elements=None):
    """INSERT ... ON CONFLICT DO NOTHING, spelled for the current database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=index_elements)
    return sqlite.insert(model).on_conflict_do_nothing(index_elements=index_elements)


def _row_dicts(row):
    m = row._mapping
    contact = {c.name: m[f"c_{c.name}"] for c in CONTACT_COLS}
    account = {c.name: m[f"a_{c.name}"] for c in ACCOUNT_COLS}
    return contact, account


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
    contact, account = _row_dicts(row)
    return build_context(contact, account, unsubscribe_url=unsubscribe_url, extra=extra)


class _Ids:
    """Outbox ids handed out before insert (the body needs its unsubscribe link).
    PostgreSQL: nextval of the id sequence. SQLite: the run holds the write
    lock from its first statement, so MAX(id) cannot move under it."""

    def __init__(self):
        self.pg = db.session.get_bind().dialect.name == "postgresql"
        self.next = None

    def take(self, n: int) -> list[int]:
        if n <= 0:
            return []
        if self.pg:
            seq = "pg_get_serial_sequence('outbox_messages', 'id')"
            rows = db.session.execute(text(f"SELECT nextval({seq}) FROM generate_series(1, :n)"),
                                      {"n": n})
            return [r[0] for r in rows]
        if self.next is None:
            self.next = (db.session.execute(select(func.max(OutboxMessage.id))).scalar() or 0) + 1
        ids = list(range(self.next, self.next + n))
        self.next += n
        return ids


def generate(trigger: Trigger, candidates, now: datetime, *, send_after=None, extra_cols=(),
             extra_context=None) -> dict:
    """Insert outbox rows for `candidates` (a Select of contact_id, account_id,
    occurrence_key [, extra columns]). The caller holds the run's lock and
    commits. Returns counts {"candidates", "created", "suppressed", "failed"}."""
    from engine.render import RenderError, build_context, compile_for_trigger

    cand = candidates.subquery("cand")
    cols = [cand.c.contact_id, cand.c.account_id, cand.c.occurrence_key,
            *[cand.c[name] for name in extra_cols],
            *[c.label(f"c_{c.name}") for c in CONTACT_COLS],
            *[c.label(f"a_{c.name}") for c in ACCOUNT_COLS],
            *controls.control_columns(trigger, cand.c.contact_id, Contact.unsubscribed_at, now)]
    stmt = (select(*cols)
            .join(Contact, Contact.id == cand.c.contact_id)
            .join(Account, Account.id == Contact.account_id)
            .order_by(cand.c.occurrence_key, cand.c.contact_id))

    compiled = None
    compile_error = None
    try:
        compiled = compile_for_trigger(trigger)
    except Exception as exc:  # noqa: BLE001 - a broken template fails its messages, visibly
        compile_error = f"template error: {exc}"
    sources = " ".join(filter(None, [trigger.subject, trigger.html, trigger.text,
                                     getattr(trigger.template, "subject", None),
                                     getattr(trigger.template, "html", None),
                                     getattr(trigger.template, "text", None)]))
    wants_unsubscribe = "unsubscribe_url" in sources
    if wants_unsubscribe:
        from engine.tracking import unsubscribe_url
    names = dict(db.session.execute(select(Trigger.id, Trigger.name)).all())
    in_run_reason = controls.in_run_reason(trigger)
    emailed_in_run: set[int] = set()
    ids = _Ids()
    state = "pending_approval" if trigger.requires_approval else "approved"
    approved_at = None if trigger.requires_approval else now
    counts = {"candidates": 0, "created": 0, "suppressed": 0, "failed": 0}
    ins = insert_ignoring_duplicates(OutboxMessage, UNIQUE_KEY)

    result = db.session.execute(stmt.execution_options(yield_per=BATCH, stream_results=True))
    for part in result.partitions(BATCH):
        new_ids = ids.take(len(part))
        rows = []
        for row, msg_id in zip(part, new_ids):
            counts["candidates"] += 1
            contact, account = _row_dicts(row)
            values = dict(id=msg_id, trigger_id=trigger.id, contact_id=row.contact_id,
                          account_id=row.account_id, occurrence_key=row.occurrence_key,
                          to_email=contact["email"] or "", subject=None, html=None, text=None,
                          state=state, reason=None, created_at=now, updated_at=now,
                          send_after=send_after, approved_at=approved_at, failed_at=None,
                          attempts=0)
            reason = None
            if row.suppress_code:
                reason = controls.reason_text(row.suppress_code, row, trigger, now, names)
            elif row.contact_id in emailed_in_run and in_run_reason:
                reason = in_run_reason
            elif not values["to_email"]:
                reason = "no email address"
            if reason:
                values.update(state="suppressed", reason=reason, approved_at=None)
                counts["suppressed"] += 1
                rows.append(values)
                continue
            try:
                if compile_error:
                    raise RenderError(compile_error)
                extra = dict(extra_context or {})
                if "event_name" in extra_cols:
                    extra["event"] = {"name": row.event_name, "occurred_at": row.event_occurred_at,
                                      "properties": row.event_properties or {}}
                context = build_context(
                    contact, account, extra=extra or None, now=now,
                    unsubscribe_url=unsubscribe_url(msg_id) if wants_unsubscribe else "")
                rendered = compiled.render(context)
                values.update(subject=rendered.subject, html=rendered.html, text=rendered.text)
                counts["created"] += 1
                emailed_in_run.add(row.contact_id)
            except Exception as exc:  # noqa: BLE001 - one recipient fails, the run goes on
                reason = str(exc) if isinstance(exc, RenderError) else f"render error: {exc}"
                values.update(state="failed", reason=reason[:2000], last_error=reason[:2000],
                              failed_at=now, approved_at=None)
                counts["failed"] += 1
            rows.append(values)
        _insert(ins, rows)
    return counts


def _insert(ins, rows):
    if not rows:
        return
    # executemany needs one key set; only failed rows carry last_error.
    for r in rows:
        r.setdefault("last_error", None)
    db.session.connection().execute(ins, rows)  # Core executemany (no ORM bookkeeping)


def lock_schedule_run(trigger_id: int, occurrence_key: str, now: datetime, send_after) -> bool:
    """Insert this occurrence's TriggerRun as the run's first statement (its lock)."""
    ins = insert_ignoring_duplicates(TriggerRun, ["trigger_id", "occurrence_key"]).values(
        trigger_id=trigger_id, occurrence_key=occurrence_key, generated_at=now,
        send_after=send_after, candidates=0, created=0, suppressed=0)
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT that returns rows.
    return db.session.connection().execute(ins.returning(TriggerRun.id)).first() is not None


def _count_run(trigger_id, occurrence_key, counts):
    db.session.connection().execute(update(TriggerRun.__table__).where(TriggerRun.trigger_id == trigger_id,
                                                TriggerRun.occurrence_key == occurrence_key)
                       .values(candidates=counts["candidates"], suppressed=counts["suppressed"],
                               created=counts["created"]))


def _rule_filter(trigger, now):
    """Contact ids the trigger's inline rule matches (None = no inline rule)."""
    if not trigger.rule:
        return None
    from engine.rules import matching_contacts_select

    return select(matching_contacts_select(trigger.rule, now).subquery().c.contact_id)


def schedule_candidates(trigger, now, occurrence_key):
    """Persona members (optionally narrowed by the inline rule), or the inline rule's matches."""
    key = literal(occurrence_key, type_=String(64)).label("occurrence_key")
    if trigger.persona_id:
        from models import PersonaMember

        stmt = (select(PersonaMember.contact_id.label("contact_id"),
                       Contact.account_id.label("account_id"), key)
                .join(Contact, Contact.id == PersonaMember.contact_id)
                .where(PersonaMember.persona_id == trigger.persona_id))
        narrowed = _rule_filter(trigger, now)
        return stmt if narrowed is None else stmt.where(PersonaMember.contact_id.in_(narrowed))
    if not trigger.rule:
        return None
    from engine.rules import matching_contacts_select

    matches = matching_contacts_select(trigger.rule, now).subquery()
    return select(matches.c.contact_id, matches.c.account_id, key)


def run_schedule(trigger, now) -> dict | None:
    """Generate today's occurrence of a schedule trigger if its time has come and
    nobody generated it yet. One transaction; returns counts or None (skipped)."""
    from engine.scheduling import occurrence_for

    occ = occurrence_for(now, trigger.generate_at, trigger.timezone or "UTC", trigger.send_at)
    if occ is None:
        return None
    key, generate_at, send_at = occ
    if trigger.started_at and generate_at < trigger.started_at:
        return None  # activated after today's generate time: the first run is tomorrow
    candidates = schedule_candidates(trigger, now, key)
    if not lock_schedule_run(trigger.id, key, now, send_at):
        db.session.rollback()
        return None
    counts = {"candidates": 0, "created": 0, "suppressed": 0, "failed": 0}
    if candidates is not None:
        counts = generate(trigger, candidates, now, send_after=send_at)
    _count_run(trigger.id, key, counts)
    db.session.commit()
    return dict(counts, occurrence_key=key)


def _advance_mark(trigger, column, old, new) -> bool:
    """Move a high-water mark forward as the run's first statement (its lock)."""
    stmt = (update(Trigger.__table__).where(Trigger.id == trigger.id, column == old)
            .values({column.key: new}))
    return db.session.connection().execute(stmt).rowcount == 1


def run_transitions(trigger, now) -> dict | None:
    """Fire a persona_enter / persona_leave trigger for transitions newer than its mark."""
    from models import Persona, PersonaTransition as T

    if not trigger.persona_id:
        return None
    kind = "enter" if trigger.kind == "persona_enter" else "leave"
    old = db.session.execute(select(Trigger.last_transition_id)
                             .where(Trigger.id == trigger.id)).scalar() or 0
    where = [T.persona_id == trigger.persona_id, T.kind == kind, T.id > old]
    if old == 0 and trigger.started_at:
        where.append(T.at >= trigger.started_at)  # never fire for history before activation
    new = db.session.execute(select(func.max(T.id)).where(*where[:3])).scalar()
    db.session.rollback()
    if not new or new <= old:
        return None
    if not _advance_mark(trigger, Trigger.last_transition_id, old, new):
        db.session.rollback()
        return None
    where.append(T.id <= new)
    stmt = (select(T.contact_id.label("contact_id"), Contact.account_id.label("account_id"),
                   cast(T.id, String(64)).label("occurrence_key"))
            .join(Contact, Contact.id == T.contact_id).where(*where))
    narrowed = _rule_filter(trigger, now)
    if narrowed is not None:
        stmt = stmt.where(T.contact_id.in_(narrowed))
    persona_name = db.session.execute(select(Persona.name)
                                      .where(Persona.id == trigger.persona_id)).scalar()
    counts = generate(trigger, stmt, now,
                      extra_context={"persona": {"name": persona_name, "transition": kind}})
    db.session.commit()
    return dict(counts, through_transition=new)


def run_events(trigger, now) -> dict | None:
    """Fire an event trigger for new events named trigger.event_name (optional rule filter)."""
    from models import Event

    if not trigger.event_name:
        return None
    old = db.session.execute(select(Trigger.last_event_id)
                             .where(Trigger.id == trigger.id)).scalar() or 0
    where = [Event.name == trigger.event_name, Event.id > old]
    new = db.session.execute(select(func.max(Event.id)).where(*where)).scalar()
    db.session.rollback()
    if not new or new <= old:
        return None
    if old == 0 and trigger.started_at:
        where.append(Event.received_at >= trigger.started_at)
    if not _advance_mark(trigger, Trigger.last_event_id, old, new):
        db.session.rollback()
        return None
    where.append(Event.id <= new)
    stmt = (select(Event.contact_id.label("contact_id"), Contact.account_id.label("account_id"),
                   cast(Event.id, String(64)).label("occurrence_key"),
                   Event.name.label("event_name"), Event.properties.label("event_properties"),
                   Event.occurred_at.label("event_occurred_at"))
            .join(Contact, Contact.id == Event.contact_id).where(and_(*where)))
    narrowed = _rule_filter(trigger, now)
    if narrowed is not None:
        stmt = stmt.where(Event.contact_id.in_(narrowed))
    counts = generate(trigger, stmt, now, extra_cols=("event_name", "event_properties",
                                                      "event_occurred_at"))
    db.session.commit()
    return dict(counts, through_event=new)


RUNNERS = {"schedule": run_schedule, "persona_enter": run_transitions,
           "persona_leave": run_transitions, "event": run_events}


def generate_step(now: datetime) -> dict:
    """Tick step: every active trigger, highest priority first (so the global
    delay sees what higher-priority triggers generated a moment earlier)."""
    from engine.outbox import schedule_auto_sends

    triggers = db.session.execute(
        select(Trigger).where(Trigger.status == "active")
        .order_by(Trigger.priority.desc(), Trigger.id)).scalars().all()
    summary = {}
    for trigger in triggers:
        trigger_id, name = trigger.id, trigger.name
        try:
            counts = RUNNERS.get(trigger.kind, lambda *_: None)(trigger, now)
        except Exception as exc:  # noqa: BLE001 - one broken trigger must not stop the others
            db.session.rollback()
            log.exception("generating trigger %s failed", trigger_id)
            summary[str(trigger_id)] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        if counts is None:
            continue
        summary[str(trigger_id)] = counts
        if counts["created"] and not trigger.requires_approval:
            schedule_auto_sends(trigger_id, now)
        log.info("trigger %s (%s): %s", trigger_id, name, counts)
    return summary
