"""The scheduler tick: everything time-driven, as of an explicit `now`.

Safe to run concurrently and repeatedly: every step is idempotent in the
database (unique keys, conditional updates), so Redis may deliver the tick
job twice or not at all without harm.
"""
from datetime import datetime

from extensions import db
from models import TickRun
from models.base import utcnow

# Steps run in order; each takes `now` and returns a summary dict.
TICK_STEPS: list = []


def run_tick(now: datetime | None = None) -> dict:
    now = now or utcnow()
    run = TickRun(as_of=now, started_at=utcnow())
    db.session.add(run)
    db.session.commit()
    summary = {}
    for step in TICK_STEPS:
        summary[step.__name__] = step(now)
    run.finished_at = utcnow()
    run.summary = summary
    db.session.commit()
    return summary

# Persona membership refresh: enqueues one job per due persona (engine/personas.py).
from engine.personas import personas_refresh_step  # noqa: E402

TICK_STEPS.append(personas_refresh_step)

# The engine (engine/generate.py, outbox_render.py, sweeps.py): generate outbox
# messages for due triggers (highest priority first), render what is still
# unrendered, turn stuck `sending` rows into `uncertain`, then enqueue send
# jobs for everything due in the database.
from engine.triggers.generate import generate_step  # noqa: E402
from engine.render.messages import render_sweep_step  # noqa: E402
from engine.outbox.sweeps import expire_stuck_step, send_sweep_step  # noqa: E402

TICK_STEPS.extend([generate_step, render_sweep_step, expire_stuck_step, send_sweep_step])

# Fold new delivery events into the report aggregates (engine/report_fold.py).
from engine.reports.fold import report_fold_step  # noqa: E402

TICK_STEPS.append(report_fold_step)
