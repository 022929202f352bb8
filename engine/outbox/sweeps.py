"""Tick steps that keep sending honest whatever happened to Redis or a worker.

* expire_stuck_step: `sending` rows older than SENDING_LEASE_SECONDS become
  `uncertain` (their worker died mid-send; never re-sent silently).
* send_sweep_step: count what is due in the DATABASE and enqueue enough send
  jobs on the "emails" queue. A flushed or restarted Redis, or a scheduled
  job RQ never ran, delays a send by at most one tick; it never drops it.
  Jobs already waiting in the queue are counted, so a slow minute does not
  pile up jobs (extra jobs would find nothing to claim and end at once).
"""
import logging
import math
from datetime import datetime

from flask import current_app

from engine import outbox
from engine.sending.loop import MAX_JOBS_PER_RING, SEND_JOB, JOB_BUDGET_SECONDS, claim_limit

log = logging.getLogger(__name__)


def expire_stuck_step(now: datetime) -> dict:
    return {"uncertain": outbox.expire_stuck_sending(now)}


def send_sweep_step(now: datetime) -> dict:
    due = outbox.count_due(now)
    if not due:
        return {"due": 0, "enqueued": 0}
    from workers.queues import get_queue

    wanted = min(MAX_JOBS_PER_RING, math.ceil(due / claim_limit(current_app.config)))
    try:
        queue = get_queue("emails")
        missing = max(0, wanted - queue.count)
        for _ in range(missing):
            # The job runs on the tick's clock when that is ahead of real time (--now).
            queue.enqueue(SEND_JOB, now.isoformat(), job_timeout=JOB_BUDGET_SECONDS * 3,
                          result_ttl=300, failure_ttl=86400)
    except Exception as exc:  # noqa: BLE001 - Redis down: the next tick tries again
        log.warning("send sweep could not enqueue: %s", exc)
        return {"due": due, "enqueued": 0, "error": str(exc)[:300]}
    return {"due": due, "enqueued": missing}
