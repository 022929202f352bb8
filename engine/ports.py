"""The Doorbell: how the engine asks for work to happen later, without knowing RQ.

Ringing is only a hint. Every piece of work it asks for is found again from the
database by the tick (the send sweep, the render sweep, the persona refresh
schedule, "Queue again" for imports), so a ring that is lost, late or
delivered twice delays work and never loses or repeats it. Implementations
raise on trouble; callers that must not fail catch and log.

The app installs one (workers/doorbell.py, on RQ) under
``app.extensions["doorbell"]``; tests install a recorder.
"""
from datetime import datetime
from typing import Protocol


class Doorbell(Protocol):
    def send(self, messages: int, at: datetime | None, now: datetime, *,
             as_of: datetime | None = None) -> int:
        """Ask for enough send jobs for `messages` due messages at `at` on the
        caller's clock `now` (None: at once). `as_of`: the clock the jobs run on
        when it is ahead of real time. Returns jobs rung."""

    def send_top_up(self, messages: int, as_of: datetime) -> int:
        """The sweep's ring: enough send jobs for `messages`, counting the ones
        already waiting, so a slow minute does not pile them up. Returns jobs rung."""

    def refresh_persona(self, persona_id: int, as_of: datetime | None = None) -> bool:
        """Ask for a full refresh of one persona; False when one is already waiting."""

    def refresh_personas_for_contacts(self, contact_ids: list[int]) -> None:
        """Ask for every persona to be refreshed for just these contacts."""

    def render_run(self, trigger_id: int, shards: int) -> None:
        """Ask for a big run's unrendered messages to be rendered in `shards` parallel parts."""

    def render_run_pending(self, trigger_id: int) -> bool:
        """Whether render work asked for by render_run may still be waiting or running."""

    def run_import(self, import_id: int) -> None:
        """Ask for one CSV import to run."""


def doorbell() -> Doorbell:
    """The app's doorbell (needs an app context)."""
    from flask import current_app

    return current_app.extensions["doorbell"]
