"""Triggers: one validation for the wizard and the API, lifecycle, JSON shape, stats.

(Signatures first so other areas can import; bodies are being filled in.)
"""
from datetime import datetime


class TriggerInUse(Exception):
    """Refused: messages of this trigger still wait in the outbox."""


def validate_trigger(data: dict, *, for_activation: bool = False) -> tuple[dict, list[dict]]:
    raise NotImplementedError


def activation_problems(trigger) -> list[str]:
    raise NotImplementedError


def trigger_to_json(trigger, now: datetime) -> dict:
    raise NotImplementedError


def trigger_stats(trigger_ids, now: datetime) -> dict:
    raise NotImplementedError


def apply_trigger(trigger, clean: dict) -> None:
    raise NotImplementedError


def activate(trigger, now: datetime) -> list[str]:
    raise NotImplementedError


def deactivate(trigger, now: datetime, cancel_pending: bool = False) -> int:
    raise NotImplementedError


def copy_trigger(trigger):
    raise NotImplementedError


def delete_trigger(trigger, now: datetime, cancel_waiting: bool = False) -> int:
    raise NotImplementedError
