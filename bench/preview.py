"""Rule preview at scale: engine.rules.preview vs the same queries hand-written.

    python -m bench.preview [--accounts 5000] [--contacts 100000] [--events 2000000]
                            [--runs 30] [--rebuild]

Data from engine.demo.generate (seed-demo's generator) into a SQLite file under
/tmp/nudge-bench (kept between runs; --rebuild makes it again), and also into a
PostgreSQL database `nudge_bench_preview` when DATABASE_URL is set. For five
rules it times, interleaved in the same run, a preview (count + distinct
accounts + 20 sample rows with the fields the rule uses):
  engine  engine.rules.preview(rule, now, 20)  (parse + compile + SQL + rows)
  raw     the same two queries hand-written as SQL through the DB-API driver
and prints p50 / p95 for both and the p95 ratio. Then a persona-style
membership query: every matching contact id for 100k contacts, engine vs raw.
Target (SQLite, rules 1-4): p95 ratio <= 1.5 and engine p95 < 150 ms.
"""
import argparse
import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

BENCH_DIR = Path("/tmp/nudge-bench")
os.environ.setdefault("NUDGE_INSTANCE_DIR", str(BENCH_DIR / "instance"))
_PG_URL = os.environ.pop("DATABASE_URL", "")

NOW = datetime(2026, 1, 10, 12, 0)
D = timedelta(days=1)
SEL = ("SELECT c.id, c.external_id, c.email, c.first_name, c.last_name, a.name, "
       "a.external_id, c.attributes, a.attributes")
FROM = "FROM contacts c JOIN accounts a ON a.id = c.account_id"
COUNT = "SELECT count(*), count(DISTINCT c.account_id) " + FROM
IN_WINDOW = ("SELECT contact_id FROM events WHERE name = :ev AND occurred_at <= :now "
             "AND occurred_at > :since GROUP BY contact_id")
EV_COUNT = ("(SELECT count(*) FROM events e WHERE e.contact_id = c.id AND e.name = :ev "
            "AND e.occurred_at <= :now AND e.occurred_at > :since)")
PREV = "sum(CASE WHEN occurred_at <= :since THEN 1 ELSE 0 END)"
DROP_WINDOW = ("SELECT contact_id FROM events WHERE name = :ev AND occurred_at <= :now "
               f"AND occurred_at > :prev_start GROUP BY contact_id HAVING {PREV} > 0 AND "
               f"({PREV} - (count(*) - {PREV})) * 100 >= {PREV} * 50.0")
EV_PREV = ("(SELECT count(*) FROM events e WHERE e.contact_id = c.id AND e.name = :ev "
           "AND e.occurred_at <= :since AND e.occurred_at > :prev_start)")

# name, rule, WHERE of the hand-written query, extra sample columns, parameters
RULES = [
    ("1 one field", {"field": "contact.role", "op": "eq", "value": "admin"},
     "c.role = 'admin'", ", c.role", {}),
    ("2 field+account", {"all": [{"field": "contact.role", "op": "eq", "value": "admin"},
                                 {"field": "account.arr", "op": "gt", "value": 50000}]},
     "c.role = 'admin' AND a.arr > 50000", ", c.role, a.arr", {}),
    ("3 event count", {"event": "report_created", "op": "count_gte", "value": 3, "within_days": 7},
     f"c.id IN ({IN_WINDOW} HAVING count(*) >= 3)", f", {EV_COUNT}",
     {"ev": "report_created", "now": NOW, "since": NOW - 7 * D}),
    ("4 seen+account+role", {"all": [
        {"field": "contact.last_seen_at", "op": "older_than_days", "value": 7},
        {"field": "account.plan", "op": "in", "value": ["pro", "enterprise"]},
        {"field": "contact.role", "op": "in", "value": ["admin", "owner"]}]},
     "c.last_seen_at < :cutoff AND a.plan IN ('pro', 'enterprise') AND c.role IN ('admin', 'owner')",
     ", c.last_seen_at, a.plan, c.role", {"cutoff": NOW - 7 * D}),
    ("5 dropped_by_pct", {"event": "dashboard_viewed", "op": "dropped_by_pct", "value": 50,
                          "within_days": 7},
     f"c.id IN ({DROP_WINDOW})", f", {EV_COUNT}, {EV_PREV}",
     {"ev": "dashboard_viewed", "now": NOW, "since": NOW - 7 * D, "prev_start": NOW - 14 * D}),
]
MEMBERSHIP = ({"user_types": ["product_user", "crm_contact"], "all": [
    {"field": "contact.last_seen_at", "op": "within_last_days", "value": 30},
    {"field": "account.status", "op": "eq", "value": "active"}]},
    "(c.is_product_user OR c.is_crm_contact) AND c.last_seen_at >= :since "
    "AND c.last_seen_at <= :now AND a.status = 'active'", {"since": NOW - 30 * D, "now": NOW})


def make_app(url):
    from app import create_app
    from config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        USE_CREATE_ALL = True

    return create_app(BenchConfig)


def prepare(args, url):
    """Build (or reuse) the data set; make sure every model index exists."""
    from engine.demo import generate
    from extensions import db
    from models import Contact, Event

    counts = (db.session.query(Contact).count(), db.session.query(Event).count())
    if args.rebuild or counts != (args.contacts, args.events):
        if counts != (0, 0):
            db.drop_all()
            db.create_all()
        print(f"  generating {args.accounts:,} accounts, {args.contacts:,} contacts, "
              f"{args.events:,} events ...", flush=True)
        result = generate(db.engine, accounts=args.accounts, contacts=args.contacts,
                          events=args.events, seed=7, now=NOW)
        print(f"  generated in {result['seconds']}s: {result}")
    for table in db.metadata.sorted_tables:
        for index in table.indexes:
            index.create(db.engine, checkfirst=True)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    db.session.remove()


def raw_runner(raw, dialect):
    """Run hand-written SQL with :named parameters through the DB-API cursor."""
    cur = raw.cursor()

    def run(sql, params):
        if dialect == "postgresql":
            sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        else:  # sqlite3 compares the stored text form of datetimes
            params = {k: v.isoformat(" ", "microseconds") if isinstance(v, datetime) else v
                      for k, v in params.items()}
        cur.execute(sql, params)
        return cur.fetchall()

    return run


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_db(label, url, args):
    from engine.rules import matching_contacts_select, preview
    from extensions import db

    app = make_app(url)
    with app.app_context():
        prepare(args, url)
        raw = db.engine.raw_connection()
        run = raw_runner(raw, db.engine.dialect.name)
        print(f"\n{label}: preview = count + accounts + 20 rows; {args.runs} runs each, "
              f"interleaved (ms)")
        print(f"  {'rule':22} {'matches':>8} {'engine p50':>10} {'p95':>7} "
              f"{'raw p50':>8} {'p95':>7} {'p95 ratio':>9}")
        for name, rule, where, extra, params in RULES:
            eng, rawt = [], []
            for i in range(args.runs + 3):
                t0 = time.perf_counter()
                result = preview(rule, NOW, 20)
                t1 = time.perf_counter()
                count = run(f"{COUNT} WHERE {where}", params)
                sample = run(f"{SEL}{extra} {FROM} WHERE {where} ORDER BY c.id LIMIT 20", params)
                t2 = time.perf_counter()
                db.session.rollback()
                if i >= 3:  # warm-up runs are not counted
                    eng.append((t1 - t0) * 1000)
                    rawt.append((t2 - t1) * 1000)
            assert result["count"] == count[0][0], (name, result["count"], count)
            assert [s["contact_id"] for s in result["sample"]] == [r[0] for r in sample], name
            print(f"  {name:22} {result['count']:>8,} {pct(eng, .5):>10.1f} {pct(eng, .95):>7.1f} "
                  f"{pct(rawt, .5):>8.1f} {pct(rawt, .95):>7.1f} "
                  f"{pct(eng, .95) / pct(rawt, .95):>9.2f}")
        rule, where, params = MEMBERSHIP
        eng, rawt = [], []
        for i in range(max(5, args.runs // 3) + 1):
            t0 = time.perf_counter()
            ids = db.session.execute(matching_contacts_select(rule, NOW)).all()
            t1 = time.perf_counter()
            raw_ids = run(f"SELECT c.id, c.account_id {FROM} WHERE {where}", params)
            t2 = time.perf_counter()
            db.session.rollback()
            if i:
                eng.append((t1 - t0) * 1000)
                rawt.append((t2 - t1) * 1000)
        assert len(ids) == len(raw_ids)
        print(f"  membership (all ids of {args.contacts:,} contacts -> {len(ids):,} match): "
              f"engine p50 {pct(eng, .5):.1f} ms p95 {pct(eng, .95):.1f} ms; raw p50 "
              f"{pct(rawt, .5):.1f} ms p95 {pct(rawt, .95):.1f} ms; "
              f"p95 ratio {pct(eng, .95) / pct(rawt, .95):.2f}")
        raw.close()
        db.session.remove()
        db.engine.dispose()


def pg_database_url(base):
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = "nudge_bench_preview"
    admin = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                            dbname=url.database, password=url.password, autocommit=True)
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return url.set(database=name).render_as_string(hide_password=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"preview-{args.accounts}-{args.contacts}-{args.events}.db"
    bench_db("SQLite", f"sqlite:///{path}", args)
    if _PG_URL:
        bench_db("PostgreSQL", pg_database_url(_PG_URL), args)


if __name__ == "__main__":
    main()
