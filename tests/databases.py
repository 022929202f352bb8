"""Fresh databases for tests: the xdist worker's own, and scratch ones that
migration tests build with `flask db`. Nothing here imports the app."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_database_url(base: str, suffix: str, sqlite_path: Path) -> str:
    """An empty database: on PostgreSQL `<base's database>_<suffix>` on base's
    server (dropped first if left over); a SQLite file at sqlite_path when base is empty."""
    if not base:
        return f"sqlite:///{sqlite_path}"
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{url.database}_{suffix}"
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                         password=url.password, dbname=url.database, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def flask_db(url: str, instance_dir: Path, *args: str) -> None:
    """Run `flask db <args>` against url in a subprocess; fail with its output."""
    env = dict(os.environ, FLASK_APP="app.py", NUDGE_INSTANCE_DIR=str(instance_dir), DATABASE_URL=url)
    result = subprocess.run([sys.executable, "-m", "flask", "db", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"flask db {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
