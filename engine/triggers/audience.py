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


def explain_audience(trigger, contact_id: int, now: datetime) -> dict:
    """Why / why not one contact is in the trigger's audience (the review step's
    recipient, the contact and trigger pages' explainers), by the same parts as
    audience_select:

    {"matches": bool, "reason": sentence when it is not the rule's conditions
     (no audience, not a persona member), "persona": {"id", "name", "member"} | None,
     "rule": engine.rules.explain(...) of the inline rule (or, for a persona
     trigger without one, of the persona's rule) | None,
     "held_back": the contact-level suppression code a run would hold them back
     with ("unsubscribed", "no_email") | None}.
    Raises LookupError for an unknown contact, engine.rules.RuleError for a bad rule."""
    from engine.rules import explain
    from models import Persona

    out = explain_audience_contact_level(contact_id)
    if trigger.persona_id:
        persona = db.session.get(Persona, trigger.persona_id)
        member = db.session.execute(select(PersonaMember.contact_id).where(
            PersonaMember.persona_id == trigger.persona_id,
            PersonaMember.contact_id == contact_id)).first() is not None
        out["persona"] = {"id": trigger.persona_id, "name": persona.name if persona else "?",
                          "member": member}
        if trigger.rule:
            out["rule"] = explain(trigger.rule, contact_id, now)
        elif persona is not None and persona.rule:
            out["rule"] = explain(persona.rule, contact_id, now)
        out["matches"] = member and (not trigger.rule or out["rule"]["matches"])
        if not member:
            out["reason"] = f"not a member of the persona “{out['persona']['name']}”"
        return out
    if trigger.rule:
        out["rule"] = explain(trigger.rule, contact_id, now)
        out["matches"] = out["rule"]["matches"]
    elif trigger.kind == "event":
        out["matches"] = True  # the event decides who
    else:
        out["reason"] = "this trigger has no rule or persona yet, so it reaches nobody"
    return out


def explain_persona(persona, contact_id: int, now: datetime) -> dict:
    """Why / why not one contact is in a persona: its rule evaluated now, and
    whether the contact is a member as of the last refresh. Same shape as
    explain_audience ("matches" is the rule's verdict now)."""
    from engine.rules import explain

    out = explain_audience_contact_level(contact_id)
    member = db.session.execute(select(PersonaMember.contact_id).where(
        PersonaMember.persona_id == persona.id,
        PersonaMember.contact_id == contact_id)).first() is not None
    out["persona"] = {"id": persona.id, "name": persona.name, "member": member}
    out["rule"] = explain(persona.rule or {}, contact_id, now)
    out["matches"] = out["rule"]["matches"]
    return out


def explain_audience_contact_level(contact_id: int) -> dict:
    """The start of an explanation: the contact-level suppression that holds this
    contact back in every run (engine/rules/suppression.py), or None.
    Raises LookupError for an unknown contact."""
    from engine.rules.suppression import contact_suppressions

    C = Contact.__table__.c
    rules = contact_suppressions(C.unsubscribed_at, C.email, C.email_bounced_at)
    row = db.session.execute(select(C.id, *[cond for _, cond in rules])
                             .where(C.id == contact_id)).first()
    if row is None:
        raise LookupError(f"no contact with id {contact_id}")
    held = next((code for (code, _), hit in zip(rules, row[1:]) if hit), None)
    return {"matches": False, "reason": None, "persona": None, "rule": None, "held_back": held}
