"""Who a trigger is for: its persona's members and/or its inline rule, as one select.

The one definition of a trigger's audience, used by generation (a schedule
trigger's candidate set, engine/triggers/generate.py), the wizard's review step (pick a
recipient) and "how many would match right now" on the details page -- so what
staff are shown is what a run generates.
"""
from datetime import datetime

from sqlalchemy import func, select

from extensions import db
from models import Account, Contact, PersonaMember


def rule_filter(trigger, now: datetime):
    """Select of the contact ids the trigger's inline rule matches as of `now`
    (None = no inline rule). Raises engine.rules.RuleError for a bad rule."""
    if not trigger.rule:
        return None
    from engine.rules import matching_contacts_select

    return select(matching_contacts_select(trigger.rule, now).subquery().c.contact_id)


def audience_select(trigger, now: datetime):
    """Select (contact_id, account_id) of the trigger's audience as of `now`, or
    None when the trigger reaches nobody.

    - persona set: the persona's current members, narrowed by the inline rule
      when there is one (Planhat's extra segment filter);
    - otherwise the inline rule's matches;
    - an event trigger with neither: every contact (the event decides who);
    - a schedule trigger with neither: None (never "everyone" by accident).
    Raises engine.rules.RuleError for a bad rule.
    """
    if trigger.persona_id:
        query = (
            select(Contact.id.label("contact_id"), Contact.account_id.label("account_id"))
            .join(PersonaMember, PersonaMember.contact_id == Contact.id)
            .where(PersonaMember.persona_id == trigger.persona_id)
        )
        narrowed = rule_filter(trigger, now)
        return query if narrowed is None else query.where(Contact.id.in_(narrowed))
    if trigger.rule:
        from engine.rules import matching_contacts_select

        return matching_contacts_select(trigger.rule, now)
    if trigger.kind == "event":
        return select(Contact.id.label("contact_id"), Contact.account_id.label("account_id"))
    return None


def audience_sample(trigger, now: datetime, limit: int = 20) -> dict:
    """{"count", "accounts", "sample": [{"contact_id", "email", "name", "account_name"}]}."""
    query = audience_select(trigger, now)
    if query is None:
        return {"count": 0, "accounts": 0, "sample": []}
    audience = query.subquery()
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
