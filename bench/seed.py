"""Demo-data load speed: devtools.demo.generate vs a bare INSERT of the same rows.

    python -m bench.seed [--accounts 500] [--contacts 20000] [--events 400000]
    python -m bench.seed --contacts 100000 --events 2000000    # the seed-demo target

`generate` = building the rows in Python + the bulk write (COPY on PostgreSQL,
chunked executemany on SQLite, indexes rebuilt after a load into empty tables).
The baseline writes the very same pre-built rows with plain executemany into a
fresh database with every index in place, which is what a naive loader does; the
ratio is baseline time / generate time (> 1 means generate wins despite also
building the rows). Temporary SQLite files, plus PostgreSQL when DATABASE_URL is set
(temporary databases `<name>_bench_seed_<pid>_*`, dropped afterwards).
Target: 100k contacts + 2M events in under 3 minutes on SQLite on 2 cores.
"""
import argparse
import os
import random
import resource
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import app as _app_module  # noqa: F401  (SQLite pragmas: WAL, busy timeout)
from engine.db import bulk_load
from devtools import demo
from extensions import db
from sqlalchemy import create_engine, func, select, text

NOW = datetime(2026, 3, 2, 12, 0, 0)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fresh_engine(url):
    import models  # noqa: F401  (every table on the metadata)

    engine = create_engine(url)
    db.metadata.create_all(engine)
    return engine


def run_generate(url, args):
    engine = fresh_engine(url)
    started, cpu = time.perf_counter(), _cpu()
    result = demo.generate(engine, accounts=args.accounts, contacts=args.contacts,
                           events=args.events, seed=args.seed, now=NOW)
    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(db.metadata.tables["events"])).scalar()
    engine.dispose()
    if stored != result["events"]:
        raise SystemExit(f"generate reported {result['events']} events but {stored} are stored")
    return elapsed, cpu, result


def run_baseline(url, args):
    """The same rows, pre-built (not timed), written with plain executemany into indexed tables."""
    rng = random.Random(args.seed)
    now_ts = (NOW - datetime(1970, 1, 1)).total_seconds()
    accts = demo._make_accounts(rng, args.accounts, 1, now_ts)
    people = demo._make_contacts(rng, accts, args.contacts, 1)
    tables = {
        "accounts": (demo.ACCOUNT_COLUMNS, [demo._account_row(a, now_ts) for a in accts]),
        "contacts": (demo.CONTACT_COLUMNS, [demo._contact_row(c, now_ts) for c in people]),
        "events": (demo.EVENT_COLUMNS, list(demo._event_rows(rng, accts, people, args.events, now_ts))),
    }
    engine = fresh_engine(url)
    pg = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    started, cpu = time.perf_counter(), _cpu()
    cur = raw.cursor()
    for table, (columns, rows) in tables.items():
        marks = ", ".join(("%s" if pg else "?") for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        for i in range(0, len(rows), bulk_load.CHUNK):
            cur.executemany(sql, rows[i:i + bulk_load.CHUNK])
    raw.commit()
    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    raw.close()
    engine.dispose()
    return elapsed, cpu


def report(label, args, gen, base):
    (gen_s, gen_cpu, result), (base_s, base_cpu) = gen, base
    rows = result["accounts"] + result["contacts"] + result["events"]
    print(f"\n{label}: {result['accounts']:,} accounts, {result['contacts']:,} contacts, "
          f"{result['events']:,} events")
    print(f"  {'':28} {'wall s':>8} {'CPU s':>8} {'rows/s':>12}")
    print(f"  {'generate (build + write)':28} {gen_s:8.1f} {gen_cpu:8.1f} {rows / gen_s:12,.0f}")
    print(f"  {'bare INSERT (write only)':28} {base_s:8.1f} {base_cpu:8.1f} {rows / base_s:12,.0f}")
    target = ""
    if label == "SQLite" and args.contacts >= 100_000 and args.events >= 2_000_000:
        target = f"   (target < 180 s: {'met' if gen_s < 180 else 'MISSED'})"
    print(f"  ratio bare/generate: {base_s / gen_s:.2f}x wall{target}")


def _pg_urls(url):
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    names = [f"{u.database}_bench_seed_{os.getpid()}_{n}" for n in ("gen", "bare")]
    admin = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                            dbname=u.database, autocommit=True)

    def reset(create):
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                admin.execute(f'CREATE DATABASE "{name}"')

    reset(True)
    return [u.set(database=n).render_as_string(hide_password=False) for n in names], reset


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nudge-bench-seed-"))
    try:
        gen = run_generate(f"sqlite:///{tmp / 'gen.db'}", args)
        base = run_baseline(f"sqlite:///{tmp / 'bare.db'}", args)
        report("SQLite", args, gen, base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    pg_url = os.environ.get("DATABASE_URL", "")
    if pg_url.startswith(("postgres://", "postgresql")):
        (gen_url, bare_url), reset = _pg_urls(pg_url)
        try:
            report("PostgreSQL", args, run_generate(gen_url, args), run_baseline(bare_url, args))
        finally:
            reset(False)


if __name__ == "__main__":
    main()
