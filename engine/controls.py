"""Frequency controls (Natero semantics), evaluated in SQL over the candidate set.

For each candidate, in this order:
  1. unsubscribed                                   -> never
  2. never_retrigger and this trigger already emailed them
  3. this trigger emailed them within retrigger_delay_days
  4. ANY trigger emailed them within this trigger's global_delay_days
     (rows already in the outbox count, so messages generated earlier in the
     same tick by higher-priority triggers hold this one back)

"Emailed" means an outbox row in COUNTED_STATES (pending, approved, sending,
sent, uncertain): a message on its way counts as much as a delivered one,
while failed / suppressed / rejected / cancelled rows never reached anybody.
A row's time is when it was sent, else when it is scheduled to go out, else
when it was generated.

"Within N days" is counted in calendar days of the trigger's timezone: with a
7-day delay, an email on Monday allows the next one on the following Monday,
whatever the time of day (daily triggers run at the same wall-clock time, so
a 24-hour window would drift by seconds and skip a day).

The decision is one CASE expression per candidate row, computed by the
database together with correlated lookups on the outbox's (trigger_id,
contact_id, ...) and (contact_id, state, created_at) indexes; Python only turns
the chosen code into the sentence staff read.
"""
from datetime import datetime, time, timedelta

from sqlalchemy import case, func, literal, select

from engine.outbox import COUNTED_STATES
from engine.scheduling import local_date, local_instant
from models import OutboxMessage

O = OutboxMessage.__table__.c
# The moment a row "emailed" its contact, for the delay windows.
EMAILED_AT = func.coalesce(O.sent_at, O.send_after, O.created_at)


def window_start(days: int, now: datetime, tz: str) -> datetime | None:
    """Start (naive UTC) of the last `days` calendar days in tz, today included.
    None when the control is off (0 days)."""
    if not days or days <= 0:
        return None
    first_day = local_date(now, tz) - timedelta(days=days - 1)
    return local_instant(first_day, time(0, 0), tz)


def control_columns(trigger, contact_id_col, unsubscribed_col, now: datetime) -> list:
    """Labelled columns to add to the candidate select:

    suppress_code ("unsubscribed" | "never" | "retrigger" | "global" | NULL),
    prev_at / prev_state (this trigger's latest counted email to the contact),
    other_at / other_trigger_id (the latest counted email of any trigger inside
    the global window). Unused lookups are NULL literals so the query stays cheap.
    """
    tz = trigger.timezone or "UTC"
    null_time = literal(None, type_=O.created_at.type)
    counted = O.state.in_(COUNTED_STATES)

    own_needed = trigger.never_retrigger or (trigger.retrigger_delay_days or 0) > 0
    if own_needed:
        own = (select(EMAILED_AT).where(O.trigger_id == trigger.id, O.contact_id == contact_id_col,
                                        counted)
               .order_by(EMAILED_AT.desc()).limit(1).correlate_except(OutboxMessage))
        own_state = (select(O.state).where(O.trigger_id == trigger.id,
                                           O.contact_id == contact_id_col, counted)
                     .order_by(EMAILED_AT.desc()).limit(1).correlate_except(OutboxMessage))
        prev_at, prev_state = own.scalar_subquery(), own_state.scalar_subquery()
    else:
        prev_at, prev_state = null_time, literal(None, type_=O.state.type)

    global_from = window_start(trigger.global_delay_days or 0, now, tz)
    if global_from is not None:
        recent = (O.contact_id == contact_id_col, counted, EMAILED_AT >= global_from)
        other = (select(EMAILED_AT).where(*recent).order_by(EMAILED_AT.desc()).limit(1)
                 .correlate_except(OutboxMessage))
        other_trigger = (select(O.trigger_id).where(*recent).order_by(EMAILED_AT.desc()).limit(1)
                         .correlate_except(OutboxMessage))
        other_at, other_trigger_id = other.scalar_subquery(), other_trigger.scalar_subquery()
    else:
        other_at, other_trigger_id = null_time, literal(None, type_=O.trigger_id.type)

    whens = [(unsubscribed_col.is_not(None), literal("unsubscribed"))]
    if trigger.never_retrigger:
        whens.append((prev_at.is_not(None), literal("never")))
    retrigger_from = window_start(trigger.retrigger_delay_days or 0, now, tz)
    if retrigger_from is not None:
        whens.append((prev_at >= retrigger_from, literal("retrigger")))
    if global_from is not None:
        whens.append((other_at.is_not(None), literal("global")))
    return [
        case(*whens, else_=literal(None)).label("suppress_code"),
        prev_at.label("prev_at"), prev_state.label("prev_state"),
        other_at.label("other_at"), other_trigger_id.label("other_trigger_id"),
    ]


def _days_ago(then: datetime, now: datetime, tz: str) -> str:
    days = (local_date(now, tz) - local_date(then, tz)).days
    if days <= 0:
        return "today"
    return "1 day ago" if days == 1 else f"{days} days ago"


def _verb(state) -> str:
    return "sent" if state in (None, "sent") else "emailed"


def reason_text(code: str, row, trigger, now: datetime, trigger_names: dict) -> str:
    """The sentence staff read on a suppressed message, e.g.
    'global delay: emailed by “Welcome” 1 day ago (3-day delay)'."""
    tz = trigger.timezone or "UTC"
    if code == "unsubscribed":
        return "unsubscribed"
    if code == "never":
        state = row.prev_state
        if state == "sent":
            return f"never re-trigger: already sent on {local_date(row.prev_at, tz).isoformat()}"
        return (f"never re-trigger: already emailed on {local_date(row.prev_at, tz).isoformat()} "
                f"({state.replace('_', ' ')})")
    if code == "retrigger":
        return (f"re-trigger delay: {_verb(row.prev_state)} {_days_ago(row.prev_at, now, tz)} "
                f"({trigger.retrigger_delay_days}-day delay)")
    if code == "global":
        name = trigger_names.get(row.other_trigger_id) or f"trigger #{row.other_trigger_id}"
        return (f"global delay: emailed by “{name}” {_days_ago(row.other_at, now, tz)} "
                f"({trigger.global_delay_days}-day delay)")
    return code


def in_run_reason(trigger) -> str | None:
    """Why a second candidate row for a contact already emailed in THIS run
    (e.g. two events at once) is held back; None when the trigger allows it."""
    if trigger.never_retrigger:
        return "never re-trigger: already emailed by this trigger today"
    if (trigger.retrigger_delay_days or 0) > 0:
        return f"re-trigger delay: emailed today ({trigger.retrigger_delay_days}-day delay)"
    if (trigger.global_delay_days or 0) > 0:
        return (f"global delay: emailed by “{trigger.name}” today "
                f"({trigger.global_delay_days}-day delay)")
    return None
