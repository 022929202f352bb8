"""Ingest throughput: the JSON API (via the Flask test client, batches of 1,000)
vs a bare DBAPI executemany INSERT of the same rows, in the same run.

    python -m bench.ingest [--contacts 20000] [--events 100000] [--batch 1000] [--only-feed]

The change-feed upsert (issue 16): --contacts contacts upserted through the API with
the change feed on, half of them new, a quarter already stored with one changed field
(role or attributes.seats), a quarter stored and unchanged; vs the bare executemany
INSERT of the same rows into an empty table. It checks that exactly the expected feed
rows were written (one "created" per new contact, one "field" per changed contact).
--only-feed runs just that part.

Each API batch is followed by the bare INSERT of the same rows into a second
fresh database with the same schema, so whatever else loads the machine hits
both sides alike. Runs on temporary SQLite files, and also on PostgreSQL when
DATABASE_URL is set (in temporary databases `<name>_bench_<pid>_api|bare`
created on that server and dropped afterwards; your data is not touched).
Target: API >= 0.3x the bare INSERT rate on SQLite.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import make_app, pg_databases

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


class ApiClient:
    """POSTs pre-encoded batches (JSON encoding is the client's cost, not the server's)."""

    def __init__(self, app):
        from extensions import db
        from models import ApiKey

        with app.app_context():
            key, raw = ApiKey.generate("bench")
            db.session.add(key)
            db.session.commit()
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}

    def post(self, kind, body: bytes):
        res = self.client.post(f"/api/v1/{kind}", data=body, headers=self.headers)
        if res.status_code != 200:
            sys.exit(f"{kind}: HTTP {res.status_code} {res.get_data(as_text=True)[:300]}")


class BareInserter:
    """Plain DBAPI executemany INSERTs of ready-made tuples, committed per batch like the API."""

    def __init__(self, app):
        from extensions import db

        with app.app_context():
            self.raw = db.engine.raw_connection()
            self.pg = db.engine.dialect.name == "postgresql"

    def sql(self, table, columns):
        mark = "%s" if self.pg else "?"
        marks = [f"CAST({mark} AS jsonb)" if self.pg and c in ("attributes", "properties") else mark
                 for c in columns]
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})"

    def insert(self, sql, rows):
        cur = self.raw.cursor()
        cur.executemany(sql, rows)
        self.raw.commit()
        cur.close()


def bare_rows(kind, items, pg):
    """The rows the API stores for these items, as DBAPI tuples. Fresh databases and
    items in order mean account/contact ids are their position + 1 in both runs."""
    def t(value):
        dt = datetime.fromisoformat(value.replace("Z", "")) if isinstance(value, str) else value
        return dt if pg else dt.isoformat(" ", "microseconds")

    now = t(datetime(2026, 1, 5))
    if kind == "accounts":
        cols = ("external_id", "name", "arr", "plan", "status", "attributes", "created_at")
        rows = [(i["external_id"], i["name"], i["arr"], i["plan"], i["status"],
                 json.dumps(i["attributes"]), now) for i in items]
    elif kind == "contacts":
        cols = ("external_id", "account_id", "email", "first_name", "last_name", "role",
                "is_crm_contact", "is_product_user", "timezone", "created_at", "last_seen_at",
                "attributes")
        rows = [(i["external_id"], int(i["account_external_id"].split("-")[1]) + 1, i["email"],
                 i["first_name"], i["last_name"], i["role"], i["is_crm_contact"],
                 i["is_product_user"], i["timezone"], t(i["created_at"]), t(i["last_seen_at"]),
                 json.dumps(i["attributes"])) for i in items]
    else:
        cols = ("contact_id", "name", "occurred_at", "properties", "external_id", "received_at")
        rows = [(int(i["contact_external_id"].split("-")[1]) + 1, i["name"], t(i["occurred_at"]),
                 json.dumps(i["properties"]), i["external_id"], now) for i in items]
    return cols, rows


def measure(api, bare, kind, items, batch):
    """Interleave: each API batch is followed by the bare INSERT of the same rows, so
    load from anything else on the machine hits both sides alike. Returns rows/s
    for (API, bare) by wall clock and by this process's CPU time."""
    cols, rows = bare_rows(kind, items, bare.pg)
    sql = bare.sql(kind, cols)
    bodies = [json.dumps({kind: items[i:i + batch]}).encode() for i in range(0, len(items), batch)]
    wall, cpu = [0.0, 0.0], [0.0, 0.0]
    for n, body in enumerate(bodies):
        for side, work in enumerate((lambda: api.post(kind, body),
                                     lambda: bare.insert(sql, rows[n * batch:(n + 1) * batch]))):
            w, c = time.perf_counter(), time.process_time()
            work()
            wall[side] += time.perf_counter() - w
            cpu[side] += time.process_time() - c
    n = len(items)
    return {"wall": (n / wall[0], n / wall[1]), "cpu": (n / cpu[0], n / cpu[1])}


def _check_same_rows(api_url, bare):
    """Both sides must have stored the same rows, or the comparison means nothing."""
    from sqlalchemy import create_engine, text

    engine = create_engine(api_url)
    cur = bare.raw.cursor()
    with engine.connect() as conn:
        for table in ("accounts", "contacts", "events"):
            api_n = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            bare_n = cur.fetchone()[0]
            if api_n != bare_n:
                sys.exit(f"{table}: API stored {api_n} rows, bare INSERT {bare_n}")
    cur.close()
    engine.dispose()


def run(label, api_url, bare_url, args, items):
    accounts, contacts, events = items
    api, bare = ApiClient(make_app(api_url)), BareInserter(make_app(bare_url))
    measure(api, bare, "accounts", accounts, args.batch)
    results = {kind: measure(api, bare, kind, rows, args.batch)
               for kind, rows in (("contacts", contacts), ("events", events))}
    _check_same_rows(api_url, bare)
    bare.raw.close()
    print(f"\n{label}: {len(contacts):,} contacts, {len(events):,} events, batches of {args.batch:,}")
    print(f"  {'':10} {'API rows/s':>12} {'bare INSERT rows/s':>20} {'ratio':>7}   {'ratio by CPU time':>17}")
    for table, r in results.items():
        (api_rate, bare_rate), (api_cpu, bare_cpu) = r["wall"], r["cpu"]
        print(f"  {table:10} {api_rate:12,.0f} {bare_rate:20,.0f} {api_rate / bare_rate:7.2f}x"
              f"   {api_cpu / bare_cpu:16.2f}x")
    return results


def feed_items(contacts):
    """(stored first, upserted): the first half of `contacts` is stored beforehand; the
    upsert sends all of them, the first quarter with one changed field each, in an order
    that mixes new, changed and unchanged items in every batch."""
    half, quarter = len(contacts) // 2, len(contacts) // 4
    upserted = []
    for n, item in enumerate(contacts):
        if n < quarter:
            item = dict(item)
            if n % 2:
                item["role"] = ROLES[(ROLES.index(item["role"]) + 1) % len(ROLES)]
            else:
                item["attributes"] = {**item["attributes"], "seats": item["attributes"]["seats"] + 1}
        upserted.append(item)
    random.Random(11).shuffle(upserted)
    return contacts[:half], upserted, {"created": len(contacts) - half, "field": quarter}


def _feed_counts(url):
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT kind, COUNT(*) FROM contact_changes GROUP BY kind")).all())
    engine.dispose()
    return counts


def run_feed(label, api_url, bare_url, args, items):
    """The change-feed upsert, on its own pair of fresh databases."""
    accounts, contacts, _events = items
    stored, upserted, expected = feed_items(contacts)
    api, bare = ApiClient(make_app(api_url)), BareInserter(make_app(bare_url))
    measure(api, bare, "accounts", accounts, args.batch)
    for start in range(0, len(stored), args.batch):  # the stored half: not measured
        api.post("contacts", json.dumps({"contacts": stored[start:start + args.batch]}).encode())
    before = _feed_counts(api_url)
    result = measure(api, bare, "contacts", upserted, args.batch)
    after = _feed_counts(api_url)
    bare.raw.close()
    written = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in ("created", "field")}
    (api_rate, bare_rate), (api_cpu, bare_cpu) = result["wall"], result["cpu"]
    print(f"\n{label}: change-feed upsert of {len(upserted):,} contacts ({expected['created']:,} new, "
          f"{expected['field']:,} with one changed field, {len(upserted) - expected['created'] - expected['field']:,}"
          f" unchanged), batches of {args.batch:,}")
    print(f"  API upsert {api_rate:,.0f} contacts/s, bare INSERT {bare_rate:,.0f} rows/s: "
          f"{api_rate / bare_rate:.2f}x (by CPU time {api_cpu / bare_cpu:.2f}x)")
    print(f"  feed rows written: {written['created']:,} created, {written['field']:,} field "
          f"(expected {expected['created']:,} and {expected['field']:,})")
    if written != expected:
        sys.exit(f"{label}: the change feed wrote {written}, expected {expected}")
    return api_rate / bare_rate


def _pg_database(url, action):
    return pg_databases(url, action, 'api', 'bare', 'feedapi', 'feedbare')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--only-feed", action="store_true", help="only the change-feed upsert")
    args = parser.parse_args()
    items = make_items(args.accounts, args.contacts, args.events)
    sqlite, feed = None, {}
    try:
        if not args.only_feed:
            sqlite = run("SQLite", f"sqlite:///{_TMP / 'api.db'}", f"sqlite:///{_TMP / 'bare.db'}",
                         args, items)
        feed["SQLite"] = run_feed("SQLite", f"sqlite:///{_TMP / 'feed_api.db'}",
                                  f"sqlite:///{_TMP / 'feed_bare.db'}", args, items)
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)
    if _PG_URL:
        urls = _pg_database(_PG_URL, "create")
        try:
            if not args.only_feed:
                run("PostgreSQL", urls[0], urls[1], args, items)
            feed["PostgreSQL"] = run_feed("PostgreSQL", urls[2], urls[3], args, items)
        finally:
            _pg_database(_PG_URL, "drop")  # WITH (FORCE) closes our pooled connections
    if sqlite:
        ratio = [sqlite[t]["wall"][0] / sqlite[t]["wall"][1] for t in ("contacts", "events")]
        verdict = "met" if min(ratio) >= 0.3 else "NOT met"
        print(f"\nTarget >= 0.30x on SQLite: {verdict} (contacts {ratio[0]:.2f}x, events {ratio[1]:.2f}x)")
    for label, ratio in feed.items():
        print(f"Change-feed upsert target >= 0.30x on {label}: "
              f"{'met' if ratio >= 0.3 else 'NOT met'} ({ratio:.2f}x)")
    print(f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(on a busy machine the CPU-time ratio is the steadier figure)")

if __name__ == "__main__":
    main()
