"""RQ entry points only: open an app context, load ids, call engine/."""
from contextlib import contextmanager

_app = None


@contextmanager
def app_context():
    """Reuse the caller's app context (tests, SimpleWorker) or make one."""
    global _app
    from flask import has_app_context

    if has_app_context():
        yield
        return
    if _app is None:
        from app import create_app

        _app = create_app()
    with _app.app_context():
        yield


def tick_job(now_iso: str | None = None):
    from datetime import datetime

    from engine.tick import run_tick

    with app_context():
        now = datetime.fromisoformat(now_iso) if now_iso else None
        return run_tick(now)
