"""Who every trigger's run holds back whatever the rule says: the contact-level
suppressions of the frequency controls (DESIGN.md "Frequency controls").

ONE definition, used by the tick (engine/triggers/controls.py state_and_reason
builds its reason CASE from it) and by every preview that counts recipients
(the live rule preview, POST /api/v1/preview, the wizard's review step), so the
count staff see is the count a run gets. Bounced addresses join this list when
bounces mark contacts (Contact.email_bounced_at, engine/bounces). The history-based controls (re-trigger and global
delays) depend on what was sent by the time a run happens, so previews do not
count them.
"""
from __future__ import annotations

from sqlalchemy import case, func, select

# Codes in precedence order (a contact both unsubscribed and without an email
# is counted once, as unsubscribed). Labels as models.outbox.REASON_LABELS.
CONTACT_SUPPRESSIONS = ("unsubscribed", "bounced", "no_email")


def contact_suppressions(unsubscribed_at, email, email_bounced_at) -> list[tuple[str, object]]:
    """[(reason code, SQL condition)] in precedence order, over a contact's
    unsubscribed_at, email and email_bounced_at columns (any select's or subquery's)."""
    return [
        ("unsubscribed", unsubscribed_at.is_not(None)),
        ("bounced", email_bounced_at.is_not(None)),
        ("no_email", func.coalesce(email, "") == ""),
    ]


def held_back_columns(unsubscribed_at, email, email_bounced_at) -> list:
    """Aggregate columns, one per code (labelled held_<code>): how many of the
    rows each code holds back, each row counted under its first code only."""
    rules = contact_suppressions(unsubscribed_at, email, email_bounced_at)
    first = case(*[(cond, code) for code, cond in rules], else_=None)
    return [func.count(case((first == code, 1))).label(f"held_{code}") for code, _ in rules]


def held_back_counts(contact_ids) -> dict:
    """{code: n} for a select of contact ids (column contact_id): ONE count query.
    Needs an app context."""
    from extensions import db
    from models import Contact

    ids = contact_ids.subquery("held_ids")
    C = Contact.__table__.c
    row = db.session.execute(
        select(*held_back_columns(C.unsubscribed_at, C.email, C.email_bounced_at))
        .select_from(ids.join(Contact.__table__, C.id == ids.c.contact_id))).one()
    return {code: int(n or 0) for code, n in zip(CONTACT_SUPPRESSIONS, row)}
