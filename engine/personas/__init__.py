"""Persona membership: refresh a persona's members from its rule and record
who entered and who left (the facts persona triggers fire on).

A refresh is a handful of set-based statements in one transaction, whatever
the number of contacts (no Python loop over contacts):
  1. lock the persona row (a no-op UPDATE) so two refreshes of one persona
     run one after the other: the second then sees the first's members and
     finds nothing new. On SQLite the UPDATE also takes the write lock up
     front, so the transaction never has to upgrade a read snapshot (which
     fails with "database is locked" instead of waiting). It also keeps a
     persona's transition ids in commit order, which the persona triggers'
     high-water marks rely on.
  2. INSERT ... SELECT the "enter" transitions: rule matches EXCEPT members.
  3. INSERT ... SELECT the "leave" transitions: members EXCEPT rule matches
     (skipped while the persona has no members: nobody can leave).
  4. apply those new transition rows to persona_members (insert enters with
     ON CONFLICT DO NOTHING as a second guard, delete leavers), then store
     member_count and, for a full refresh, last_refreshed_at.
With contact_ids both sides of the diff are restricted to those contacts.
The caller commits (the refresh job): the persona row stays locked until then.
"""
import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, insert, literal, select, update

from engine.db.upsert import insert_ignoring_duplicates
from engine.ports import doorbell
from extensions import db
from models import Contact, Persona, PersonaMember, PersonaTransition

log = logging.getLogger(__name__)

# Restricted refreshes bind contact ids as parameters; stay far below both
# databases' parameter limits (SQLite 32766, PostgreSQL 65535).
CONTACT_CHUNK = 2000
# A full refresh is due this long after the last one (the tick runs every minute).
DEFAULT_REFRESH_MINUTES = 15


def refresh_persona(persona_id: int, now: datetime, contact_ids: list[int] | None = None) -> dict:
    """Diff the persona's stored members against its rule as of `now`, in SQL.

    Writes PersonaMember + PersonaTransition rows (kind enter/leave, at=now);
    `contact_ids` restricts both sides of the diff to those contacts (used
    right after events arrive). Does not commit. Returns {"entered": n, "left": m}. Raises
    engine.rules.RuleError when the stored rule is invalid, LookupError when
    the persona does not exist.
    """
    from engine.rules import matching_contacts_select, parse_rule

    persona = db.session.get(Persona, persona_id)
    if persona is None:
        raise LookupError(f"persona {persona_id} does not exist")
    rule = parse_rule(persona.rule or {})
    if contact_ids is not None:
        ids = sorted({int(c) for c in contact_ids})
        totals = {"entered": 0, "left": 0}
        for start in range(0, len(ids), CONTACT_CHUNK):
            part = _diff(persona_id, rule, now, ids[start:start + CONTACT_CHUNK],
                         matching_contacts_select, full=False)
            totals["entered"] += part["entered"]
            totals["left"] += part["left"]
        return totals
    return _diff(persona_id, rule, now, None, matching_contacts_select, full=True)


def _diff(persona_id, rule, now, contact_ids, matching_contacts_select, *, full: bool) -> dict:
    session = db.session
    # 1. Serialise refreshes of this persona (row lock / SQLite write lock).
    session.execute(
        update(Persona).where(Persona.id == persona_id)
        .values(member_count=Persona.member_count)
    )
    high_water = session.scalar(
        select(func.coalesce(func.max(PersonaTransition.id), 0))
        .where(PersonaTransition.persona_id == persona_id)
    )
    rule_select = matching_contacts_select(rule, now)  # contacts JOIN accounts
    members = select(PersonaMember.contact_id).where(PersonaMember.persona_id == persona_id)
    if contact_ids is not None:
        # Restrict inside the rule's select so the planner can start from these ids.
        rule_select = rule_select.where(Contact.id.in_(contact_ids))
        members = members.where(PersonaMember.contact_id.in_(contact_ids))
    matches = rule_select.subquery("matches")
    match_ids = select(matches.c.contact_id)
    columns = ["persona_id", "contact_id", "kind", "at"]

    # 2. Entered: matches EXCEPT current members.
    entered = match_ids.except_(members).subquery("entered")
    session.execute(insert(PersonaTransition).from_select(columns, select(
        literal(persona_id), entered.c.contact_id, literal("enter"), literal(now)
    )))
    # 3. Left: current members EXCEPT matches (nobody can leave an empty persona,
    #    which spares the first refresh a second evaluation of the rule).
    if session.scalar(select(members.exists())):
        left = members.except_(match_ids).subquery("left")
        session.execute(insert(PersonaTransition).from_select(columns, select(
            literal(persona_id), left.c.contact_id, literal("leave"), literal(now)
        )))

    # 4. Apply the transitions written just now to the membership table.
    new_rows = and_(PersonaTransition.persona_id == persona_id,
                    PersonaTransition.id > high_water)
    # (rowcount of INSERT ... SELECT is not reported by every driver: count instead)
    counts = dict(session.execute(
        select(PersonaTransition.kind, func.count()).where(new_rows)
        .group_by(PersonaTransition.kind)
    ).all())
    n_entered, n_left = counts.get("enter", 0), counts.get("leave", 0)
    if n_entered:
        session.execute(insert_ignoring_duplicates(PersonaMember).from_select(
            ["persona_id", "contact_id", "entered_at"],
            select(PersonaTransition.persona_id, PersonaTransition.contact_id,
                   PersonaTransition.at).where(new_rows, PersonaTransition.kind == "enter"),
        ))
    if n_left:
        session.execute(delete(PersonaMember).where(
            PersonaMember.persona_id == persona_id,
            PersonaMember.contact_id.in_(select(PersonaTransition.contact_id)
                                         .where(new_rows, PersonaTransition.kind == "leave")),
        ))

    values = {"member_count": select(func.count()).select_from(PersonaMember)
              .where(PersonaMember.persona_id == persona_id).scalar_subquery()}
    if full:  # "last refreshed" means the whole membership was re-evaluated
        values["last_refreshed_at"] = now
    session.execute(update(Persona).where(Persona.id == persona_id).values(**values))
    return {"entered": n_entered, "left": n_left}


def refresh_all_personas(now: datetime) -> dict:
    """Refresh every persona inline, in the caller's transaction.

    Returns {persona_id: {"entered", "left"}} with {"error": "..."} for a
    persona whose rule no longer validates (the others still refresh).
    """
    from engine.rules import RuleError

    results = {}
    for persona_id in db.session.scalars(select(Persona.id).order_by(Persona.id)).all():
        try:
            results[persona_id] = refresh_persona(persona_id, now)
        except LookupError:  # deleted since the list was read
            continue
        except RuleError as exc:
            log.warning("persona %s has an invalid rule: %s", persona_id, exc)
            results[persona_id] = {"error": str(exc)}
    return results


def due_persona_ids(now: datetime, every_minutes: int = DEFAULT_REFRESH_MINUTES) -> list[int]:
    """Personas never refreshed, or last refreshed at least `every_minutes` before `now`."""
    cutoff = now - timedelta(minutes=every_minutes)
    return list(db.session.scalars(
        select(Persona.id).where(
            (Persona.last_refreshed_at.is_(None)) | (Persona.last_refreshed_at <= cutoff)
        ).order_by(Persona.id)
    ))


def personas_refresh_step(now: datetime) -> dict:
    """Tick step: ring for a refresh of each due persona.

    The tick only rings the doorbell, so a slow persona never holds up the
    rest of the tick; a refresh still waiting is not asked for again by later
    ticks. The ring carries `now` so a tick run "as of" an instant refreshes
    as of that instant too.
    """
    from flask import current_app

    every = int(current_app.config.get("PERSONA_REFRESH_MINUTES", DEFAULT_REFRESH_MINUTES))
    bell = doorbell()
    enqueued, skipped = 0, 0
    for persona_id in due_persona_ids(now, every):
        if bell.refresh_persona(persona_id, now):
            enqueued += 1
        else:
            skipped += 1
    return {"enqueued": enqueued, "already_queued": skipped}


def refresh_personas_for_contacts(contact_ids: list[int], now: datetime) -> dict:
    """Refresh every persona for just these contacts (after their events arrived),
    in the caller's transaction."""
    from engine.rules import RuleError

    results = {}
    for persona_id in db.session.scalars(select(Persona.id).order_by(Persona.id)).all():
        try:
            results[persona_id] = refresh_persona(persona_id, now, contact_ids)
        except RuleError as exc:
            results[persona_id] = {"error": str(exc)}
        except LookupError:  # deleted since the list was read
            continue
    return results


def ring_refresh_for_contacts(contact_ids: list[int]) -> None:
    """Ring for every persona to be refreshed for just these contacts (after their
    events arrived). Nothing is asked for when there are no personas or no contacts;
    the refresh evaluates the rules when it runs (the events are already stored)."""
    ids = sorted({int(c) for c in contact_ids or []})
    if not ids or not db.session.scalar(select(exists().where(Persona.id.isnot(None)))):
        return
    doorbell().refresh_personas_for_contacts(ids)


def transition_counts(persona_ids: list[int], since: datetime) -> dict:
    """{persona_id: {"enter": n, "leave": m}} for transitions at or after `since`."""
    if not persona_ids:
        return {}
    rows = db.session.execute(
        select(PersonaTransition.persona_id, PersonaTransition.kind, func.count())
        .where(PersonaTransition.persona_id.in_(persona_ids), PersonaTransition.at >= since)
        .group_by(PersonaTransition.persona_id, PersonaTransition.kind)
    ).all()
    out = {pid: {"enter": 0, "leave": 0} for pid in persona_ids}
    for pid, kind, n in rows:
        out[pid][kind] = n
    return out


def daily_transitions(persona_id: int, now: datetime, days: int = 30) -> list[dict]:
    """One row per UTC day of the last `days` days (oldest first): {"day", "enter", "leave"}."""
    first = (now - timedelta(days=days - 1)).date()
    day = func.date(PersonaTransition.at)
    rows = db.session.execute(
        select(day, PersonaTransition.kind, func.count())
        .where(PersonaTransition.persona_id == persona_id,
               PersonaTransition.at >= datetime.combine(first, datetime.min.time()))
        .group_by(day, PersonaTransition.kind)
    ).all()
    counts = {}
    for d, kind, n in rows:  # SQLite returns text, PostgreSQL a date
        counts[(str(d)[:10], kind)] = n
    out = []
    for i in range(days):
        d = first + timedelta(days=i)
        key = d.isoformat()
        out.append({"day": d, "enter": counts.get((key, "enter"), 0),
                    "leave": counts.get((key, "leave"), 0)})
    return out
