"""Report pages at scale, measured through the Flask test client (signed in).

    python -m bench.reports [--contacts 100000] [--events 2000000] [--requests 60]
    python -m bench.reports --db /tmp/reports.db     # build once, re-measure later runs

Data (a temporary SQLite database): accounts and contacts from devtools.demo.generate
(seed-demo's generator); 50 active schedule triggers with 90 days of history, bulk
inserted with executemany -- a TriggerRun a day, the sent/failed outbox rows and
their delivery events (delivered or failed, then opened / clicked / unsubscribed)
until there are exactly --events delivery events, then the report aggregates
rebuilt from them as `flask nudge rebuild-reports` does (timed). One trigger had a big day: a
--csv-rows-recipient announcement. Then 450 more triggers without history, so the
triggers list shows 500.

Figures (targets from the reports issue):
  details   GET /reports/triggers/<id> (30 and 90 days) p50 / p95   target p95 < 100 ms
            (the "matching now" count is the page's own htmx request, timed separately)
  list      GET /triggers/ with 500 triggers p50 / p95             target p95 < 100 ms
  csv       the 100k-row recipients CSV, read chunk by chunk in a fresh process:
            chunks, time to first byte, peak RSS over the process baseline, vs a
            fresh process that fetches the same rows at once (.all()) and writes
            the CSV into memory -- what a non-streaming export costs.
--profile breaks each page down: every engine call it makes, timed alone, and the rest.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import make_app
from bench.reports_data import build

TARGET_MS = 100


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
    wall, cpu = [], []
    for i in range(n):
        url = urls[i % len(urls)]
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url)
        body = response.get_data()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200 and body, url
    return _percentiles(wall) + _percentiles(cpu)


def _percentiles(samples):
    samples = sorted(samples)
    return statistics.median(samples), samples[max(0, int(round(0.95 * len(samples))) - 1)]


def report(label, p50, p95, cpu50, cpu95):
    verdict = "met" if p95 < TARGET_MS else "NOT met"
    print(f"  {label:<34} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  -> target p95 < {TARGET_MS} ms {verdict}"
          f"   (CPU p50 {cpu50:.1f} / p95 {cpu95:.1f} ms)")


def _median_ms(fn, n=5):
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def profile(app, client, trigger_id):
    """Where a page's time goes: each engine call it makes, timed on its own
    (SQLite produces rows while they are fetched, so per-statement execute
    hooks would miss most of it), and the rest (rendering, framework)."""
    from sqlalchemy import select

    from engine import reports
    from engine.triggers.audience import audience_sample
    from engine.reports.fold import fold_for_reading
    from engine.triggers import trigger_stats
    from extensions import db
    from models import Trigger
    from models.base import utcnow

    with app.app_context():
        now, trigger = utcnow(), db.session.get(Trigger, trigger_id)
        all_ids = db.session.scalars(select(Trigger.id)).all()
        for days in (30, 90):
            page = _median_ms(lambda: client.get(f"/reports/triggers/{trigger_id}?days={days}"))
            start, end = reports.range_for(days, trigger.timezone, now)
            parts = {
                f"daily_trends ({days} days)": _median_ms(lambda: reports.daily_trends(trigger, start, end)),
                "daily_status": _median_ms(lambda: reports.daily_status(trigger)),
                "trigger_stats (1 trigger)": _median_ms(lambda: trigger_stats([trigger_id], now)),
            }
            _print_parts(f"details page, {days} days", page, parts)
        print(f"    (not in the page: its htmx request for \"matching now\" "
              f"{_median_ms(lambda: client.get(f'/reports/triggers/{trigger_id}/matching')):.1f} ms, "
              f"of which the audience count {_median_ms(lambda: audience_sample(trigger, now, limit=1)):.1f} ms)")
        page = _median_ms(lambda: client.get("/triggers/"))
        parts = {
            "fold check + trigger rows": _median_ms(lambda: (fold_for_reading(now), db.session.execute(select(Trigger.id, Trigger.name, Trigger.description, Trigger.kind, Trigger.status)).all())),
            f"trigger_stats ({len(all_ids)} triggers)": _median_ms(lambda: trigger_stats(all_ids, now)),
        }
        _print_parts("triggers list", page, parts)


def _print_parts(label, page, parts):
    print(f"    profile {label}: {page:.1f} ms (median)")
    for name, ms in parts.items():
        print(f"      {ms:7.1f} ms  {name}")
    print(f"      {page - sum(parts.values()):7.1f} ms  the rest: rendering, url building, framework")


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
    rows_shown = client.get("/triggers/").get_data(as_text=True).count('<td class="trigger-name">')
    print(f"  (the list page shows all {rows_shown} triggers: no paging)")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall times include waiting for"
          " other processes; CPU time is this process's own work)")
    if args.profile:
        profile(app, client, ids[1])
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
