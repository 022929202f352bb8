"""A message's story, told from its state timestamps (newest state last).

The outbox keeps one row per message with a timestamp per step rather than a
log table, so a message approved, unapproved and approved again shows its
latest approval.
"""
from dataclasses import dataclass
from datetime import datetime

from blueprints.times import time_of_day
from models.outbox import reason_label


@dataclass
class Step:
    at: datetime | None
    title: str
    detail: str | None = None
    tone: str = "neutral"


def _who(staff) -> str:
    return staff.display_name if staff is not None else "someone no longer on staff"


def message_history(m) -> list[Step]:
    steps = []
    if m.state == "suppressed":
        title = f"Held back: {reason_label(m.reason_code)}" if m.reason_code else "Held back by frequency controls"
        steps.append(Step(m.created_at, title, m.reason, "neutral"))
        return steps
    steps.append(Step(m.created_at, "Generated", f"Occurrence {m.occurrence_key}", "blue"))
    if m.approved_at:
        held = (f"held until {time_of_day(m.hold_until, seconds=True)}" if m.hold_until
                else "no hold: sent as soon as due")
        # An auto-send trigger approves its emails itself: nobody to name.
        title = f"Approved by {_who(m.approved_by)}" if m.approved_by_id else "Approved automatically"
        if not m.approved_by_id:
            held = f"the trigger sends without approval; {held}"
        steps.append(Step(m.approved_at, title, held, "blue"))
    if m.rejected_at and m.state == "rejected":
        steps.append(Step(m.rejected_at, f"Rejected by {_who(m.rejected_by)}", None, "red"))
    if m.claimed_at and m.state in ("sending", "sent", "failed", "uncertain"):
        steps.append(Step(m.claimed_at, "Picked up for sending",
                          f"attempt {m.attempts + 1}" if m.attempts else None, "blue"))
    if m.state == "sending":
        steps.append(Step(m.updated_at, "Sending", "the SMTP transaction is under way", "blue"))
    if m.sent_at:
        steps.append(Step(m.sent_at, "Sent", m.smtp_reply, "green"))
    if m.state == "failed":
        if m.reason_code == "dismissed":
            steps.append(Step(m.failed_at or m.updated_at,
                              f"Dismissed by {_who(m.rejected_by)}", "will not be sent again", "neutral"))
        else:
            steps.append(Step(m.failed_at or m.updated_at, "Failed", m.reason or m.last_error, "red"))
    if m.state == "uncertain":
        steps.append(Step(m.updated_at, "Outcome unknown", m.reason or m.last_error, "amber"))
    if m.state == "cancelled":
        steps.append(Step(m.updated_at, "Cancelled", m.reason, "neutral"))
    if m.state == "approved" and m.next_attempt_at and m.last_error:
        steps.append(Step(m.updated_at, f"Temporary failure (attempt {m.attempts})",
                          f"{m.last_error} — retrying", "amber"))
    return sorted(steps, key=lambda s: s.at or datetime.min)
