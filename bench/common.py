"""What every benchmark needs: the app on a given database, throwaway PostgreSQL
databases, stopping the embedded Redis a run started, and timing. Nothing here
imports the app at module level: each benchmark sets NUDGE_INSTANCE_DIR first."""
import os
import time


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


def timed(fn):
    """(wall seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def best_of(rounds, fn, reset, cpu=None):
    """The fastest of `rounds` runs (the machine is shared; noise only slows runs down),
    calling reset() between them. `cpu`, a list: gets this process's CPU seconds of
    each round (reporting only)."""
    best = None
    for i in range(rounds):
        if i:
            reset()
        started = time.process_time()
        seconds, result = timed(fn)
        if cpu is not None:
            cpu.append(time.process_time() - started)
        if best is None or seconds < best[0]:
            best = (seconds, result)
    return best
