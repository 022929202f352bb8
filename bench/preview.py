"""Rule preview at scale: engine.rules.preview vs the same queries hand-written.

    python -m bench.preview [--accounts 5000] [--contacts 100000] [--events 2000000]
                            [--runs 50] [--rebuild]

Data from devtools.demo.generate (seed-demo's generator) into a SQLite file under
/tmp/nudge-bench (kept between runs; --rebuild makes it again), and also into a
PostgreSQL database `<DATABASE_URL's database>_bench_preview` when DATABASE_URL is set. For five
rules it times, interleaved in the same run, a preview (count + distinct
accounts + 20 sample rows with the fields the rule uses):
  engine  engine.rules.preview(rule, now, 20)  (parse + compile + SQL + rows)
  raw     the same two queries hand-written as SQL through the DB-API driver
and prints p50 / p95 for both and the p95 ratio. The engine reads the event
conditions' whole days from the daily rollup (event_days); for the event rules
(3 and 5) it also times the engine with the rollup switched off ("engine raw")
and prints the rollup path's p95 as a share of the hand-written SQL over raw
events (target <= 0.30x), plus the rollup's size against the events'.
Then a persona-style membership query (INSERT ... SELECT of every match), engine vs raw.
Targets: every rule's engine p95 < 150 ms; rules 1-2 and 4 p95 ratio <= 1.5.
"""
import argparse
import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

BENCH_DIR = Path("/tmp/nudge-bench")
os.environ.setdefault("NUDGE_INSTANCE_DIR", str(BENCH_DIR / "instance"))
from bench.common import make_app as common_make_app
_PG_URL = os.environ.pop("DATABASE_URL", "")

NOW = datetime(2026, 1, 10, 12, 0)
D = timedelta(days=1)
FROM = "FROM contacts c JOIN accounts a ON a.id = c.account_id"
# The hand-written preview: the same single statement the engine sends (the
# matches once, as a CTE used twice: totals + first page with display columns).
PREVIEW = ("WITH m AS (SELECT c.id AS cid, c.account_id AS aid {from_} WHERE {where}) "
           "SELECT t.n, t.na, c.id, c.external_id, c.email, c.first_name, c.last_name, a.name, "
           "a.external_id{extra} "
           "FROM (SELECT count(*) AS n, count(DISTINCT aid) AS na FROM m) t "
           "LEFT JOIN (SELECT cid FROM m ORDER BY cid LIMIT 20) p ON {true} "
           "LEFT JOIN contacts c ON c.id = p.cid LEFT JOIN accounts a ON a.id = c.account_id "
           "ORDER BY p.cid")
IN_WINDOW = ("SELECT contact_id FROM events WHERE name = :ev AND occurred_at <= :now "
             "AND occurred_at > :since GROUP BY contact_id")
EV_COUNT = ("(SELECT count(*) FROM events e WHERE e.contact_id = c.id AND e.name = :ev "
            "AND e.occurred_at <= :now AND e.occurred_at > :since)")
DROP_WINDOW = ("SELECT cid FROM (SELECT contact_id AS cid, count(*) AS n, "
               "sum(CASE WHEN occurred_at <= :since THEN 1 ELSE 0 END) AS prev FROM events "
               "WHERE name = :ev AND occurred_at <= :now AND occurred_at > :prev_start "
               "GROUP BY contact_id) w WHERE prev > 0 AND (prev - (n - prev)) * 100 >= prev * 50.0")
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
    return common_make_app(url, testing=False)


def prepare(args):
    """Build (or reuse) the data set; make the indexes exactly the models' ones."""
    from sqlalchemy import inspect

    from devtools.demo import generate
    from extensions import db
    from models import Contact, Event

    counts = (db.session.query(Contact).count(), db.session.query(Event).count())
    db.session.remove()
    # Data kept from a run of an older schema (a column added since) is made again.
    inspector = inspect(db.engine)
    schema_changed = any({c.name for c in table.columns} != {c["name"] for c in inspector.get_columns(table.name)}
                         for table in db.metadata.sorted_tables)
    if args.rebuild or schema_changed or counts != (args.contacts, args.events):
        if counts != (0, 0):
            db.drop_all()
            db.create_all()
        print(f"  generating {args.accounts:,} accounts, {args.contacts:,} contacts, "
              f"{args.events:,} events ...", flush=True)
        result = generate(db.engine, accounts=args.accounts, contacts=args.contacts,
                          events=args.events, seed=7, now=NOW)
        print(f"  generated in {result['seconds']}s: {result}")
    inspector = inspect(db.engine)
    for table in db.metadata.sorted_tables:
        model = {index.name: [c.name for c in index.columns] for index in table.indexes}
        with db.engine.begin() as conn:
            for found in inspector.get_indexes(table.name):
                name = found["name"]
                if name.startswith("ix_") and model.get(name) != found["column_names"]:
                    conn.exec_driver_sql(f'DROP INDEX "{name}"')
        for index in table.indexes:
            index.create(db.engine, checkfirst=True)
    # Statistics, and on PostgreSQL the visibility map index-only scans need
    # (what autovacuum keeps up to date on a live database).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE")


def raw_runner(raw, dialect):
    """Run hand-written SQL with :named parameters through the DB-API cursor."""
    cur = raw.cursor()

    def run(sql, params, fetch=True):
        if dialect == "postgresql":
            sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        else:  # sqlite3 compares the stored text form of datetimes
            params = {k: v.isoformat(" ", "microseconds") if isinstance(v, datetime) else v
                      for k, v in params.items()}
        cur.execute(sql, params)
        return cur.fetchall() if fetch else cur.rowcount

    return run


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_db(label, url, args):
    from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

    from sqlalchemy import text

    from engine.rules import matching_contacts_select, preview
    from engine.rules import sql as rules_sql
    from extensions import db

    app = make_app(url)
    with app.app_context():
        prepare(args)
        raw = db.engine.raw_connection()
        run = raw_runner(raw, db.engine.dialect.name)
        sqlite = db.engine.dialect.name == "sqlite"
        print(f"\n{label}: preview = count + accounts + 20 rows; {args.runs} runs each, "
              f"interleaved (ms); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if sqlite:  # all of SQLite's work happens in this process: its CPU time is measurable
            print("  wall = elapsed time; cpu = this process's CPU time (immune to other load)")
        events_n, days_n = (db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                            for t in ("events", "event_days"))
        print(f"  rollup: {days_n:,} event_days rows for {events_n:,} events "
              f"({events_n / max(days_n, 1):.1f} events per row)")
        print(f"  {'rule':20} {'matches':>7}  {'engine p50':>10} {'p95':>6}  {'raw p50':>7} "
              f"{'p95':>6}  {'p95 ratio':>9}  {'engine raw p95':>14}")
        summary = []
        for name, rule, where, extra, params in RULES:
            event_rule = "event" in name or "dropped" in name
            eng, rawt, eng_cpu, raw_cpu, eng_raw = [], [], [], [], []
            for i in range(args.runs + 3):
                t0, c0 = time.perf_counter(), time.process_time()
                result = preview(rule, NOW, 20)
                t1, c1 = time.perf_counter(), time.process_time()
                rows = run(PREVIEW.format(from_=FROM, where=where, extra=extra,
                                          true="1" if sqlite else "true"), params)
                t2, c2 = time.perf_counter(), time.process_time()
                if event_rule:  # the same engine call compiled to raw events only
                    rules_sql.EVENT_ROLLUPS = False
                    try:
                        raw_result = preview(rule, NOW, 20)
                    finally:
                        rules_sql.EVENT_ROLLUPS = True
                t3 = time.perf_counter()
                if i >= 3:  # warm-up runs are not counted
                    eng.append((t1 - t0) * 1000)
                    rawt.append((t2 - t1) * 1000)
                    eng_cpu.append((c1 - c0) * 1000)
                    raw_cpu.append((c2 - c1) * 1000)
                    eng_raw.append((t3 - t2) * 1000)
            db.session.rollback()  # both sides ran on a connection already checked out
            assert result["count"] == rows[0][0], (name, result["count"], rows[0][0])
            assert [s["contact_id"] for s in result["sample"]] == [r[2] for r in rows], name
            if event_rule:
                assert raw_result["count"] == result["count"], name
            rows = [("wall", eng, rawt)] + ([("cpu", eng_cpu, raw_cpu)] if sqlite else [])
            for kind, e, r in rows:
                also = f"{pct(eng_raw, .95):>14.1f}" if event_rule and kind == "wall" else ""
                print(f"  {name if kind == 'wall' else '':20} "
                      f"{format(result['count'], ',') if kind == 'wall' else '':>7} {kind:>4} "
                      f"{pct(e, .5):>7.1f} {pct(e, .95):>6.1f}  {pct(r, .5):>7.1f} "
                      f"{pct(r, .95):>6.1f}  {pct(e, .95) / pct(r, .95):>9.2f}  {also}")
            summary.append((name, event_rule, pct(eng, .95), pct(eng, .95) / pct(rawt, .95)))
        print("  targets: p95 < 150 ms each; event rules (3, 5) <= 0.30x the hand-written SQL")
        for name, event_rule, p95, ratio in summary:
            verdict = "met" if p95 < 150 else "MISSED"
            line = f"    {name:20} p95 {p95:7.1f} ms ({verdict})"
            if event_rule:
                line += f"; rollup/raw SQL {ratio:.2f}x ({'met' if ratio <= 0.30 else 'MISSED'})"
            print(line)
        rule, where, params = MEMBERSHIP
        # Persona-style: every matching contact written to a table in one INSERT ... SELECT.
        members = Table("bench_members", MetaData(), Column("contact_id", Integer),
                        prefixes=["TEMPORARY"])
        members.create(db.session.connection())
        run("CREATE TEMPORARY TABLE bench_members_raw (contact_id INTEGER)", {}, fetch=False)
        eng, rawt, eng_cpu, raw_cpu = [], [], [], []
        for i in range(max(5, args.runs // 3) + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            sub = matching_contacts_select(rule, NOW).subquery()
            db.session.execute(insert(members).from_select(["contact_id"], select(sub.c.contact_id)))
            t1, c1 = time.perf_counter(), time.process_time()
            run(f"INSERT INTO bench_members_raw SELECT c.id {FROM} WHERE {where}", params,
                fetch=False)
            t2, c2 = time.perf_counter(), time.process_time()
            n = db.session.execute(select(func.count()).select_from(members)).scalar()
            db.session.execute(members.delete())
            run("DELETE FROM bench_members_raw", {}, fetch=False)
            if i:
                eng.append((t1 - t0) * 1000)
                rawt.append((t2 - t1) * 1000)
                eng_cpu.append((c1 - c0) * 1000)
                raw_cpu.append((c2 - c1) * 1000)
        db.session.rollback()
        print(f"  membership: INSERT ... SELECT of every match, {args.contacts:,} contacts "
              f"({n:,} match)")
        rows = [("wall", eng, rawt)] + ([("cpu", eng_cpu, raw_cpu)] if sqlite else [])
        for kind, e, r in rows:
            print(f"  {'':20} {'':>7} {kind:>4} {pct(e, .5):>7.1f} {pct(e, .95):>6.1f}  "
                  f"{pct(r, .5):>7.1f} {pct(r, .95):>6.1f}  {pct(e, .95) / pct(r, .95):>9.2f}")
        raw.close()
        db.session.remove()
        db.engine.dispose()


def pg_database_url(base):
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    # Named after the caller's database: engineers sharing a server do not collide.
    name = f"{url.database}_bench_preview"
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
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    # "v2": the generator's event density changed (sessions, a heavy tail of power users).
    path = BENCH_DIR / f"preview-v2-{args.accounts}-{args.contacts}-{args.events}.db"
    bench_db("SQLite", f"sqlite:///{path}", args)
    if _PG_URL:
        bench_db("PostgreSQL", pg_database_url(_PG_URL), args)


if __name__ == "__main__":
    main()
