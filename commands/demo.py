"""`flask nudge seed-demo` and `flask nudge demo-login`: demo data and the demo admin."""
from datetime import datetime, timezone

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from devtools.demo import DEMO_EMAIL, DEMO_PASSWORD, ensure_demo_admin, generate
from extensions import db
from models import Account


def register(group):
    group.add_command(seed_demo)
    group.add_command(demo_login)


def _parse_now(_ctx, _param, value):
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-01-05T09:00:00Z")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc)
    return parsed.replace(tzinfo=None)


@click.command("seed-demo")
@click.option("--accounts", default=500, show_default=True, type=click.IntRange(0))
@click.option("--contacts", default=5000, show_default=True, type=click.IntRange(0))
@click.option("--events", default=100_000, show_default=True, type=click.IntRange(0))
@click.option("--seed", default=42, show_default=True, help="Same seed, same data.")
@click.option("--if-empty", is_flag=True, help="Do nothing when accounts already exist.")
@click.option("--now", callback=_parse_now, help="Generate data as of this UTC instant.")
@click.option("--story/--no-story", default=None,
              help="Also add templates, personas, triggers and two weeks of email history "
                   "(default: on up to 20,000 contacts, where it takes seconds).")
@click.option("--story-days", default=14, show_default=True, type=click.IntRange(1, 60))
@with_appcontext
def seed_demo(accounts, contacts, events, seed, if_empty, now, story, story_days):
    """Create a believable SaaS customer base plus the demo admin login."""
    existing = db.session.scalar(select(func.count()).select_from(Account))
    if if_empty and existing:
        click.echo(f"Demo data skipped: {existing:,} accounts already exist.")
        return
    click.echo(f"Seeding {accounts:,} accounts, {contacts:,} contacts, {events:,} events (seed {seed})...")
    result = generate(db.session, accounts=accounts, contacts=contacts, events=events, seed=seed,
                      now=now, log=lambda line: click.echo(f"  {line}"))
    click.echo(f"Created {result['accounts']:,} accounts, {result['contacts']:,} contacts and "
               f"{result['events']:,} events in {result['seconds']:.1f}s.")
    _echo_login()
    if story is None:
        story = 0 < contacts <= 20_000
    if story and contacts:
        from flask import current_app

        from devtools.demo_story import seed_story
        from models.base import utcnow

        click.echo(f"Running the engine over the last {story_days} days for email history...")
        made = seed_story(current_app._get_current_object(), now or utcnow(), days=story_days, seed=seed)
        click.echo(f"Added {made['triggers']} active triggers and {made['messages']:,} outbox messages.")


@click.command("demo-login")
@with_appcontext
def demo_login():
    """Print the demo admin login (creating it if missing)."""
    _echo_login()


def _echo_login():
    _staff, _created, password_works = ensure_demo_admin(DEMO_PASSWORD)
    if password_works:
        click.echo(f"Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}")
    else:
        click.echo(f"Log in as {DEMO_EMAIL} (its password was changed from the demo default)")
