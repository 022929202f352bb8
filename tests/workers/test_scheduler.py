"""`flask nudge scheduler`: RQ's cron scheduler enqueues the tick every minute, and two
schedulers at once are safe (real Redis, real processes)."""
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import rq.cron
from rq.cron import CronScheduler

from commands.core import tick_cron
from models import TickRun
from workers.queues import get_queue, get_redis

REPO = Path(__file__).resolve().parents[2]
TICK_JOB = "workers.jobs.tick_job"


def test_the_tick_is_enqueued_at_start_and_then_every_minute(app, run_jobs, monkeypatch):
    cron = tick_cron(get_redis())
    [job] = cron.get_jobs()
    assert (job.func_name, job.queue_name, job.interval) == (TICK_JOB, "ticks", 60)
    start = rq.cron.now()
    clock = [start]
    monkeypatch.setattr(rq.cron, "now", lambda: clock[0])  # rq.cron reads the time through it

    assert cron.enqueue_jobs() == [job]  # right away
    assert cron.enqueue_jobs() == []
    clock[0] = start + timedelta(seconds=59)
    assert cron.enqueue_jobs() == [] and 0 < cron.calculate_sleep_interval() <= 1
    clock[0] = start + timedelta(seconds=60)
    assert cron.enqueue_jobs() == [job]
    ticks = get_queue("ticks")
    assert [j.func_name for j in ticks.get_jobs()] == [TICK_JOB, TICK_JOB]
    assert ticks.get_jobs()[0].timeout == 300

    run_jobs()
    assert TickRun.query.count() == 2 and ticks.count == 0


def _scheduler(log):
    env = {**os.environ, "FLASK_APP": "app.py", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "flask", "nudge", "scheduler", "--interval", "1"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_two_schedulers_run_side_by_side_and_one_keeps_ticking_when_the_other_dies(app, tmp_path):
    connection, ticks = get_redis(), get_queue("ticks")
    logs = [open(tmp_path / f"scheduler-{i}.log", "w+") for i in range(2)]
    first, second = (_scheduler(log) for log in logs)
    try:
        _wait_for(lambda: len(CronScheduler.all(connection)) == 2)
        seen = ticks.count
        _wait_for(lambda: ticks.count >= seen + 4)  # both enqueue every second
        assert first.poll() is None and second.poll() is None

        first.kill()  # dies without saying goodbye
        first.wait(timeout=10)
        seen = ticks.count
        _wait_for(lambda: ticks.count >= seen + 2)
        assert second.poll() is None
        assert {j.func_name for j in ticks.get_jobs()} == {TICK_JOB}

        second.send_signal(signal.SIGTERM)  # stops cleanly and leaves the registry
        assert second.wait(timeout=20) == 0
        assert [s.pid for s in CronScheduler.all(connection, cleanup=False)] == [first.pid]
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.seek(0)
            output = log.read()
            log.close()
            assert "Traceback" not in output, output
