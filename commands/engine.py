"""Engine commands: the scheduler tick, sending, the report aggregates."""
from datetime import datetime, timezone

import click
from flask.cli import with_appcontext


def register(group):
    group.add_command(tick)
    group.add_command(send_due_command)
    group.add_command(outbox_counts)
    group.add_command(rebuild_reports)
    group.add_command(rebuild_rollups)


def parse_instant(value: str | None) -> datetime | None:
    """ISO-8601 instant -> naive UTC (the storage convention)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO-8601, e.g. 2026-01-05T09:00:00Z", param_hint="--now")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


@click.command("tick")
@click.option("--now", "now_text", help="Run as of this instant (ISO-8601, default: now).")
@with_appcontext
def tick(now_text):
    """One scheduler tick, synchronously."""
    from engine.tick import run_tick

    summary = run_tick(parse_instant(now_text))
    click.echo(f"Tick done: {summary}")


@click.command("send-due")
@click.option("--now", "now_text", help="Send what is due as of this instant (default: now).")
@with_appcontext
def send_due_command(now_text):
    """Send every due outbox message from this process (no worker needed)."""
    from engine.sending.loop import offset_clock, send_due

    stats = send_due(clock=offset_clock(parse_instant(now_text)), budget_seconds=3600)
    click.echo(f"Sent {stats['sent']}, failed {stats['failed']}, retry later {stats['retry']}, "
               f"uncertain {stats['uncertain']} ({stats['batches']} batches)")
    if stats.get("connect_error"):
        raise click.ClickException(f"could not reach the mail server: {stats['connect_error']}")


@click.command("outbox")
@with_appcontext
def outbox_counts():
    """How many outbox messages are in each state."""
    from engine.outbox import counts_by_state

    for state, count in counts_by_state().items():
        click.echo(f"{state:>17}  {count}")


@click.command("rebuild-reports")
@click.option("--trigger", "trigger_ids", type=int, multiple=True,
              help="Only this trigger (repeatable; default: every trigger).")
@with_appcontext
def rebuild_reports(trigger_ids):
    """Recompute the report aggregates exactly from the delivery events."""
    import time

    from engine.reports.rebuild import rebuild
    from extensions import db
    from models.base import utcnow

    started = time.perf_counter()
    summary = rebuild(utcnow(), list(trigger_ids) or None)
    db.session.commit()
    click.echo(f"Reports rebuilt: {summary['days']} trigger-days in {time.perf_counter() - started:.1f} s")


@click.command("rebuild-rollups")
@with_appcontext
def rebuild_rollups():
    """Recompute the daily event rollup (event_days) exactly from the stored events."""
    import time

    from engine.contacts.event_days import rebuild
    from extensions import db

    started = time.perf_counter()
    rows = rebuild(db.session.connection())
    db.session.commit()
    click.echo(f"Event rollups rebuilt: {rows:,} contact-days in {time.perf_counter() - started:.1f} s")
