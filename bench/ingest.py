"""Ingest throughput: the JSON API (via the Flask test client, batches of 1,000)
vs a bare DBAPI executemany INSERT of the same rows, in the same run.

    python -m bench.ingest [--contacts 20000] [--events 100000] [--batch 1000]

Runs on a fresh temporary SQLite database, and also on PostgreSQL when
DATABASE_URL is set (in a temporary database `<name>_bench_<pid>` created on
that server and dropped afterwards; your data is not touched). Target: API
>= 0.3x the bare INSERT rate on SQLite.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="nudge-bench-"))
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")
_PG_URL = os.environ.pop("DATABASE_URL", "")

ROLES = ("admin", "user", "analyst", "owner", "viewer")
ZONES = ("Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo")
EVENT_NAMES = ("login", "report_created", "dashboard_viewed", "export", "invite_sent")


def make_items(n_accounts, n_contacts, n_events, seed=7):
    rnd = random.Random(seed)
    base = datetime(2026, 1, 1)
    accounts = [{"external_id": f"acc-{i}", "name": f"Account {i}", "arr": rnd.randint(1, 500) * 1000,
                 "plan": rnd.choice(("starter", "pro", "enterprise")), "status": "active",
                 "attributes": {"region": rnd.choice(("EU", "US", "APAC"))}} for i in range(n_accounts)]
    contacts = [{
        "external_id": f"user-{i}", "account_external_id": f"acc-{rnd.randrange(n_accounts)}",
        "email": f"user.{i}@customer{i % 97}.example.com", "first_name": f"First{i}",
        "last_name": f"Last{i}", "role": rnd.choice(ROLES), "is_crm_contact": rnd.random() < 0.2,
        "is_product_user": True, "timezone": rnd.choice(ZONES),
        "created_at": (base - timedelta(days=rnd.randrange(400))).isoformat() + "Z",
        "last_seen_at": (base - timedelta(minutes=rnd.randrange(90 * 1440))).isoformat() + "Z",
        "attributes": {"seats": rnd.randrange(1, 50), "beta": rnd.random() < 0.3},
    } for i in range(n_contacts)]
    events = [{
        "contact_external_id": f"user-{rnd.randrange(n_contacts)}", "name": rnd.choice(EVENT_NAMES),
        "occurred_at": (base - timedelta(seconds=rnd.randrange(90 * 86400))).isoformat() + "Z",
        "properties": {"source": "web"}, "external_id": f"evt-{i}",
    } for i in range(n_events)]
    return accounts, contacts, events


def make_app(url):
    from app import create_app
    from config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        USE_CREATE_ALL = True
        TESTING = True

    return create_app(BenchConfig)


def api_rate(app, kind, items, batch):
    """Items per second through POST /api/v1/<kind> (bodies encoded beforehand: server-side cost)."""
    from extensions import db
    from models import ApiKey

    with app.app_context():
        key, raw = ApiKey.generate("bench")
        db.session.add(key)
        db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}
    bodies = [json.dumps({kind: items[i:i + batch]}).encode() for i in range(0, len(items), batch)]
    started = time.perf_counter()
    for body in bodies:
        res = client.post(f"/api/v1/{kind}", data=body, headers=headers)
        if res.status_code != 200:
            sys.exit(f"{kind}: HTTP {res.status_code} {res.get_data(as_text=True)[:300]}")
    return len(items) / (time.perf_counter() - started)


def stored_rows(app, table_name):
    """The rows the API stored, as DBAPI-ready tuples (the baseline re-inserts exactly these)."""
    from extensions import db

    with app.app_context():
        table = db.metadata.tables[table_name]
        cols = [c for c in table.c if c.name != "id"]
        result = db.session.execute(table.select().order_by(table.c.id)).all()
        pg = db.engine.dialect.name == "postgresql"
        if pg:
            from psycopg.types.json import Jsonb
            wrap = Jsonb
        else:
            wrap = json.dumps
        json_cols = {i for i, c in enumerate(cols) if c.name in ("attributes", "properties")}
        rows = []
        for r in result:
            values = [getattr(r, c.name) for c in cols]
            for i in json_cols:
                values[i] = wrap(values[i])
            if not pg:  # SQLite stores datetimes as SQLAlchemy's ISO text
                values = [v.isoformat(" ") if isinstance(v, datetime) else v for v in values]
                values = [float(v) if v is not None and type(v).__name__ == "Decimal" else v for v in values]
            rows.append(tuple(values))
        return [c.name for c in cols], rows


def bare_rate(app, table_name, columns, rows, batch):
    """Rows per second of a plain DBAPI executemany INSERT, committed per batch like the API."""
    from extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        pg = db.engine.dialect.name == "postgresql"
        mark = "%s" if pg else "?"
        sql = (f"INSERT INTO {table_name} ({', '.join(columns)}) "
               f"VALUES ({', '.join([mark] * len(columns))})")
        cur = raw.cursor()
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            cur.executemany(sql, rows[i:i + batch])
            raw.commit()
        elapsed = time.perf_counter() - started
        cur.close()
        raw.close()
        return len(rows) / elapsed


def run(label, api_url, bare_url, args, items):
    accounts, contacts, events = items
    api_app = make_app(api_url)
    api_rate(api_app, "accounts", accounts, args.batch)
    c_api = api_rate(api_app, "contacts", contacts, args.batch)
    e_api = api_rate(api_app, "events", events, args.batch)
    bare_app = make_app(bare_url)
    results = {}
    for table, api in (("contacts", c_api), ("events", e_api)):
        if table == "contacts":
            cols, rows = stored_rows(api_app, "accounts")
            bare_rate(bare_app, "accounts", cols, rows, args.batch)
        cols, rows = stored_rows(api_app, table)
        bare = bare_rate(bare_app, table, cols, rows, args.batch)
        results[table] = (api, bare)
    print(f"\n{label}: {len(contacts):,} contacts, {len(events):,} events, batches of {args.batch:,}")
    print(f"  {'':10} {'API rows/s':>12} {'bare INSERT rows/s':>20} {'ratio':>7}")
    for table, (api, bare) in results.items():
        print(f"  {table:10} {api:12,.0f} {bare:20,.0f} {api / bare:7.2f}x")
    return results


def _pg_database(url, action):
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "postgres://", "postgresql+psycopg://", 1))
    conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)
    names = [f"{u.database}_bench_{os.getpid()}_{n}" for n in ("api", "bare")]
    for name in names:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            conn.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return [u.set(database=n).render_as_string(hide_password=False) for n in names]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    items = make_items(args.accounts, args.contacts, args.events)
    sqlite = run("SQLite", f"sqlite:///{_TMP / 'api.db'}", f"sqlite:///{_TMP / 'bare.db'}", args, items)
    if _PG_URL:
        urls = _pg_database(_PG_URL, "create")
        try:
            run("PostgreSQL", urls[0], urls[1], args, items)
        finally:
            _pg_database(_PG_URL, "drop")  # WITH (FORCE) closes our pooled connections
    ratio = sqlite["contacts"][0] / sqlite["contacts"][1], sqlite["events"][0] / sqlite["events"][1]
    verdict = "met" if min(ratio) >= 0.3 else "NOT met"
    print(f"\nTarget >= 0.30x on SQLite: {verdict} (contacts {ratio[0]:.2f}x, events {ratio[1]:.2f}x)")


if __name__ == "__main__":
    main()
