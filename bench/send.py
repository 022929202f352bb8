"""Sending throughput: `flask nudge worker` processes vs a bare smtplib loop.

    python -m bench.send [--messages 10000] [--workers 1,2,4] [--sinks N] [--rounds 3]
                         [--pipelining both|on|off]

A local aiosmtpd sink (one process per worker, each on its own port) accepts
everything and records each Message-ID; run once as stock aiosmtpd
and once advertising PIPELINING (RFC 2920, which production servers offer and
aiosmtpd copes with but does not announce). In the same run it times:
  bare     one process, one reused smtplib connection, sendmail() of the same
           messages already built (no database, no tracking, no bookkeeping;
           smtplib never pipelines);
           run alternately with the workers, --rounds times each, best kept
  workers  N real RQ worker processes sending N jobs' worth of approved outbox
           messages: claim batches, build the MIME message with tracking
           (click/open/unsubscribe tokens signed per message), mark sending
           (committed before the end-of-data line goes out) -> SMTP -> mark
           sent + delivery event + account log (committed with the next
           message's sending mark), one connection per job
Per-worker efficiency = (messages/s with N workers / N) / bare messages/s of
that round. Every message here has the same HTML, so the worker parses it once
(engine/tracking.py caches the link layout per HTML); personalised HTML costs
one parse per message more.
Target >= 0.8x per worker. The sink, the workers and the database share this
machine's cores, so more workers than cores cannot scale linearly.
Runs on a temporary SQLite database, and also on PostgreSQL when DATABASE_URL is
set (in a temporary database created on that server and dropped afterwards).
"""
import argparse
import asyncio
import multiprocessing
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Child processes (workers, the memory run) share the parent's instance dir and so
# its embedded Redis; the parent shuts that Redis down when it is done.
from bench.common import make_app, run_on_each_database

_TMP = Path(os.environ.get("NUDGE_BENCH_DIR") or tempfile.mkdtemp(prefix="nudge-bench-send-"))
os.environ["NUDGE_BENCH_DIR"] = str(_TMP)
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")
_PG_URL = os.environ.pop("DATABASE_URL", "")
REPO = Path(__file__).resolve().parents[1]
TARGET = 0.8
MESSAGE_ID = re.compile(rb"^Message-ID: (\S+)", re.M | re.I)
HTML = ("<html><body><h1>Hi Ada,</h1><p>Here is what your team did this week.</p>"
        '<p><a href="https://example.com/reports">Build a report</a> or '
        '<a href="https://example.com/alerts">set up alerts</a>.</p>' + "<p>More news.</p>" * 20
        + "</body></html>")
TEXT = "Hi Ada,\n\nHere is what your team did this week.\n" + "More news.\n" * 20


def _sink_process(port, out_path, ready, pipelining):
    from aiosmtpd.smtp import SMTP

    seen = []

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            if pipelining:  # aiosmtpd reads command by command, so it copes; it just does not say so
                responses.insert(-1, "250-PIPELINING")
            return responses

        async def handle_DATA(self, server, session, envelope):
            found = MESSAGE_ID.search(envelope.content)
            seen.append(found.group(1).decode() if found else "?")
            return "250 OK"

    def stop(*_):
        Path(out_path).write_text("\n".join(seen))
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    loop = asyncio.new_event_loop()
    # IPPROTO_TCP, as aiosmtpd's Controller makes it: asyncio then turns Nagle off, as for any TCP server.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", port))
    loop.run_until_complete(loop.create_server(lambda: SMTP(Handler()), sock=sock))
    ready.set()
    loop.run_forever()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """`processes` single-process aiosmtpd servers, each on its own port: worker
    k talks to ports[k], as an MTA gives each connection its own process (one
    shared port would put two connections on one process half the time)."""

    def __init__(self, processes: int, pipelining: bool = False):
        self.ports = [_free_port() for _ in range(processes)]
        self.port = self.ports[0]  # the bare loop's
        self.files = [_TMP / f"sink-{i}-{time.time_ns()}.txt" for i in range(processes)]
        self.procs = []
        for port, path in zip(self.ports, self.files):
            ready = multiprocessing.Event()
            proc = multiprocessing.Process(target=_sink_process, args=(port, str(path), ready,
                                                                         pipelining))
            proc.start()
            ready.wait(10)
            self.procs.append(proc)

    def stop(self) -> list[str]:
        for proc in self.procs:
            os.kill(proc.pid, signal.SIGTERM)
            proc.join(10)
        ids = []
        for path in self.files:
            ids += [line for line in path.read_text().splitlines() if line]
        return ids


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


class MachineBusy:
    """The share of all this machine's cores that was busy (psutil), so a run
    shows when it was bound by CPU rather than by the send path."""

    def __enter__(self):
        import psutil

        self.before, self.share = psutil.cpu_times(), 0.0
        return self

    def __exit__(self, *exc):
        import psutil

        after = psutil.cpu_times()
        total = sum(after) - sum(self.before)
        idle = (after.idle + after.iowait) - (self.before.idle + self.before.iowait)
        self.share = 1 - idle / total if total > 0 else 0.0


def bare(app, trigger, n, port) -> tuple[float, float]:
    """Messages/s of a plain smtplib loop on one connection (messages pre-built)."""
    from engine.mailer import message_bytes

    config = dict(app.config)
    messages = [message_bytes({"id": i, "to_email": f"user{i}@example.com",
                               "subject": "Your week, Ada", "html": HTML, "text": TEXT},
                              trigger, config=config, message_id=f"<bare-{i}@bench>")
                for i in range(n)]
    smtp = smtplib.SMTP("127.0.0.1", port)
    smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the mailer does
    with MachineBusy() as busy:
        started = time.perf_counter()
        for i, data in enumerate(messages):
            smtp.sendmail("success@example.com", [f"user{i}@example.com"], data)
        seconds = time.perf_counter() - started
    smtp.quit()
    return n / seconds, busy.share


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
        for pipelining in args.pipelining:
            print(f"\n{label}: {args.messages:,} messages, sink of {args.sinks} processes, "
                  f"{'advertising PIPELINING' if pipelining else 'stock aiosmtpd (no PIPELINING)'}")
            compare(app, trigger, url, args, Sink(args.sinks, pipelining))


def compare(app, trigger, url, args, sink):
    try:
        for count in args.workers:
            # Bare loop and workers alternate, --rounds times, and each keeps its
            # best: on a small shared machine either drifts by 30% between runs,
            # and noise only ever slows a run down.
            bases, rates = [], []
            for _ in range(args.rounds):
                bases.append(bare(app, trigger, args.messages, sink.port))
                reset()
                rates.append(workers_rate(url, args.messages, count, sink.ports))
            (base, base_busy), (rate, busy) = max(bases), max(rates)
            cores = os.cpu_count()
            print(f"  bare smtplib loop, 1 connection    {base:8,.0f} msgs/s  "
                  f"(best of {', '.join(f'{b:,.0f}' for b, _ in bases)}; "
                  f"{base_busy:.0%} of {cores} cores busy)")
            per_worker = rate / count / base
            print(f"  {count} worker process{'es' if count > 1 else '  '}              "
                  f"{rate:8,.0f} msgs/s  (best of {', '.join(f'{r:,.0f}' for r, _ in rates)}; "
                  f"{busy:.0%} of {cores} cores busy)  {per_worker:.2f}x per worker -> "
                  f"target >= {TARGET}x {'met' if per_worker >= TARGET else 'NOT met'}")
    finally:
        received = sink.stop()
    ours = [m for m in received if not m.startswith("<bare-")]
    dupes = len(ours) - len(set(ours))
    rounds = len(args.workers) * args.rounds
    print(f"  sink received {len(ours):,} worker messages for {rounds} rounds of "
          f"{args.messages:,}; Message-IDs repeated only across rounds: "
          f"{'yes' if dupes == (rounds - 1) * args.messages else 'NO'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--sinks", type=int, default=0,
                        help="sink processes (default: one per worker of the largest run)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs of each side")
    parser.add_argument("--pipelining", choices=("both", "on", "off"), default="both",
                        help="whether the sink advertises PIPELINING (RFC 2920)")
    args = parser.parse_args()
    args.pipelining = {"both": (False, True), "on": (True,), "off": (False,)}[args.pipelining]
    args.workers = [int(w) for w in args.workers.split(",")]
    args.sinks = args.sinks or max(args.workers)
    run_on_each_database(run, args, f"sqlite:///{_TMP / 'send.db'}", _PG_URL, "send")


if __name__ == "__main__":
    main()
