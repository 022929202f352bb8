"""Tick steps that keep sending honest whatever happened to Redis or a worker.

* expire_stuck_step: `sending` rows older than SENDING_LEASE_SECONDS become
  `uncertain` (their worker died mid-send; never re-sent silently).
* send_sweep_step: count what is due in the DATABASE and ring the doorbell
  for enough send jobs. A flushed or restarted Redis, or a scheduled
  job RQ never ran, delays a send by at most one tick; it never drops it.
  Jobs already waiting in the queue are counted, so a slow minute does not
  pile up jobs (extra jobs would find nothing to claim and end at once).
"""
import logging
from datetime import datetime

from engine import outbox
from engine.ports import doorbell

log = logging.getLogger(__name__)


def expire_stuck_step(now: datetime) -> dict:
    return {"uncertain": outbox.expire_stuck_sending(now)}


def send_sweep_step(now: datetime) -> dict:
    due = outbox.count_due(now)
    if not due:
        return {"due": 0, "enqueued": 0}
    try:
        # The jobs run on the tick's clock when that is ahead of real time (--now).
        rung = doorbell().send_top_up(due, now)
    except Exception as exc:  # noqa: BLE001 - Redis down: the next tick tries again
        log.warning("send sweep could not ring: %s", exc)
        return {"due": due, "enqueued": 0, "error": str(exc)[:300]}
    return {"due": due, "enqueued": rung}
