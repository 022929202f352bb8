"""The migrations build exactly the schema the models describe, on this database."""
import os
import subprocess
import sys

import pytest

from tests.databases import flask_db, fresh_database_url


@pytest.mark.xdist_group("migrations")
def test_migrations_match_models(tmp_path):
    url = fresh_database_url(os.environ["NUDGE_BASE_DATABASE_URL"], "migrations",
                             tmp_path / "migrated.db")
    for args in (["upgrade"], ["check"], ["downgrade", "base"], ["upgrade"]):
        flask_db(url, tmp_path, *args)


def _stop_embedded_redis(instance_dir):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    socket_path = instance_dir / "redis.socket"
    if socket_path.exists():
        try:
            redis.Redis(unix_socket_path=str(socket_path), retry=Retry(NoBackoff(), 0)).shutdown(
                nosave=True)
        except redis.RedisError:
            pass  # SHUTDOWN drops the connection


def _counts(url):
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("triggers", "outbox_messages", "delivery_events", "communications",
                            "staff")}
    engine.dispose()
    return counts


@pytest.mark.xdist_group("migrations")
def test_the_latest_migrations_keep_the_data_down_and_up(tmp_path):
    """A batch migration on SQLite copies the table; with foreign keys on, dropping
    the old `triggers` emptied the outbox and its delivery events (seen on
    `make run` after an upgrade)."""
    from tests.databases import ROOT

    url = fresh_database_url(os.environ["NUDGE_BASE_DATABASE_URL"], "migrations_data",
                             tmp_path / "data.db")
    flask_db(url, tmp_path, "upgrade")
    env = dict(os.environ, FLASK_APP="app.py", NUDGE_INSTANCE_DIR=str(tmp_path), DATABASE_URL=url)
    seeded = subprocess.run([sys.executable, "-m", "flask", "nudge", "seed-demo", "--accounts", "60", "--contacts", "600", "--events", "6000"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    _stop_embedded_redis(tmp_path)  # seed-demo rang the doorbell: its redis-server outlives it
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    before = _counts(url)
    assert before["outbox_messages"] and before["delivery_events"]
    flask_db(url, tmp_path, "downgrade", "6927c77fdfb4")  # sessions, keep-queued, sender fields
    assert _counts(url) == before
    flask_db(url, tmp_path, "upgrade")
    assert _counts(url) == before
