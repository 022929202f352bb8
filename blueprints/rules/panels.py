"""Why / why not outside the builder: a section on the contact page ("check against a
trigger or persona") and the explainer card on a trigger's details page. Read-only,
for every signed-in role, like the builder's explainer."""
import logging

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from blueprints.accounts.panels import contact_section
from blueprints.rules.values import HELD_LABELS
from extensions import db
from models import Persona, Trigger
from models.base import utcnow

log = logging.getLogger(__name__)


def check_contact(contact_id: int, kind: str, item) -> dict:
    """{"check": explanation | None, "error": sentence | None} of one contact against a
    trigger's audience or a persona (engine.triggers.audience)."""
    from engine.rules import RuleError
    from engine.triggers.audience import explain_audience, explain_persona

    try:
        check = (explain_audience(item, contact_id, utcnow()) if kind == "trigger"
                 else explain_persona(item, contact_id, utcnow()))
        return {"check": check, "error": None}
    except RuleError as exc:
        return {"check": None, "error": f"its rule is not valid: {exc}"}
    except (LookupError, SQLAlchemyError):
        db.session.rollback()
        log.exception("explain failed")
        return {"check": None, "error": "it could not be evaluated; try again"}


def parse_choice(value: str):
    """("trigger" | "persona", object) from "trigger:12" / "persona:3", or (None, None)."""
    kind, _, raw = (value or "").partition(":")
    if kind not in ("trigger", "persona") or not raw.isdigit() or not 0 < int(raw) < 2**31:
        return None, None
    item = db.session.get(Trigger if kind == "trigger" else Persona, int(raw))
    return (kind, item) if item is not None else (None, None)


@contact_section("explain", "Check against a trigger or persona", "rules/_contact_explain.html", order=30)
def explain_section(contact, args):
    """Pick a trigger or persona: every condition marked with this contact's values."""
    triggers = db.session.execute(select(Trigger.id, Trigger.name, Trigger.status)
                                  .order_by(Trigger.name)).all()
    personas = db.session.execute(select(Persona.id, Persona.name).order_by(Persona.name)).all()
    choice = args.get("check", "")
    kind, item = parse_choice(choice)
    result = check_contact(contact.id, kind, item) if item is not None else {"check": None, "error": None}
    return {"triggers": triggers, "personas": personas, "choice": choice if item is not None else "",
            "kind": kind, "item": item, "held_labels": HELD_LABELS, **result,
            "summary": "why they would or would not get an email"}
