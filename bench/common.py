"""What every benchmark needs: the app on a given database, throwaway PostgreSQL
databases, and stopping the embedded Redis a run started. Nothing here imports
the app at module level: each benchmark sets NUDGE_INSTANCE_DIR first."""
import os


def make_app(url, testing=True):
    from app import create_app
    from config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        USE_CREATE_ALL = True
        TESTING = testing

    return create_app(BenchConfig)


def pg_databases(url, action, *suffixes) -> list[str]:
    """Drop (and with action="create", create) one database per suffix on url's
    server, named after url's database, the suffix and this process; their URLs."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "postgres://", "postgresql+psycopg://", 1))
    conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)
    names = [f"{u.database}_bench_{suffix}_{os.getpid()}" for suffix in suffixes]
    for name in names:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            conn.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return [u.set(database=name).render_as_string(hide_password=False) for name in names]


def stop_embedded_redis():
    """Shut down the embedded Redis this run started (none when REDIS_URL is set)."""
    from workers.queues import stop_embedded

    stop_embedded()


def run_on_each_database(run, args, sqlite_url, pg_url, name, sqlite=True):
    """run("SQLite", sqlite_url, args), then run("PostgreSQL", ...) on a throwaway
    database when pg_url (the caller's DATABASE_URL) is set; stops the embedded Redis."""
    try:
        if sqlite:
            run("SQLite", sqlite_url, args)
        if pg_url:
            url = pg_databases(pg_url, "create", name)[0]
            try:
                run("PostgreSQL", url, args)
            finally:
                pg_databases(pg_url, "drop", name)
    finally:
        stop_embedded_redis()
