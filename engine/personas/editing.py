"""Saving and deleting personas: the rules the persona pages (and any other
caller) follow. Nothing here commits; the caller commits, then rings
doorbell().refresh_persona(id) when save_persona says the membership is stale.
"""
from sqlalchemy import delete, func, select

from extensions import db
from models import Persona, PersonaMember, PersonaTransition, Trigger

NAME_MAX = 128
DESCRIPTION_MAX = 2000
NAME_TAKEN = "Another persona already has this name."


class PersonaInvalid(ValueError):
    """Refused: .errors -> {"name" | "description" | "rule": [message, ...]}."""

    def __init__(self, errors: dict):
        super().__init__("; ".join(f"{k}: {m}" for k, ms in errors.items() for m in ms))
        self.errors = errors


class PersonaInUse(Exception):
    """Refused: triggers still use this persona (.trigger_names, sorted)."""

    def __init__(self, trigger_names: list[str]):
        super().__init__(f"used by {len(trigger_names)} trigger(s)")
        self.trigger_names = trigger_names


def validate_persona(persona_id, name, description, rule) -> tuple[dict, dict]:
    """(clean {"name", "description", "rule"}, errors {field: [message]}).

    Names show in trigger wizards and emails to staff: whitespace runs become
    one space (no control characters, no line breaks), and they are unique
    regardless of case."""
    from engine.rules import RuleError, parse_rule

    errors: dict = {}
    clean_name = " ".join(str(name or "").split())
    if not clean_name:
        errors["name"] = ["Give the persona a name."]
    elif len(clean_name) > NAME_MAX:
        errors["name"] = [f"A persona name has at most {NAME_MAX} characters."]
    elif db.session.scalar(select(Persona.id).where(func.lower(Persona.name) == clean_name.lower(),
                                                    Persona.id != (persona_id or 0))):
        errors["name"] = [NAME_TAKEN]
    clean_description = str(description or "").strip() or None
    if clean_description and len(clean_description) > DESCRIPTION_MAX:
        errors["description"] = [f"A description has at most {DESCRIPTION_MAX:,} characters."]
    try:
        parse_rule(rule if rule is not None else {})
    except RuleError as exc:
        errors["rule"] = [(f"{e['path']}: " if e.get("path") else "") + e["message"] for e in exc.errors]
    return {"name": clean_name, "description": clean_description, "rule": rule or {}}, errors


def save_persona(persona: Persona, name, description, rule) -> bool:
    """Validate and apply the fields (a new persona is added and flushed, so it
    has its id). Raises PersonaInvalid, or IntegrityError from the flush when the
    same name was saved a moment ago. Returns True when the membership must be
    refreshed: a new persona, or its rule changed."""
    clean, errors = validate_persona(persona.id, name, description, rule)
    if errors:
        raise PersonaInvalid(errors)
    stale = persona.id is None or persona.rule != clean["rule"]
    persona.name, persona.description, persona.rule = clean["name"], clean["description"], clean["rule"]
    db.session.add(persona)
    db.session.flush()
    return stale


def delete_persona(persona: Persona) -> None:
    """Delete the persona with its members and transitions. Raises PersonaInUse
    while any trigger uses it (those must change first)."""
    users = db.session.scalars(select(Trigger.name).where(Trigger.persona_id == persona.id)
                               .order_by(Trigger.name)).all()
    if users:
        raise PersonaInUse(list(users))
    # Explicit deletes: the derived tables carry no foreign keys (models/persona.py).
    db.session.execute(delete(PersonaTransition).where(PersonaTransition.persona_id == persona.id))
    db.session.execute(delete(PersonaMember).where(PersonaMember.persona_id == persona.id))
    db.session.delete(persona)
    db.session.flush()
