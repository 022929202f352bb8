"""The scheduler tick: everything time-driven, as of an explicit `now`.

Safe to run concurrently and repeatedly: every step is idempotent in the
database (unique keys, conditional updates), so Redis may deliver the tick
job twice or not at all without harm.
"""
from datetime import datetime
from time import perf_counter

from engine.bounces.imap import bounce_imap_step
from engine.outbox.sweeps import expire_stuck_step, send_sweep_step
from engine.personas import personas_refresh_step
from engine.render.messages import render_sweep_step
from engine.reports.fold import report_fold_step
from engine.triggers.generate import generate_step
from extensions import db
from models import TickRun
from models.base import utcnow

# In order, each takes `now` and returns a summary dict: ring for due persona
# refreshes; generate due triggers (highest priority first); render what is
# still unrendered; turn stuck `sending` rows into `uncertain`; ring for send
# jobs for everything due in the database; fold new delivery events into the
# report aggregates (after reading the bounce mailbox, when BOUNCE_IMAP_URL is set).
TICK_STEPS = (personas_refresh_step, generate_step, render_sweep_step,
              expire_stuck_step, send_sweep_step, bounce_imap_step, report_fold_step)
# The stored summary (TickRun.summary) also keeps, under this key, when each step
# started and how long it took: {step: {"started_at": iso UTC, "seconds": float}}.
# The returned summary is the steps' results only.
TIMING_KEY = "_timings"


def run_tick(now: datetime | None = None) -> dict:
    """The orchestrator: records the run and commits around the steps."""
    now = now or utcnow()
    run = TickRun(as_of=now, started_at=utcnow())
    db.session.add(run)
    db.session.commit()
    summary, timings = {}, {}
    for step in TICK_STEPS:
        began, clock = utcnow(), perf_counter()
        summary[step.__name__] = step(now)
        timings[step.__name__] = {"started_at": began.isoformat(),
                                  "seconds": round(perf_counter() - clock, 4)}
    run.finished_at = utcnow()
    run.summary = {**summary, TIMING_KEY: timings}
    db.session.commit()
    return summary
