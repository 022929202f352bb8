"""Who a trigger is for: its persona's members and/or its inline rule, as one select.

Used by generation (the candidate set), the wizard's review step (pick a
recipient) and "how many would match right now" on the details page.
"""
from datetime import datetime

from sqlalchemy import func, select

from extensions import db
from models import Account, Contact, PersonaMember


def audience_select(trigger, now: datetime):
    """Select (contact_id, account_id) of the trigger's audience as of `now`.

    - persona set: the persona's current members, narrowed by the inline rule
      when there is one (Planhat's extra segment filter);
    - otherwise the inline rule's matches;
    - an event trigger with neither: every contact (the event decides who).
    Raises engine.rules.RuleError for a bad rule.
    """
    from engine.rules import matching_contacts_select

    rule = trigger.rule or None
    if trigger.persona_id:
        query = (
            select(Contact.id.label("contact_id"), Contact.account_id.label("account_id"))
            .join(PersonaMember, PersonaMember.contact_id == Contact.id)
            .where(PersonaMember.persona_id == trigger.persona_id)
        )
        if rule:
            matches = matching_contacts_select(rule, now).subquery()
            query = query.where(Contact.id.in_(select(matches.c.contact_id)))
        return query
    if rule:
        return matching_contacts_select(rule, now)
    if trigger.kind == "event":
        return select(Contact.id.label("contact_id"), Contact.account_id.label("account_id"))
    # A schedule trigger with no audience reaches nobody (never "everyone" by accident).
    return select(Contact.id.label("contact_id"), Contact.account_id.label("account_id")).where(
        Contact.id.is_(None)
    )


def audience_sample(trigger, now: datetime, limit: int = 20) -> dict:
    """{"count", "accounts", "sample": [{"contact_id", "email", "name", "account_name"}]}."""
    audience = audience_select(trigger, now).subquery()
    count, accounts = db.session.execute(
        select(func.count(), func.count(func.distinct(audience.c.account_id)))
    ).one()
    rows = db.session.execute(
        select(Contact.id, Contact.email, Contact.first_name, Contact.last_name, Account.name)
        .join(audience, audience.c.contact_id == Contact.id)
        .join(Account, Account.id == Contact.account_id)
        .order_by(Contact.id)
        .limit(limit)
    ).all()
    sample = [
        {"contact_id": r[0], "email": r[1],
         "name": " ".join(p for p in (r[2], r[3]) if p) or r[1], "account_name": r[4]}
        for r in rows
    ]
    return {"count": count, "accounts": accounts, "sample": sample}
