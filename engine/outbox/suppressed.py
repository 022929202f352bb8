"""The Suppressed tab's folded view: repeated suppressions of one contact by one
trigger for one reason become one row ("held back 12 times since 20 Nov").

Read-only and set-based: one GROUP BY over the suppressed messages, never a loop
over them. The caller adds its filters as conditions and pages the result.
"""
from sqlalchemy import func, select

from models import OutboxMessage

M = OutboxMessage


def suppression_groups(where=()):
    """A SELECT of suppressed messages grouped by (contact, trigger, reason code):
    `contact_id, trigger_id, reason_code, times, first_at, last_at, last_id` (the id
    of the group's newest message, whose detail and links the page shows).
    `where`: extra conditions on OutboxMessage columns (the page's filters)."""
    return (select(M.contact_id, M.trigger_id, M.reason_code,
                   func.count().label("times"),
                   func.min(M.created_at).label("first_at"),
                   func.max(M.created_at).label("last_at"),
                   func.max(M.id).label("last_id"))
            .where(M.state == "suppressed", *where)
            .group_by(M.contact_id, M.trigger_id, M.reason_code))
