"""A Doorbell (engine/ports.py) that records what the engine asks for instead of
queueing jobs, so engine tests assert on the asking and never need a queue.

It answers like the RQ one would with nobody working the queue: send jobs and
persona refreshes stay waiting (a second refresh of a waiting persona is not
rung again), render work stays pending, until the test calls `clear_waiting()`
-- as when workers have taken the jobs, or Redis lost them. It never runs
anything: a test that needs the work done calls the engine function itself.
"""
from datetime import datetime

from flask import current_app

from engine.sending.loop import MAX_JOBS_PER_RING, claim_limit


def _send_jobs_for(messages: int) -> int:
    # The RQ doorbell's rule: one job per batch of due messages, within the per-ring cap.
    return min(MAX_JOBS_PER_RING, max(1, -(-messages // claim_limit(current_app.config))))


class RecordingDoorbell:
    def __init__(self):
        self.rings: list[tuple[str, dict]] = []  # (method, its arguments by name), in order
        self.send_jobs_waiting = 0
        self.refreshes_waiting: set[int] = set()
        self.renders_pending: set[int] = set()

    def _ring(self, method: str, **args) -> None:
        self.rings.append((method, args))

    def of(self, method: str) -> list[dict]:
        """The arguments of each ring of `method`, in order."""
        return [args for name, args in self.rings if name == method]

    def clear_waiting(self) -> None:
        """Nothing rung so far waits any more (workers took it, or Redis lost it)."""
        self.send_jobs_waiting = 0
        self.refreshes_waiting.clear()
        self.renders_pending.clear()

    # ---- the Doorbell protocol ----

    def send(self, messages: int, at: datetime | None, now: datetime, *,
             as_of: datetime | None = None) -> int:
        self._ring("send", messages=messages, at=at, now=now, as_of=as_of)
        jobs = _send_jobs_for(messages)
        self.send_jobs_waiting += jobs
        return jobs

    def send_top_up(self, messages: int, as_of: datetime) -> int:
        self._ring("send_top_up", messages=messages, as_of=as_of)
        missing = max(0, _send_jobs_for(messages) - self.send_jobs_waiting)
        self.send_jobs_waiting += missing
        return missing

    def refresh_persona(self, persona_id: int, as_of: datetime | None = None) -> bool:
        self._ring("refresh_persona", persona_id=persona_id, as_of=as_of)
        if persona_id in self.refreshes_waiting:
            return False
        self.refreshes_waiting.add(persona_id)
        return True

    def refresh_personas_for_contacts(self, contact_ids: list[int]) -> None:
        self._ring("refresh_personas_for_contacts", contact_ids=list(contact_ids))

    def render_run(self, trigger_id: int, shards: int) -> None:
        self._ring("render_run", trigger_id=trigger_id, shards=shards)
        self.renders_pending.add(trigger_id)

    def render_run_pending(self, trigger_id: int) -> bool:
        # A question, not a ring: not recorded.
        return trigger_id in self.renders_pending

    def run_import(self, import_id: int) -> None:
        self._ring("run_import", import_id=import_id)
