"""Fault-suite helpers: real `flask nudge worker` processes against the test's
database and Redis, bulk test data, and a loop that plays the scheduler tick."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from extensions import db
from models import Account, Contact, OutboxMessage, Trigger
from models.base import utcnow

REPO = Path(__file__).resolve().parents[2]
FINAL = ("sent", "failed", "uncertain")


def pytest_collection_modifyitems(items):
    # One xdist worker runs the whole fault suite: its processes need the CPU.
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.xdist_group("faults"))


class WorkerPool:
    """`flask nudge worker` subprocesses (each in its own session); kill -9
    takes a worker and its work horse together."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir = env, log_dir
        self.procs: list[subprocess.Popen] = []
        self.kills = 0

    def start(self, n: int = 1):
        for _ in range(n):
            log = open(self.log_dir / f"worker-{len(self.procs) + self.kills}-{time.time():.0f}.log", "w")
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "nudge", "worker"], cwd=REPO, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def busy(self) -> list[subprocess.Popen]:
        """Workers running a job right now (RQ forks a work horse per job)."""
        import psutil

        found = []
        for proc in self.procs:
            try:
                if proc.poll() is None and psutil.Process(proc.pid).children():
                    found.append(proc)
            except psutil.NoSuchProcess:
                pass
        return found

    def kill_one(self, timeout: float = 20) -> bool:
        """kill -9 a worker in the middle of a job (worker + horse). False if none got busy."""
        deadline = time.monotonic() + timeout
        while not self.busy():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        time.sleep(random.uniform(0, 0.3))  # somewhere inside the batch
        candidates = self.busy()
        if not candidates:
            return False
        proc = random.choice(candidates)
        self._kill(proc)
        self.procs.remove(proc)
        self.kills += 1
        return True

    @staticmethod
    def _kill(proc):
        """SIGKILL the worker and its work horses (RQ puts each horse in its own
        process group, so killing the worker's group alone would spare them)."""
        import psutil

        try:
            horses = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            horses = []
        for horse in horses:
            try:
                horse.kill()
            except psutil.NoSuchProcess:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def keep_alive(self, n: int):
        """Restart workers that died (a supervisor does this in production)."""
        self.procs = [p for p in self.procs if p.poll() is None]
        if len(self.procs) < n:
            self.start(n - len(self.procs))

    def stop(self):
        for proc in self.procs:
            self._kill(proc)
        self.procs = []


@pytest.fixture
def process_env(app, smtp_sink, tmp_path):
    """Environment for child processes: this test's database, Redis, sink and instance dir."""
    env = dict(os.environ)
    env.update(
        FLASK_APP="app.py", DATABASE_URL=os.environ["DATABASE_URL"],
        SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_sink.port), SMTP_STARTTLS="0",
        SENDING_LEASE_SECONDS="5", SEND_BATCH_SIZE="50", SEND_RATE_PER_SECOND="0",
        PYTHONUNBUFFERED="1",
    )
    if app.config.get("REDIS_URL"):
        env["REDIS_URL"] = app.config["REDIS_URL"]
    app.config.update(SENDING_LEASE_SECONDS=5, SEND_BATCH_SIZE=50)
    return env


@pytest.fixture
def workers(process_env, tmp_path):
    pool = WorkerPool(process_env, tmp_path)
    yield pool
    pool.stop()


def bulk_approved(n: int, *, subject="Your weekly summary", html=None) -> list[int]:
    """n contacts (one account) with one approved, due outbox message each."""
    now = utcnow()
    account_id = db.session.execute(insert(Account.__table__).values(
        external_id=f"fault-acc-{time.time_ns()}", name="Fault Co", status="active",
        attributes={}, created_at=now).returning(Account.id)).scalar_one()
    trigger = Trigger(name="Fault trigger", from_email="success@example.com", subject=subject,
                      html=html or "<p>Hello</p>", status="active", rule={"all": []})
    db.session.add(trigger)
    db.session.flush()
    tag = time.time_ns()
    db.session.execute(insert(Contact.__table__), [
        dict(external_id=f"fault-{tag}-{i}", account_id=account_id, email=f"user{i}@example.com",
             first_name=f"User{i}", is_crm_contact=False, is_product_user=True, created_at=now,
             attributes={}) for i in range(n)])
    contact_ids = db.session.execute(select(Contact.id).where(Contact.account_id == account_id)
                                     .order_by(Contact.id)).scalars().all()
    db.session.execute(insert(OutboxMessage.__table__), [
        dict(trigger_id=trigger.id, contact_id=cid, account_id=account_id, occurrence_key="fault",
             to_email=f"user{i}@example.com", subject=subject, html=html or "<p>Hello</p>",
             text="Hello", state="approved", created_at=now, updated_at=now, attempts=0)
        for i, cid in enumerate(contact_ids)])
    db.session.commit()
    return db.session.execute(select(OutboxMessage.id).where(OutboxMessage.trigger_id == trigger.id)
                              .order_by(OutboxMessage.id)).scalars().all()


def states(ids=None) -> dict:
    db.session.expire_all()
    stmt = select(OutboxMessage.state, db.func.count()).group_by(OutboxMessage.state)
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    return dict(db.session.execute(stmt).all())


def play_ticks_until_settled(timeout: float, *, workers=None, keep=0, interval=0.5,
                             on_round=None) -> dict:
    """The scheduler's job, every `interval` seconds: expire stuck `sending`
    rows and sweep due messages into send jobs, until every message is in a
    final state. Returns the final state counts."""
    from engine.outbox.sweeps import expire_stuck_step, send_sweep_step

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = utcnow()
        expire_stuck_step(now)
        send_sweep_step(now)
        if workers is not None:
            workers.keep_alive(keep)
        if on_round:
            on_round()
        counts = states()
        if counts and set(counts) <= set(FINAL):
            return counts
        time.sleep(interval)
    raise AssertionError(f"not settled after {timeout}s: {states()}")
