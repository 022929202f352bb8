"""Generating outbox messages at scale: one schedule trigger with every control on.

    python -m bench.tick [--accounts 2500] [--contacts 50000] [--memory-contacts 1000000]

Data from devtools.demo.generate (seed-demo's generator), plus history so the
controls have work to do: another trigger emailed every 10th contact yesterday
(global delay), this trigger emailed every 20th contact 3 days ago (re-trigger
delay / never re-trigger); the demo data has ~3% unsubscribed contacts.

In the same run it times (best of --rounds, default 3, each on the same data):
  baseline  a bare INSERT ... SELECT of the same rows (the rule's matches, the
            same columns the tick writes), no controls: the least any generator
            has to do
  tick      engine.triggers.generate.generate_step: rule -> controls -> one INSERT ...
            SELECT (pending approval, or suppressed with its reason); a run
            this big is rendered by render jobs (runs <= 500 inline)
  render    what those render jobs do, timed in this process (reported, not
            part of the ratio: it runs after the tick, in parallel workers)
  again     a second tick for the same occurrence (must insert 0 rows in < 1 s)
--memory-contacts N: a separate process ticks a trigger matching N contacts,
renders --memory-render of the messages (default 100,000; 0 = all) in batches
and reports its peak RSS (target < 300 MB).
Runs on a temporary SQLite database, and also on PostgreSQL when DATABASE_URL is
set (in a temporary database created on that server and dropped afterwards).
Targets: tick >= 0.5x the baseline's rows/s; again < 1 s; render on PostgreSQL
>= 0.5x SQLite's msgs/s in the same run.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from datetime import datetime, time as clock, timedelta
from pathlib import Path

# Child processes (workers, the memory run) share the parent's instance dir and so
# its embedded Redis; the parent shuts that Redis down when it is done.
from bench.common import best_of, make_app, run_on_each_database, timed

_TMP = Path(os.environ.get("NUDGE_BENCH_DIR") or tempfile.mkdtemp(prefix="nudge-bench-tick-"))
os.environ["NUDGE_BENCH_DIR"] = str(_TMP)
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")
_PG_URL = os.environ.pop("DATABASE_URL", "")

NOW = datetime(2026, 3, 2, 8, 0, 30)  # just after the trigger's 08:00 (UTC) generate time
RULE = {"user_types": ["product_user", "crm_contact", "inactive", "churned_account"], "all": []}
SUBJECT = "{{ contact.first_name }}, your {{ account.plan }} plan this week"
HTML = """<html><body><h1>Hi {{ contact.first_name }},</h1>
<p>{{ account.name }} has {{ account.arr | money }} ARR on the {{ account.plan }} plan.</p>
<p>Here is what your team did this week and three things worth trying next:</p>
<ul><li><a href="https://example.com/reports">Build a report</a></li>
<li><a href="https://example.com/alerts">Set up alerts</a></li>
<li><a href="https://example.com/invite">Invite a colleague</a></li></ul>
<p>Questions? Just reply to this email.</p>
<p style="font-size:12px"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""
TEXT = ("Hi {{ contact.first_name }},\n\n{{ account.name }} is on the {{ account.plan }} plan.\n"
        "Build a report: https://example.com/reports\nUnsubscribe: {{ unsubscribe_url }}\n")
TARGET_RATIO = 0.5
TARGET_MB = 300
TARGET_RENDER_RATIO = 0.5  # issue 17: PostgreSQL renders at least half as fast as SQLite
RENDER_RATES = {}  # label -> msgs/s, so the PostgreSQL run can print its ratio to SQLite's


def add_trigger(name, status="active", **kw):
    from extensions import db
    from models import Trigger

    trigger = Trigger(name=name, from_email="success@example.com", subject=SUBJECT, html=HTML,
                      text=TEXT, kind="schedule", rule=RULE, generate_at=clock(8, 0),
                      send_at=clock(9, 0), timezone="UTC", status=status, **kw)
    db.session.add(trigger)
    db.session.commit()
    return trigger


def history(trigger_id, every, days_ago, key):
    """Sent messages of one trigger to every n-th contact, `days_ago` days back."""
    from sqlalchemy import text

    from extensions import db

    at = NOW - timedelta(days=days_ago)
    db.session.execute(text(
        "INSERT INTO outbox_messages (trigger_id, contact_id, account_id, occurrence_key, to_email,"
        " subject, state, created_at, updated_at, send_after, sent_at, attempts) "
        "SELECT :t, id, account_id, :k, email, 'earlier', 'sent', :at, :at, :at, :at, 0 "
        "FROM contacts WHERE id % :n = 0"), {"t": trigger_id, "k": key, "at": at, "n": every})
    db.session.commit()


def baseline(trigger_id):
    """INSERT ... SELECT of the same rows the tick writes (same columns, the
    rule's matches), without controls: the least any generator has to do."""
    from sqlalchemy import func, insert, literal, select

    from engine.rules import matching_contacts_select
    from extensions import db
    from models import Contact, OutboxMessage

    matches = matching_contacts_select(RULE, NOW).subquery()
    src = (select(literal(trigger_id), matches.c.contact_id, matches.c.account_id,
                  literal(NOW.date().isoformat()), Contact.email, literal("cancelled"),
                  literal(NOW), literal(NOW), literal(NOW + timedelta(hours=1)), literal(0))
           .join(Contact, Contact.id == matches.c.contact_id))
    cols = ["trigger_id", "contact_id", "account_id", "occurrence_key", "to_email", "state",
            "created_at", "updated_at", "send_after", "attempts"]
    db.session.execute(insert(OutboxMessage).from_select(cols, src))
    db.session.commit()
    return db.session.scalar(select(func.count()).where(OutboxMessage.trigger_id == trigger_id))


def forget(trigger_id):
    """Remove one trigger's generated rows and runs (between timed rounds)."""
    from sqlalchemy import text

    from extensions import db

    for sql in ("DELETE FROM outbox_messages WHERE trigger_id = :t AND occurrence_key = :k",
                "DELETE FROM trigger_runs WHERE trigger_id = :t"):
        db.session.execute(text(sql), {"t": trigger_id, "k": NOW.date().isoformat()})
    db.session.commit()


def run(label, url, args):
    from sqlalchemy import func, select, text

    from devtools.demo import generate
    from engine.triggers.generate import generate_step
    from engine.rules import matching_contacts_select
    from extensions import db

    app = make_app(url)
    with app.app_context():
        seconds, made = timed(lambda: generate(accounts=args.accounts, contacts=args.contacts,
                                               events=args.events, seed=7, now=NOW))
        welcome = add_trigger("Welcome", status="inactive")
        spare = add_trigger("Baseline rows", status="inactive")
        trigger = add_trigger("Weekly summary", priority=5, global_delay_days=3,
                              retrigger_delay_days=7, never_retrigger=True)
        history(welcome.id, 10, 1, "yesterday")
        history(trigger.id, 20, 3, "three-days-ago")
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        from workers.queues import get_redis

        get_redis().ping()  # a running worker has Redis and RQ loaded already
        matching = db.session.scalar(select(func.count()).select_from(
            matching_contacts_select(RULE, NOW).subquery()))
        print(f"\n{label}: {made['contacts']:,} contacts, {made['accounts']:,} accounts "
              f"(generated in {seconds:.1f} s); the trigger matches {matching:,}")

        base_cpu, tick_cpu = [], []
        base_s, base_rows = best_of(args.rounds, lambda: baseline(spare.id),
                                    lambda: forget(spare.id), base_cpu)
        tick_s, summary = best_of(args.rounds, lambda: generate_step(NOW),
                                  lambda: forget(trigger.id), tick_cpu)
        counts = summary[str(trigger.id)]
        rows = counts["candidates"]
        again_s, again = timed(lambda: generate_step(NOW + timedelta(minutes=1)))
        from engine.render.messages import render_pending

        render_s, rendered = timed(lambda: render_pending(NOW, trigger_id=trigger.id))
        base_rate, tick_rate = base_rows / base_s, rows / tick_s
        ratio = tick_rate / base_rate
        print(f"  baseline INSERT...SELECT {base_rows:8,} rows {base_s:7.2f} s {base_rate:10,.0f} rows/s")
        print(f"  tick (rule+controls)     {rows:8,} rows {tick_s:7.2f} s {tick_rate:10,.0f} rows/s"
              f"  ({counts['created']:,} to approve, {counts['suppressed']:,} suppressed; "
              f"{counts.get('render_queued', 0):,} handed to render jobs)")
        print(f"  ratio {ratio:.2f}x -> target >= {TARGET_RATIO}x "
              f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}")
        if label == "SQLite":  # SQLite works in this process: its CPU time is the work, less noise
            print(f"  (this process's CPU, best round: baseline {min(base_cpu):.2f} s, tick "
                  f"{min(tick_cpu):.2f} s, ratio {min(base_cpu) / min(tick_cpu):.2f}x; "
                  f"wall-clock decides the target)")
        n = rendered["rendered"] + rendered["failed"]
        RENDER_RATES[label] = n / max(render_s, 1e-9)
        print(f"  render jobs' work (one process) {n:,} messages {render_s:.2f} s "
              f"{RENDER_RATES[label]:,.0f} msgs/s (after the tick, in the background)")
        if label == "PostgreSQL" and "SQLite" in RENDER_RATES:
            render_ratio = RENDER_RATES[label] / RENDER_RATES["SQLite"]
            print(f"  render PostgreSQL / SQLite {render_ratio:.2f}x -> target >= "
                  f"{TARGET_RENDER_RATIO}x {'met' if render_ratio >= TARGET_RENDER_RATIO else 'NOT met'}")
        print(f"  second tick, same occurrence: {len(again)} runs, {again_s:.3f} s -> target < 1 s "
              f"{'met' if not again and again_s < 1 else 'NOT met'}")
    if args.memory_contacts:
        memory(label, url, args.memory_contacts, args.memory_render)


def memory(label, url, contacts, render_limit):
    """Generate for `contacts` contacts in a fresh process and report its peak RSS."""
    from sqlalchemy import text

    from devtools.demo import generate
    from extensions import db

    app = make_app(url)
    with app.app_context():
        for table in ("delivery_events", "outbox_messages", "trigger_runs", "triggers"):
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        generate(accounts=max(1, contacts // 20), contacts=contacts, events=0, seed=8,
                 now=NOW - timedelta(days=1))
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    child = subprocess.run([sys.executable, "-m", "bench.tick", "--tick-only", url,
                            "--memory-render", str(render_limit)],
                           capture_output=True, text=True, env=dict(os.environ))
    if child.returncode:
        print(child.stdout, child.stderr)
        raise SystemExit("memory run failed")
    print(f"  memory ({label}): {child.stdout.strip()} -> target < {TARGET_MB} MB")


def _peak_rss_mb() -> float:
    """VmHWM: this process's peak RSS since exec (ru_maxrss would include the
    forked parent's memory from before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tick_only(url, render_limit):
    """Child process of --memory-contacts: one tick, then render, then peak RSS."""
    from engine.triggers.generate import generate_step
    from engine.render.messages import render_pending

    app = make_app(url)
    with app.app_context():
        trigger_id = add_trigger("Memory", global_delay_days=3, retrigger_delay_days=7).id
        seconds, summary = timed(lambda: generate_step(NOW))
        tick_mb = _peak_rss_mb()
        render_s, rendered = timed(lambda: render_pending(NOW, trigger_id=trigger_id,
                                                          limit=render_limit or None))
    rows = summary[str(trigger_id)]["candidates"]
    peak_mb = _peak_rss_mb()
    verdict = "met" if peak_mb < TARGET_MB else "NOT met"
    print(f"tick {rows:,} rows in {seconds:.1f} s (peak RSS {tick_mb:.0f} MB), then rendered "
          f"{rendered['rendered']:,} in {render_s:.1f} s in batches; peak RSS {peak_mb:.0f} MB "
          f"({verdict})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2_500)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--memory-contacts", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best counts")
    parser.add_argument("--memory-render", type=int, default=100_000,
                        help="messages the memory run renders after its tick (0 = all)")
    parser.add_argument("--tick-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tick_only:
        return tick_only(args.tick_only, args.memory_render)
    run_on_each_database(run, args, f"sqlite:///{_TMP / 'tick.db'}", _PG_URL, "tick")


if __name__ == "__main__":
    main()
