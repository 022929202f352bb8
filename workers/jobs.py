"""RQ entry points only: open an app context, load ids, call engine/, commit.

Each job is an orchestrator (engine/__init__.py): the engine functions it
calls do not commit, the job does (or rolls back when they raise).
"""
from contextlib import contextmanager

_app = None


@contextmanager
def app_context():
    """Reuse the caller's app context (tests, SimpleWorker) or make one."""
    global _app
    from flask import has_app_context

    if has_app_context():
        yield
        return
    if _app is None:
        from app import create_app

        _app = create_app()
    with _app.app_context():
        yield


@contextmanager
def committed():
    """The job's transaction: committed when the block succeeds, rolled back when it raises."""
    from extensions import db

    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def tick_job(now_iso: str | None = None):
    from datetime import datetime

    from engine.tick import run_tick

    with app_context():
        now = datetime.fromisoformat(now_iso) if now_iso else None
        return run_tick(now)


def refresh_persona_job(persona_id: int, contact_ids=None, now_iso: str | None = None):
    """Refresh one persona's membership (all contacts, or just `contact_ids`)."""
    from datetime import datetime

    from engine.personas import refresh_persona
    from models.base import utcnow

    with app_context():
        now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
        try:
            with committed():
                return refresh_persona(persona_id, now, contact_ids)
        except LookupError:
            return {"skipped": "persona deleted"}


def refresh_contacts_personas_job(contact_ids, now_iso: str | None = None):
    """Refresh every persona for just these contacts (queued after events arrive)."""
    from datetime import datetime

    from engine.personas import refresh_personas_for_contacts
    from models.base import utcnow

    with app_context(), committed():
        now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
        return refresh_personas_for_contacts(contact_ids, now)


def import_job(import_id: int):
    """Run one CSV import (Settings -> Import); a duplicate delivery is a no-op.
    run_import is the job's body and commits each chunk itself."""
    from engine.contacts.imports import run_import

    with app_context():
        return run_import(import_id)


def send_batch_job(now_iso: str | None = None, budget_seconds: float | None = None):
    """Claim due outbox messages in batches and send each batch over one SMTP
    connection (queue "emails"). A duplicate or late job finds nothing to claim.
    `now_iso`: the enqueuing tick's clock, used when it is ahead of real time."""
    from datetime import datetime

    from engine.sending.loop import JOB_BUDGET_SECONDS, offset_clock, send_due

    with app_context():
        as_of = datetime.fromisoformat(now_iso) if now_iso else None
        return send_due(clock=offset_clock(as_of),
                        budget_seconds=budget_seconds or JOB_BUDGET_SECONDS)


def render_outbox_job(trigger_id: int, shard: int = 0, shards: int = 1):
    """Render one id shard of a trigger's freshly generated messages (queue "default"),
    committing each batch: a big shard never holds the database's write lock for long."""
    from engine.render.messages import BATCH, render_pending
    from models.base import utcnow

    with app_context():
        done, after = {"rendered": 0, "failed": 0}, 0
        while True:
            with committed():
                part = render_pending(utcnow(), trigger_id=trigger_id, shard=(shard, shards),
                                      limit=BATCH, after=after)
            done, after = {k: done[k] + part[k] for k in done}, part["after"]
            if part["rendered"] + part["failed"] < BATCH:  # each batch leaves the unrendered set
                return done
