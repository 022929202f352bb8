"""The engine's Doorbell (engine/ports.py) on RQ. Job names are the
"workers.jobs.*" paths, unchanged, so jobs queued before an upgrade still run."""
import math
from datetime import timedelta

from flask import current_app
from rq.exceptions import DuplicateJobError

from engine.sending.loop import JOB_BUDGET_SECONDS, MAX_JOBS_PER_RING, claim_limit
from workers.queues import get_queue, get_redis

SEND_JOB = "workers.jobs.send_batch_job"
RENDER_JOB = "workers.jobs.render_outbox_job"
# While this key lives, render jobs for the trigger may still be waiting or running.
RENDER_MARKER = "nudge:render-jobs:{}"
RENDER_MARKER_SECONDS = 900


def _send_jobs_for(messages: int) -> int:
    return min(MAX_JOBS_PER_RING, max(1, math.ceil(messages / claim_limit(current_app.config))))


def _send_kwargs() -> dict:
    return dict(job_timeout=JOB_BUDGET_SECONDS * 3, result_ttl=300, failure_ttl=86400)


class RQDoorbell:
    def send(self, messages, at, now, *, as_of=None):
        queue = get_queue("emails")
        delay = (at - now).total_seconds() if at else 0
        args = (as_of.isoformat(),) if as_of else ()
        jobs = _send_jobs_for(messages)
        for _ in range(jobs):
            if delay > 0.5:
                queue.enqueue_in(timedelta(seconds=delay + 1), SEND_JOB, *args, **_send_kwargs())
            else:
                queue.enqueue(SEND_JOB, *args, **_send_kwargs())
        return jobs

    def send_top_up(self, messages, as_of):
        queue = get_queue("emails")
        missing = max(0, _send_jobs_for(messages) - queue.count)
        for _ in range(missing):
            queue.enqueue(SEND_JOB, as_of.isoformat(), **_send_kwargs())
        return missing

    def refresh_persona(self, persona_id, as_of=None):
        # A fixed job id enqueued `unique`: a refresh still waiting is not queued twice.
        try:
            get_queue("default").enqueue(
                "workers.jobs.refresh_persona_job", persona_id, None,
                as_of.isoformat() if as_of else None,
                job_id=f"persona-refresh-{persona_id}", unique=True,
                result_ttl=0, failure_ttl=600, job_timeout=900)
        except DuplicateJobError:
            return False
        return True

    def refresh_personas_for_contacts(self, contact_ids):
        get_queue("default").enqueue("workers.jobs.refresh_contacts_personas_job", list(contact_ids),
                                     result_ttl=0, failure_ttl=3600, job_timeout=900)

    def render_run(self, trigger_id, shards):
        queue = get_queue("default")
        queue.connection.set(RENDER_MARKER.format(trigger_id), shards, ex=RENDER_MARKER_SECONDS)
        for index in range(shards):
            queue.enqueue(RENDER_JOB, trigger_id, index, shards,
                          job_timeout=3600, result_ttl=300, failure_ttl=86400)

    def render_run_pending(self, trigger_id):
        return bool(get_redis().exists(RENDER_MARKER.format(trigger_id)))

    def run_import(self, import_id):
        get_queue("imports").enqueue("workers.jobs.import_job", import_id, job_timeout=3600,
                                     result_ttl=3600, failure_ttl=7 * 86400)
