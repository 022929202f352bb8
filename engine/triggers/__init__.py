"""Triggers: the JSON shape, list statistics and the lifecycle (activate,
deactivate, copy, delete); field validation lives in engine/triggers/validation.py.

None of these functions commit: the caller (a view) commits or rolls back.
"""
from datetime import datetime

from sqlalchemy import func, select

from engine.triggers.stats import iso, trigger_stats  # noqa: F401  (re-exported)
from engine.triggers.validation import (  # noqa: F401  (re-exported for views and the API)
    DEFAULTS, FIELDS, LABELS, READ_ONLY, STORED_AS, kind_defaults, validate_trigger)
from engine.contacts.changes import decode_value, encode_value
from engine.outbox import (  # noqa: F401  (waiting_by_state re-exported for the views)
    cancel_waiting_for_trigger, waiting_by_state, waiting_count, waiting_or_sending_count)
from extensions import db
from models import ContactChange, Event, PersonaTransition, Trigger


class TriggerInUse(Exception):
    """Refused: messages of this trigger still wait in (or are leaving) the outbox."""

    def __init__(self, message: str, waiting: int):
        super().__init__(message)
        self.waiting = waiting


def trigger_data(trigger) -> dict:
    """The trigger's editable fields in API form (times as "HH:MM")."""
    data = {k: getattr(trigger, STORED_AS.get(k, k)) for k in FIELDS}
    for key in STORED_AS:  # from / to: the values, not their feed encoding
        data[key] = decode_value(data[key])
    for key in ("generate_at", "send_at"):
        data[key] = data[key].strftime("%H:%M") if data[key] is not None else None
    return data


def activation_errors(trigger) -> list[dict]:
    """Field errors that keep this trigger from being activated."""
    return validate_trigger(trigger_data(trigger), for_activation=True)[1]


def activation_problems(trigger) -> list[str]:
    """Specific, readable reasons the trigger cannot be activated (empty = it can)."""
    out = []
    for e in activation_errors(trigger):
        field = str(e.get("field") or "")
        label = LABELS.get(field.split(".")[0], field.replace("_", " ").capitalize())
        out.append(f"{label}: {e['message']}")
    return out


def trigger_to_json(trigger, now: datetime, stats: dict | None = None) -> dict:
    """The API shape: the editable fields plus id, status, started_at and the stats.
    Pass `stats` (from trigger_stats) when listing many triggers."""
    if stats is None:
        stats = trigger_stats([trigger.id], now).get(trigger.id, {})
    data = trigger_data(trigger)
    data.update(id=trigger.id, status=trigger.status, started_at=iso(trigger.started_at),
                last_send_at=iso(stats.get("last_send_at")),
                next_send_at=iso(stats.get("next_send_at")),
                recipients_30d=stats.get("recipients_30d", 0))
    return data


def apply_trigger(trigger, clean: dict) -> None:
    """Copy validated fields (validate_trigger's clean) onto the trigger.
    A new timezone moves the report's local days: its events are folded again."""
    if trigger.id is not None and clean.get("timezone", trigger.timezone) != trigger.timezone:
        from engine.reports.fold import forget_trigger
        from models.base import utcnow

        forget_trigger(trigger.id, utcnow())
    for key, value in clean.items():
        if key in STORED_AS:
            setattr(trigger, STORED_AS[key], encode_value(value))
        elif key in FIELDS:
            setattr(trigger, key, value)


def activate(trigger, now: datetime) -> list[str]:
    """Make the trigger active, or return why it can't be (nothing changes then).

    started_at records the first activation. Event and persona triggers start
    from the newest event / transition: they react to what happens from now
    on, not to history (nor to what happened while they were inactive).
    """
    problems = activation_problems(trigger)
    if problems:
        return problems
    if trigger.status != "active":
        trigger.last_event_id = db.session.scalar(select(func.max(Event.id))) or 0
        trigger.last_transition_id = db.session.scalar(select(func.max(PersonaTransition.id))) or 0
        trigger.last_change_id = db.session.scalar(select(func.max(ContactChange.id))) or 0
    trigger.status = "active"
    trigger.keep_queued_when_inactive = False
    trigger.started_at = trigger.started_at or now
    return []


def deactivate(trigger, now: datetime, keep_waiting: bool = False) -> int:
    """Make the trigger inactive. Its waiting emails (for approval, or approved
    and not yet being sent) are cancelled, "trigger deactivated", unless
    keep_waiting: staff chose to keep them, and they may still be approved and
    sent. (Otherwise the send path cancels any email of a trigger that is not
    active when it is claimed: engine/outbox/send_states.py.) Returns how many
    were cancelled."""
    trigger.status = "inactive"
    trigger.keep_queued_when_inactive = keep_waiting
    if keep_waiting:
        return 0
    return cancel_waiting_for_trigger(trigger.id, now, "trigger_deactivated")


def copy_trigger(trigger) -> Trigger:
    """A new draft with the same fields, named "Copy of …" (added and flushed, not committed)."""
    clone = Trigger(**{STORED_AS.get(k, k): getattr(trigger, STORED_AS.get(k, k)) for k in FIELDS})
    clone.name = f"Copy of {trigger.name}"[:128]
    clone.rule = dict(trigger.rule) if isinstance(trigger.rule, dict) else trigger.rule
    clone.status, clone.started_at = "draft", None
    db.session.add(clone)
    db.session.flush()
    return clone


def delete_trigger(trigger, now: datetime, cancel_waiting: bool = False) -> int:
    """Delete the trigger with its outbox history and delivery events (the
    accounts' communication log keeps its rows). Refused with TriggerInUse
    while messages wait for approval or sending, unless cancel_waiting: then
    they are cancelled first. Messages being sent right now always block.
    Returns how many messages were cancelled."""
    cancelled = 0
    waiting = waiting_count(trigger.id)
    if waiting and not cancel_waiting:
        raise TriggerInUse(f"{waiting} email(s) of this trigger are waiting in the outbox; "
                           "cancel them to delete the trigger.", waiting)
    if waiting:
        cancelled = cancel_waiting_for_trigger(trigger.id, now, "trigger_deleted")
    busy = waiting_or_sending_count(trigger.id)
    if busy:
        raise TriggerInUse(f"{busy} email(s) of this trigger are being sent right now; "
                           "try again in a minute.", busy)
    from engine.reports.fold import forget_trigger

    forget_trigger(trigger.id, now, refold=False)
    db.session.delete(trigger)
    db.session.flush()
    return cancelled
