"""The SMTP side of the send bench (bench/send.py): the aiosmtpd sink, how busy
the machine was, and the bare smtplib loops the workers are compared with."""
import asyncio
import multiprocessing
import os
import re
import signal
import smtplib
import socket
import threading
import time
from pathlib import Path

MESSAGE_ID = re.compile(rb"^Message-ID: (\S+)", re.M | re.I)


def _sink_process(port, out_path, ready, reply_delay):
    from aiosmtpd.smtp import SMTP

    seen = []

    class SlowSMTP(SMTP):
        """Waits `reply_delay` seconds before each reply line, as a relay across a network does."""

        async def push(self, status):
            await asyncio.sleep(reply_delay)
            await super().push(status)

    class Handler:
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
    server_class = SlowSMTP if reply_delay else SMTP
    loop.run_until_complete(loop.create_server(lambda: server_class(Handler()), sock=sock))
    ready.set()
    loop.run_forever()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """`processes` single-process aiosmtpd servers, each on its own port: worker
    k talks to ports[k], as an MTA gives each connection its own process (one
    shared port would put two connections on one process half the time).
    Each records the Message-IDs it took in a file under `directory`.
    reply_delay_ms: how long each reply waits (0: stock aiosmtpd, as fast as loopback)."""

    def __init__(self, processes: int, directory: Path, reply_delay_ms: float = 0):
        self.ports = [_free_port() for _ in range(processes)]
        self.files = [directory / f"sink-{i}-{time.time_ns()}.txt" for i in range(processes)]
        self.procs = []
        for port, path in zip(self.ports, self.files):
            ready = multiprocessing.Event()
            proc = multiprocessing.Process(target=_sink_process, args=(port, str(path), ready,
                                                                         reply_delay_ms / 1000))
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


def _connect(port) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", port)
    smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the mailer does
    return smtp


def _send_all(smtp, messages) -> None:
    for to, data in messages:
        smtp.sendmail("success@example.com", [to], data)


def bare(messages, port) -> tuple[float, float]:
    """Messages/s of a plain smtplib loop on one connection; messages are
    (recipient, bytes) pairs, already built. Also how busy the machine was."""
    smtp = _connect(port)
    with MachineBusy() as busy:
        started = time.perf_counter()
        _send_all(smtp, messages)
        seconds = time.perf_counter() - started
    smtp.quit()
    return len(messages) / seconds, busy.share


def _bare_process(messages, port, ready, go):
    smtp = _connect(port)
    ready.wait()  # every loop connected before the clock starts
    go.wait()
    _send_all(smtp, messages)
    smtp.quit()


def bare_concurrent(messages, ports) -> tuple[float, float]:
    """Messages/s of len(ports) bare loops at once, one process and one
    connection each (loop k to ports[k], as worker k), the messages split
    between them: what the machine does with no Nudge at all."""
    count = len(ports)
    ready, go = multiprocessing.Barrier(count + 1), multiprocessing.Event()
    procs = [multiprocessing.Process(target=_bare_process,
                                     args=(messages[k::count], ports[k], ready, go))
             for k in range(count)]
    for proc in procs:
        proc.start()
    try:
        ready.wait(60)  # a loop that could not connect never arrives: fail, do not hang
    except threading.BrokenBarrierError:
        for proc in procs:
            proc.terminate()
        raise SystemExit("a bare loop could not connect to the sink") from None
    with MachineBusy() as busy:
        started = time.perf_counter()
        go.set()
        for proc in procs:
            proc.join()
        seconds = time.perf_counter() - started
    if any(proc.exitcode for proc in procs):
        raise SystemExit("a bare loop failed")
    return len(messages) / seconds, busy.share
