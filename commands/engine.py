"""Engine commands: the scheduler tick."""
from datetime import datetime, timezone

import click
from flask.cli import with_appcontext


def register(group):
    group.add_command(tick)


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
