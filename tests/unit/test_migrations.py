"""The migrations build exactly the schema the models describe, on this database."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("migrations")
def test_migrations_match_models(tmp_path):
    env = dict(os.environ, FLASK_APP="app.py", NUDGE_INSTANCE_DIR=str(tmp_path))
    base = os.environ["NUDGE_BASE_DATABASE_URL"]
    if not base:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(base)
        name = f"{url.database}_migrations"
        with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                             dbname=url.database, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = url.set(database=name).render_as_string(hide_password=False)
    flask = [sys.executable, "-m", "flask"]
    for args in (["db", "upgrade"], ["db", "check"], ["db", "downgrade", "base"], ["db", "upgrade"]):
        result = subprocess.run(flask + args, cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"flask {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
