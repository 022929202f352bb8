"""The daily event rollup (models/event_day.py): maintained with the events.

Every path that stores events adds to it in the same transaction, set-based:
  add_stored_events(rows)   the ingest API / CSV path: the events actually stored
                            in a batch, counted in Python, ONE INSERT ... ON
                            CONFLICT add (re-sent external ids never get here)
  add_from_events(conn, ..) bulk loads (the demo generator, bench data): ONE
                            INSERT ... SELECT grouped from the stored events
  rebuild(conn)             recompute the whole table from the events
                            (`flask nudge rebuild-rollups`)
ORM writes of Event objects (the demo story, test factories) are kept in step
by a Session after_flush listener (register_orm_listener, called by create_app):
one statement per flush, however many events it holds.
A contact's rows go with it (foreign key ON DELETE CASCADE).
"""
from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, event, func, inspect, select, true, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Event, EventDay

TABLE = EventDay.__table__
EVENTS = Event.__table__


def day_of_column(occurred_at, dialect_name: str):
    """The UTC day of a stored naive-UTC time, exactly: SQLite stores times as
    'YYYY-MM-DD HH:MM:SS.ffffff' text, whose first ten characters are the day in
    the Date column's own text form (date() would round 23:59:59.9995 up)."""
    if dialect_name == "sqlite":
        return func.substr(occurred_at, 1, 10)
    return func.cast(occurred_at, TABLE.c.day.type)


def _upsert_adding(dialect_name: str):
    stmt = (postgresql.insert(TABLE) if dialect_name == "postgresql" else sqlite.insert(TABLE))
    return stmt.on_conflict_do_update(
        index_elements=["contact_id", "name", "day"],
        set_={"count": TABLE.c["count"] + stmt.excluded["count"]})


def _apply(conn, counts: Counter) -> None:
    """Add signed counts {(contact_id, name, day): n} to the table in one statement;
    rows a negative count brings to zero are removed (one more, only then)."""
    rows = [{"contact_id": c, "name": n, "day": d, "count": k}
            for (c, n, d), k in sorted(counts.items()) if k]  # sorted: one lock order
    if not rows:
        return
    conn.execute(_upsert_adding(conn.dialect.name), rows)
    if any(r["count"] < 0 for r in rows):
        keys = [(r["contact_id"], r["name"], r["day"]) for r in rows if r["count"] < 0]
        conn.execute(delete(TABLE).where(
            TABLE.c["count"] <= 0,
            tuple_(TABLE.c.contact_id, TABLE.c.name, TABLE.c.day).in_(keys)))


def add_stored_events(conn, rows) -> None:
    """rows: (contact_id, name, occurred_at) of the events a batch actually stored."""
    _apply(conn, Counter((cid, name, at.date()) for cid, name, at in rows))


def add_from_events(conn, *, min_contact_id: int | None = None) -> int:
    """Roll up the stored events (of contacts with id >= min_contact_id: a bulk load
    of new contacts) into the table, adding to what is there. Returns the rows written."""
    E = EVENTS
    day = day_of_column(E.c.occurred_at, conn.dialect.name)
    # WHERE always present: SQLite reads the ON of an upsert after a bare
    # SELECT ... FROM as a join constraint.
    grouped = select(E.c.contact_id, E.c.name, day.label("day"), func.count()).where(
        true() if min_contact_id is None else E.c.contact_id >= min_contact_id
    ).group_by(E.c.contact_id, E.c.name, day)
    stmt = _upsert_adding(conn.dialect.name).from_select(
        ["contact_id", "name", "day", "count"], grouped)
    return conn.execute(stmt).rowcount


def rebuild(conn) -> int:
    """Recompute the whole rollup from the events (in the caller's transaction)."""
    conn.execute(delete(TABLE))
    return add_from_events(conn)


# -- ORM writes --------------------------------------------------------------
_MOVED = ("contact_id", "name", "occurred_at")
_PENDING = "event_days_pending"


def _before_flush(session, _flush_context, _instances):
    """Take the stored (old) values of the Event rows this flush deletes or moves
    off the rollup; read from the database, as an expired object knows no old value."""
    dirty = [obj for obj in session.dirty if isinstance(obj, Event) and obj not in session.deleted
             and any(inspect(obj).attrs[k].history.has_changes() for k in _MOVED)]
    gone = [obj for obj in session.deleted if isinstance(obj, Event)]
    ids = [obj.id for obj in dirty + gone if obj.id is not None]
    counts = Counter()
    if ids:
        E = EVENTS.c
        for cid, name, at in session.connection().execute(
                select(E.contact_id, E.name, E.occurred_at).where(E.id.in_(ids))):
            counts[(cid, name, at.date())] -= 1
    session.info[_PENDING] = (counts, dirty)


def _after_flush(session, _flush_context):
    counts, dirty = session.info.pop(_PENDING, (Counter(), []))
    for obj in list(session.new) + dirty:
        if isinstance(obj, Event):
            counts[(obj.contact_id, obj.name, obj.occurred_at.date())] += 1
    if counts:
        _apply(session.connection(), counts)


def register_orm_listener() -> None:
    for name, fn in (("before_flush", _before_flush), ("after_flush", _after_flush)):
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


__all__ = ["add_stored_events", "add_from_events", "rebuild", "day_of_column",
           "register_orm_listener"]
