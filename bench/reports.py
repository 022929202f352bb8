"""Report pages at scale, measured through the Flask test client (signed in).

    python -m bench.reports [--contacts 100000] [--events 2000000] [--requests 60]
    python -m bench.reports --db /tmp/reports.db     # build once, re-measure later runs

Data (a temporary SQLite database): accounts and contacts from engine.demo.generate
(seed-demo's generator); 50 active schedule triggers with 90 days of history, bulk
inserted with executemany -- a TriggerRun a day, the sent/failed outbox rows and
their delivery events (delivered or failed, then opened / clicked / unsubscribed)
until there are exactly --events delivery events. One trigger had a big day: a
--csv-rows-recipient announcement. Then 450 more triggers without history, so the
triggers list shows 500.

Figures (targets from the reports issue):
  details   GET /reports/triggers/<id> (30 and 90 days) p50 / p95   target p95 < 100 ms
  list      GET /triggers/ with 500 triggers p50 / p95             target p95 < 100 ms
  csv       the 100k-row recipients CSV, read chunk by chunk in a fresh process:
            chunks, time to first byte, peak RSS over the process baseline, vs a
            fresh process that fetches the same rows at once (.all()) and writes
            the CSV into memory -- what a non-streaming export costs.
--profile prints each page's slowest SQL statements (time per statement).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, time as clock, timedelta, timezone
from pathlib import Path

# History up to this hour; the pages' default ranges (last 30 / 90 days) then cover it.
NOW = datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
DAYS = 90
TRIGGERS = 50
LIST_TRIGGERS = 500
TARGET_MS = 100
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
HTML = ("<p>Hi {first},</p><p>Your team at {account} created {n} reports this week. "
        "Here are three ideas for next week:</p><ul><li><a href=\"https://example.com/a\">"
        "Schedule a report</a></li><li><a href=\"https://example.com/b\">Share a dashboard</a>"
        "</li><li><a href=\"https://example.com/c\">Invite a colleague</a></li></ul>"
        "<p style=\"font-size:12px\"><a href=\"https://nudge.example.com/u/x\">Unsubscribe</a></p>")
TEXT = "Hi {first},\n\nYour team at {account} created {n} reports this week.\n"


def make_app(url):
    from app import create_app
    from config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        USE_CREATE_ALL = True
        TESTING = True

    return create_app(BenchConfig)


def stamp(dt: datetime) -> str:
    """The text SQLAlchemy stores for a DateTime on SQLite (compared as text)."""
    return dt.isoformat(" ", "microseconds")


# ------------------------------------------------------------------ data
def build(app, args):
    from sqlalchemy import select, text

    from engine.demo import generate
    from extensions import db
    from models import Contact, Staff, Trigger

    started = time.perf_counter()
    with app.app_context():
        made = generate(accounts=args.accounts, contacts=args.contacts, events=args.rule_events,
                        seed=11, now=NOW)
        print(f"  demo data: {made['accounts']:,} accounts, {made['contacts']:,} contacts, "
              f"{made['events']:,} product events ({made['seconds']:.0f} s)")
        rng = random.Random(5)
        triggers = [_trigger(f"Trigger {i + 1:03d}", rng, history=i < TRIGGERS)
                    for i in range(LIST_TRIGGERS)]
        triggers[0].name = "Big announcement"
        db.session.add_all(triggers)
        staff = Staff(email="bench@example.com", role="admin")
        staff.set_password("bench-password-1")
        db.session.add(staff)
        db.session.commit()
        contacts = db.session.execute(select(Contact.id, Contact.account_id, Contact.email,
                                             Contact.first_name)).all()
        ids = [t.id for t in triggers[:TRIGGERS]]
        tz = {t.id: t.timezone for t in triggers[:TRIGGERS]}
        raw = db.session.connection().connection.driver_connection
        _load_history(raw, ids, tz, contacts, args, rng)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    print(f"  built in {time.perf_counter() - started:.0f} s")


def _trigger(name, rng, history):
    from models import Trigger

    return Trigger(
        name=name, from_email="success@example.com", subject="{{ contact.first_name }}, this week",
        html="<p>Hi {{ contact.first_name }}</p>", kind="schedule",
        rule={"user_types": ["product_user"], "all": [
            {"field": "contact.role", "op": "eq", "value": rng.choice(["admin", "user", "owner"])}]},
        generate_at=clock(8, 0), send_at=clock(9, 0), timezone=rng.choice(TIMEZONES),
        priority=rng.randint(0, 10), status="active" if history else rng.choice(["draft", "inactive", "active"]),
        started_at=NOW - timedelta(days=DAYS + 5) if history else None)


def _load_history(raw, trigger_ids, tz, contacts, args, rng):
    """executemany straight into SQLite: runs, outbox rows, delivery events."""
    from engine.scheduling import local_date, local_instant

    cur = raw.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    indexes = cur.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
                          "AND tbl_name IN ('delivery_events', 'outbox_messages')").fetchall()
    for name, _sql in indexes:  # one index build after the load beats updating it per row
        cur.execute(f'DROP INDEX "{name}"')
    big_trigger, big_day = trigger_ids[0], local_date(NOW, tz[trigger_ids[0]]) - timedelta(days=10)
    per_event = 1 + 0.45 * 0.96 * 1.25 + 0.005  # outcome + opened (+ clicked) + unsubscribed
    # Slightly under the budget; the rest are re-opens of earlier messages (people do re-open).
    per_day = max(1, int(0.98 * (args.events - args.csv_rows) / (len(trigger_ids) * DAYS * per_event)))
    reopen_pool = []
    runs, outbox, events = [], [], []
    message_id, n_events, budget = 0, 0, args.events
    today = {t: local_date(NOW, tz[t]) for t in trigger_ids}
    plan = [(t, d) for d in range(DAYS, 0, -1) for t in trigger_ids]
    for t, days_ago in plan:
        day = today[t] - timedelta(days=days_ago)
        big = t == big_trigger and day == big_day
        generated = local_instant(day, clock(8, 0), tz[t])
        sent_at = local_instant(day, clock(9, 0), tz[t])
        recipients = rng.sample(contacts, args.csv_rows if big else min(per_day, len(contacts)))
        runs.append((t, day.isoformat(), stamp(generated), stamp(sent_at), len(recipients), len(recipients), 0))
        for c in recipients:
            if n_events >= budget:
                break
            message_id += 1
            failed = not big and rng.random() < 0.04
            at = sent_at + timedelta(seconds=rng.randint(0, 1800))
            outbox.append((message_id, t, c.id, c.account_id, day.isoformat(), c.email,
                           f"{c.first_name}, this week", HTML.format(first=c.first_name, account="Acme", n=7),
                           TEXT.format(first=c.first_name, account="Acme", n=7),
                           "failed" if failed else "sent", stamp(generated), stamp(sent_at),
                           stamp(generated + timedelta(minutes=20)), stamp(at),
                           None if failed else stamp(at), stamp(at) if failed else None,
                           "550 5.1.1 no such user" if failed else "250 OK", 1))
            events.append((message_id, t, c.id, "failed" if failed else "delivered", stamp(at),
                           "550 5.1.1 no such user" if failed else "250 OK"))
            n_events += 1
            if not big and not failed and rng.random() < 0.45 and n_events < budget:
                opened = at + timedelta(minutes=rng.randint(1, 3000))
                events.append((message_id, t, c.id, "opened", stamp(opened), None))
                n_events += 1
                if len(reopen_pool) < 200_000:
                    reopen_pool.append((message_id, t, c.id, opened))
                if rng.random() < 0.25 and n_events < budget:
                    events.append((message_id, t, c.id, "clicked", stamp(opened + timedelta(seconds=30)),
                                   "https://example.com/" + rng.choice("abc")))
                    n_events += 1
                if rng.random() < 0.005 and n_events < budget:
                    events.append((message_id, t, c.id, "unsubscribed", stamp(opened + timedelta(minutes=1)), None))
                    n_events += 1
        if len(outbox) >= 50_000:
            _flush(cur, runs, outbox, events)
    while n_events < budget:  # top up to exactly --events: re-opens of opened messages
        mid, t, contact_id, opened = rng.choice(reopen_pool)
        events.append((mid, t, contact_id, "opened", stamp(opened + timedelta(hours=rng.randint(1, 48))), None))
        n_events += 1
    _flush(cur, runs, outbox, events)
    print(f"  history: {len(trigger_ids)} triggers x {DAYS} days, {message_id:,} outbox rows, "
          f"{n_events:,} delivery events (one {args.csv_rows:,}-recipient day)")
    started = time.perf_counter()
    for _name, sql in indexes:
        cur.execute(sql)
    print(f"  indexes rebuilt ({time.perf_counter() - started:.0f} s)")


def _flush(cur, runs, outbox, events):
    cur.executemany("INSERT INTO trigger_runs (trigger_id, occurrence_key, generated_at, send_after,"
                    " candidates, created, suppressed) VALUES (?,?,?,?,?,?,?)", runs)
    cur.executemany(
        "INSERT INTO outbox_messages (id, trigger_id, contact_id, account_id, occurrence_key, to_email,"
        " subject, html, text, state, created_at, send_after, approved_at, updated_at, sent_at,"
        " failed_at, smtp_reply, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", outbox)
    cur.executemany("INSERT INTO delivery_events (message_id, trigger_id, contact_id, kind, at, detail)"
                    " VALUES (?,?,?,?,?,?)", events)
    runs.clear(), outbox.clear(), events.clear()


# ------------------------------------------------------------------ measuring
def signed_in(app):
    from sqlalchemy import select

    from extensions import db
    from models import Staff

    client = app.test_client()
    with app.app_context():
        staff_id = db.session.scalar(select(Staff.id).where(Staff.email == "bench@example.com"))
    with client.session_transaction() as sess:
        sess["_user_id"] = str(staff_id)
        sess["_fresh"] = True
    return client


def timings(client, urls, n):
    for url in urls[:3]:  # warm up: templates compiled, caches filled
        assert client.get(url).status_code == 200, url
    samples = []
    for i in range(n):
        url = urls[i % len(urls)]
        started = time.perf_counter()
        response = client.get(url)
        body = response.get_data()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and body, url
    samples.sort()
    return statistics.median(samples), samples[max(0, int(round(0.95 * len(samples))) - 1)]


def report(label, p50, p95):
    verdict = "met" if p95 < TARGET_MS else "NOT met"
    print(f"  {label:<34} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  -> target p95 < {TARGET_MS} ms {verdict}")


def profile(app, client, url):
    """Time every SQL statement one request runs; print the slowest."""
    from sqlalchemy import event

    from extensions import db

    spent = []

    def before(conn, cursor, statement, params, context, executemany):
        conn.info.setdefault("t0", []).append(time.perf_counter())

    def after(conn, cursor, statement, params, context, executemany):
        spent.append(((time.perf_counter() - conn.info["t0"].pop()) * 1000, " ".join(statement.split())))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    started = time.perf_counter()
    client.get(url)
    total = (time.perf_counter() - started) * 1000
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    sql = sum(ms for ms, _ in spent)
    print(f"    profile {url}: {total:.1f} ms total, {len(spent)} statements, {sql:.1f} ms in SQL")
    for ms, statement in sorted(spent, reverse=True)[:4]:
        print(f"      {ms:7.1f} ms  {statement[:150]}")


def measure(app, args):
    from sqlalchemy import func, select

    from extensions import db
    from models import DeliveryEvent, OutboxMessage, Trigger

    client = signed_in(app)
    with app.app_context():
        ids = db.session.scalars(select(Trigger.id).where(Trigger.started_at.is_not(None))
                                 .order_by(Trigger.id)).all()
        n_triggers = db.session.scalar(select(func.count(Trigger.id)))
        n_events = db.session.scalar(select(func.count(DeliveryEvent.id)))
        n_outbox = db.session.scalar(select(func.count(OutboxMessage.id)))
    print(f"  database: {n_triggers} triggers ({len(ids)} with history), {n_outbox:,} outbox rows, "
          f"{n_events:,} delivery events")
    details30 = [f"/reports/triggers/{i}?days=30" for i in ids]
    details90 = [f"/reports/triggers/{i}?days=90" for i in ids]
    results = {}
    results["details30"] = timings(client, details30, args.requests)
    report("trigger details, 30 days", *results["details30"])
    results["details90"] = timings(client, details90, args.requests)
    report("trigger details, 90 days", *results["details90"])
    results["list"] = timings(client, ["/triggers/"], args.requests)
    report(f"triggers list ({n_triggers} triggers)", *results["list"])
    if args.profile:
        profile(app, client, details90[1])
        profile(app, client, "/triggers/")
    return results


# ------------------------------------------------------------------ CSV memory
def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: that survives fork + exec, so a
    child started by the big benchmark process would report the parent's peak."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def reset_peak() -> None:
    """Restart the peak-RSS count from the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def csv_child(url, mode):
    """Run in a fresh process: export the big day's delivered recipients, print JSON figures."""
    import csv
    import io

    from sqlalchemy import select

    from engine import reports
    from extensions import db
    from models import Trigger, TriggerRun

    app = make_app(url)
    client = signed_in(app)
    with app.app_context():
        trigger = db.session.scalars(select(Trigger).where(Trigger.name == "Big announcement")).one()
        biggest = db.session.scalar(select(TriggerRun.occurrence_key).where(
            TriggerRun.trigger_id == trigger.id).order_by(TriggerRun.created.desc()).limit(1))
        day = date.fromisoformat(biggest)
    path = f"/reports/triggers/{trigger.id}/recipients?day={day}&metric=delivered&format=csv"
    client.get(path.replace("format=csv", "page=1"))  # warm up everything but the export itself
    reset_peak()
    baseline = rss_mb()
    started = time.perf_counter()
    if mode == "streamed":
        response = client.get(path)
        chunks, size, first_byte, lines = 0, 0, None, 0
        for chunk in response.response:
            first_byte = first_byte or time.perf_counter() - started
            chunks += 1
            size += len(chunk)
            lines += chunk.count("\n" if isinstance(chunk, str) else b"\n")
        response.close()
        rows = lines - 1
    else:
        with app.app_context():
            query = reports.recipients_query(trigger, day, "delivered")
            everything = db.session.execute(query).all()
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for row in everything:
                writer.writerow([row.external_id, row.email, row.first_name, row.last_name,
                                 row.account_name, row.at, row.kind, row.detail])
            size, rows, chunks, first_byte = len(buffer.getvalue()), len(everything), 1, None
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "bytes": size, "chunks": chunks, "seconds": seconds,
                      "first_byte": first_byte, "baseline_mb": baseline,
                      "peak_mb": peak_mb(), "growth_mb": peak_mb() - baseline}))


def measure_csv(url):
    out = {}
    for mode in ("streamed", "all-at-once"):
        child = subprocess.run([sys.executable, "-m", "bench.reports", "--csv-child", mode, url],
                               capture_output=True, text=True, env=dict(os.environ))
        if child.returncode:
            print(child.stdout[-2000:], child.stderr[-4000:])
            raise SystemExit(f"CSV child ({mode}) failed")
        out[mode] = json.loads(child.stdout.strip().splitlines()[-1])
    s, a = out["streamed"], out["all-at-once"]
    print(f"  CSV export, streamed: {s['rows']:,} rows, {s['bytes'] / 2**20:.1f} MB in {s['chunks']:,} chunks, "
          f"{s['seconds']:.2f} s (first bytes after {s['first_byte'] * 1000:.0f} ms)")
    print(f"    RSS: baseline {s['baseline_mb']:.0f} MB, peak {s['peak_mb']:.0f} MB "
          f"(+{s['growth_mb']:.1f} MB while exporting)")
    print(f"  same rows fetched at once (.all() + CSV in memory): peak {a['peak_mb']:.0f} MB "
          f"(+{a['growth_mb']:.1f} MB), {a['seconds']:.2f} s")
    ratio = (s["growth_mb"] / a["growth_mb"]) if a["growth_mb"] > 0 else float("nan")
    print(f"    streamed growth / all-at-once growth = {ratio:.2f}x "
          f"-> target: constant memory (growth far below the all-at-once export)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rule-events", type=int, default=0, help="product events for the rules")
    parser.add_argument("--events", type=int, default=2_000_000, help="delivery events")
    parser.add_argument("--csv-rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--db", help="SQLite file to build (or reuse when it exists)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--csv-child", nargs=2, metavar=("MODE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.csv_child:
        return csv_child(args.csv_child[1], args.csv_child[0])
    if args.csv_rows > args.contacts:
        raise SystemExit("--csv-rows needs at least that many contacts")
    tmp = Path(tempfile.mkdtemp(prefix="nudge-bench-reports-"))
    os.environ.setdefault("NUDGE_INSTANCE_DIR", str(tmp / "instance"))
    path = Path(args.db) if args.db else tmp / "reports.db"
    url = f"sqlite:///{path}"
    reuse = path.exists()
    app = make_app(url)
    print(f"SQLite {path}{' (reused)' if reuse else ''}")
    if not reuse:
        build(app, args)
    measure(app, args)
    measure_csv(url)
    if not args.db:
        for f in tmp.glob("reports.db*"):
            f.unlink()


if __name__ == "__main__":
    main()
