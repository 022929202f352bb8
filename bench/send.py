"""Sending throughput: `flask nudge worker` processes vs a bare smtplib loop.

    python -m bench.send [--messages 10000] [--workers 1,2] [--sinks N] [--rounds 3]
                         [--reply-delay-ms 0,2]

A local aiosmtpd sink (one process per worker, each on its own port) accepts
everything and records each Message-ID; run as stock aiosmtpd (answering as
fast as loopback allows) and as a sink that waits --reply-delay-ms before each
reply (a relay across a network: 5-20 ms a round trip). In the same run it times:
  bare     one process, one reused smtplib connection, sendmail() of the same
           messages already built (no database, no tracking, no bookkeeping)
  workers  N real RQ worker processes sending N jobs' worth of approved outbox
           messages: claim batches, build the MIME message with tracking
           (click/open/unsubscribe tokens signed per message), mark sending
           (committed before the end-of-data line goes out) -> SMTP -> mark
           sent + delivery event + account log (committed), one connection
           per job
  crowd    (N > 1) N bare loops at once, one process and connection each, the
           messages split between them: how far this machine itself scales
The marks alone (no SMTP, no MIME) are timed too: with them the best a worker
can reach is bare / (bare + marks).
Each side runs --rounds times, alternating, and keeps its best. The target:
1 worker >= 0.8x the bare loop, best against best and also as the median of
each round's own ratio (the two sides of a round run seconds apart, so the
machine's drift between rounds cancels out), met when both are. N > 1
workers are shown against N bare loops at once, for information: on a small
machine they share its cores with the sink. Every message here has the same
HTML, so the worker parses it once (engine/tracking caches the link layout
per HTML); personalised HTML costs one parse per message more.
The sink, the workers and the database share this machine's cores: the crowd
line shows what N connections at once can do here with no Nudge at all, and
the workers are compared with it too.
Runs on a temporary SQLite database, and also on PostgreSQL when DATABASE_URL is
set (in a temporary database created on that server and dropped afterwards).
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Child processes (workers, the memory run) share the parent's instance dir and so
# its embedded Redis; the parent shuts that Redis down when it is done.
from bench.common import make_app, run_on_each_database
from bench.send_smtp import MachineBusy, Sink, bare, bare_concurrent

_TMP = Path(os.environ.get("NUDGE_BENCH_DIR") or tempfile.mkdtemp(prefix="nudge-bench-send-"))
os.environ["NUDGE_BENCH_DIR"] = str(_TMP)
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")
_PG_URL = os.environ.pop("DATABASE_URL", "")
REPO = Path(__file__).resolve().parents[1]
TARGET = 0.8
HTML = ("<html><body><h1>Hi Ada,</h1><p>Here is what your team did this week.</p>"
        '<p><a href="https://example.com/reports">Build a report</a> or '
        '<a href="https://example.com/alerts">set up alerts</a>.</p>' + "<p>More news.</p>" * 20
        + "</body></html>")
TEXT = "Hi Ada,\n\nHere is what your team did this week.\n" + "More news.\n" * 20


def prepare(n):
    """n approved, rendered, due outbox messages (one account, one trigger)."""
    from sqlalchemy import insert, select

    from extensions import db
    from models import Account, Contact, OutboxMessage, Trigger
    from models.base import utcnow

    now = utcnow()
    account = Account(external_id="bench", name="Bench Co", status="active", attributes={})
    trigger = Trigger(name="Weekly summary", from_email="success@example.com",
                      subject="Your week", html=HTML, status="active", rule={"all": []})
    db.session.add_all([account, trigger])
    db.session.flush()
    db.session.execute(insert(Contact.__table__), [
        dict(external_id=f"b{i}", account_id=account.id, email=f"user{i}@example.com",
             is_crm_contact=False, is_product_user=True, created_at=now, attributes={})
        for i in range(n)])
    ids = db.session.execute(select(Contact.id).order_by(Contact.id)).scalars().all()
    db.session.execute(insert(OutboxMessage.__table__), [
        dict(trigger_id=trigger.id, contact_id=cid, account_id=account.id, occurrence_key="b",
             to_email=f"user{i}@example.com", subject="Your week, Ada", html=HTML, text=TEXT,
             state="approved", created_at=now, updated_at=now, attempts=0)
        for i, cid in enumerate(ids)])
    db.session.commit()
    return trigger


def reset():
    from sqlalchemy import text

    from extensions import db

    for sql in ("DELETE FROM delivery_events", "DELETE FROM communications",
                "UPDATE outbox_messages SET state = 'approved', sent_at = NULL, claim_token = NULL, "
                "claimed_at = NULL, smtp_reply = NULL"):
        db.session.execute(text(sql))
    db.session.commit()


def marks_seconds(n) -> float:
    """Seconds per message of the send loop's marks alone, as the loop runs them
    (mark sending + COMMIT, mark sent + delivery event + COMMIT), no SMTP, no
    MIME: the least a worker adds to each bare-loop message."""
    from engine.outbox import send_states
    from extensions import db
    from models.base import utcnow

    token, ids = send_states.claim_due_batch(utcnow(), n)
    with db.engine.connect() as conn:
        started = time.perf_counter()
        for message_id in ids:
            send_states.mark_sending(message_id, token, utcnow(), conn=conn)
            conn.commit()
            send_states.mark_sent(message_id, token, "250 OK", utcnow(), conn=conn)
            conn.commit()
        seconds = (time.perf_counter() - started) / max(1, len(ids))
    reset()
    return seconds


def built_messages(app, trigger, n) -> list[tuple[str, bytes]]:
    """The bare loops' messages: what the workers send, built once beforehand."""
    from engine.sending.mime import message_bytes

    config = dict(app.config)
    return [(f"user{i}@example.com",
             message_bytes({"id": i, "to_email": f"user{i}@example.com", "subject": "Your week, Ada",
                            "html": HTML, "text": TEXT},
                           trigger, config=config, message_id=f"<bare-{i}@bench>"))
            for i in range(n)]


def workers_rate(url, n, count, ports) -> tuple[float, float]:
    from sqlalchemy import func, select
    from rq import Worker

    from extensions import db
    from models import OutboxMessage
    from workers.queues import get_queue, get_redis

    env = dict(os.environ, DATABASE_URL=url, SMTP_HOST="127.0.0.1", FLASK_APP="app.py",
               SEND_RATE_PER_SECOND="0")
    procs = [subprocess.Popen([sys.executable, "-m", "flask", "nudge", "worker"], cwd=REPO,
                              env=dict(env, SMTP_PORT=str(ports[k % len(ports)])),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True) for k in range(count)]
    try:
        deadline = time.monotonic() + 60
        while Worker.count(connection=get_redis()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        with MachineBusy() as busy:
            started = time.perf_counter()
            jobs = [get_queue("emails").enqueue("workers.jobs.send_batch_job", job_timeout=600)
                    for _ in range(count)]
            # Watched through Redis, then checked in the database: counting rows every
            # few ms would take CPU from the workers on a small machine.
            while not all(job.get_status(refresh=True) in ("finished", "failed") for job in jobs):
                if time.perf_counter() - started > 600:
                    raise SystemExit("the send jobs did not finish within 600 s")
                time.sleep(0.01)
            while True:  # a job past its time budget hands the rest to a new job
                sent = db.session.scalar(select(func.count()).where(OutboxMessage.state == "sent"))
                db.session.rollback()
                if sent >= n:
                    break
                if time.perf_counter() - started > 600:
                    raise SystemExit(f"only {sent} of {n} sent after 600 s")
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        return n / seconds, busy.share
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(30)


def run(label, url, args):
    from workers.queues import get_redis

    app = make_app(url)
    with app.app_context():
        get_redis().flushdb()
        trigger = prepare(args.messages)
        messages = built_messages(app, trigger, args.messages)
        marks = min(marks_seconds(args.messages) for _ in range(args.rounds))
        for delay in args.reply_delay_ms:
            print(f"\n{label}: {args.messages:,} messages, sink of {args.sinks} processes, "
                  f"{f'replying after {delay:g} ms' if delay else 'replying at once'}")
            compare(messages, url, args, Sink(args.sinks, _TMP, delay), marks)


def _rates(runs) -> str:
    return ", ".join(f"{rate:,.0f}" for rate, _ in runs)


def _line(label, runs, extra="") -> None:
    rate, busy = max(runs)
    print(f"  {label:<36}{rate:8,.0f} msgs/s  (best of {_rates(runs)}; "
          f"{busy:.0%} of {os.cpu_count()} cores busy){extra}")


def _ratios(rates, bases) -> tuple[float, float]:
    """The ratio best against best, and the median of each round's own ratio
    (a round's two sides run seconds apart, so machine drift cancels)."""
    best = max(rates)[0] / max(bases)[0]
    paired = statistics.median(r[0] / b[0] for r, b in zip(rates, bases))
    return best, paired


def compare(messages, url, args, sink, marks):
    n = len(messages)
    try:
        for count in args.workers:
            # The sides alternate, --rounds times, and each keeps its best: on a
            # small shared machine any of them drifts by 30% between runs, and
            # noise only ever slows a run down.
            bases, rates, crowds = [], [], []
            for _ in range(args.rounds):
                bases.append(bare(messages, sink.ports[0]))
                reset()
                rates.append(workers_rate(url, n, count, sink.ports))
                if count > 1:
                    ports = [sink.ports[k % len(sink.ports)] for k in range(count)]
                    crowds.append(bare_concurrent(messages, ports))
            _line("bare smtplib loop, 1 connection", bases)
            if count == 1:  # the target: one worker against one bare loop
                best, paired = _ratios(rates, bases)
                met = min(best, paired) >= TARGET
                _line("1 worker process", rates,
                      f"  {best:.2f}x the bare loop (median of rounds {paired:.2f}x) -> "
                      f"target >= {TARGET}x {'met' if met else 'NOT met'}")
                bare_seconds = 1 / max(bases)[0]
                print(f"  {'the marks alone (no SMTP, no MIME)':<36}{marks * 1000:8.3f} ms/message"
                      f"  -> at most {bare_seconds / (bare_seconds + marks):.2f}x the bare loop "
                      "with two commits per message")
                continue
            # N workers on 2 cores share them with the sink: for information only,
            # against N bare loops running at once on the same machine.
            _line(f"{count} bare loops at once", crowds,
                  f"  {max(crowds)[0] / max(bases)[0]:.2f}x one loop")
            best, paired = _ratios(rates, crowds)
            _line(f"{count} worker processes", rates,
                  f"  {best:.2f}x {count} bare loops at once (median of rounds {paired:.2f}x; "
                  "for information)")
    finally:
        received = sink.stop()
    ours = [m for m in received if not m.startswith("<bare-")]
    dupes = len(ours) - len(set(ours))
    rounds = len(args.workers) * args.rounds
    print(f"  sink received {len(ours):,} worker messages for {rounds} rounds of "
          f"{n:,}; Message-IDs repeated only across rounds: "
          f"{'yes' if dupes == (rounds - 1) * n else 'NO'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--sinks", type=int, default=0,
                        help="sink processes (default: one per worker of the largest run)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs of each side")
    parser.add_argument("--reply-delay-ms", default="0,2",
                        help="comma-separated: the sink waits this long before each reply "
                             "(0: stock aiosmtpd)")
    args = parser.parse_args()
    args.reply_delay_ms = [float(d) for d in args.reply_delay_ms.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    args.sinks = args.sinks or max(args.workers)
    run_on_each_database(run, args, f"sqlite:///{_TMP / 'send.db'}", _PG_URL, "send")


if __name__ == "__main__":
    main()
