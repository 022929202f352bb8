"""Trigger fields: the one validation shared by the wizard and the API
(DESIGN.md "Public contracts"). Knows nothing of Flask; never commits."""
import re
from datetime import time

from email_validator import EmailNotValidError, validate_email

from engine.clock import is_timezone
from extensions import db
from models import ContactList, EmailTemplate, Persona
from models.trigger import FEED_KINDS, KINDS, TRIGGER_DEFAULTS

# The wizard's fields = the API's fields (DESIGN.md "Public contracts").
FIELDS = ("name", "description", "from_email", "from_name", "bcc", "reply_to_name", "reply_to_email",
          "no_reply", "subject", "html", "text", "template_id", "kind", "persona_id",
          "event_name", "rule", "priority", "global_delay_days", "retrigger_delay_days",
          "never_retrigger", "generate_at", "send_at", "timezone", "requires_approval",
          "track_opens", "track_clicks", "list_id", "field", "from", "to", "once_per_24h")
# API fields stored under another column name: field_updated's old / new value,
# kept as the change feed's JSON text (engine.contacts.changes.encode_value).
STORED_AS = {"from": "from_value", "to": "to_value"}
LIST_KINDS = ("list_added", "list_removed")
# Computed fields a client may send back unchanged (GET -> edit -> PUT); ignored.
READ_ONLY = ("id", "status", "started_at", "last_send_at", "next_send_at", "recipients_30d")
# A new trigger's fields as the API takes them (times "HH:MM"): models.trigger.TRIGGER_DEFAULTS.
API_NAME = {column: name for name, column in STORED_AS.items()}
DEFAULTS = {API_NAME.get(k, k): v.strftime("%H:%M") if isinstance(v, time) else v
            for k, v in TRIGGER_DEFAULTS.items()}
LABELS = {"name": "Name", "from_email": "From email", "from_name": "From name", "bcc": "BCC", "reply_to_name": "Reply-to name",
          "reply_to_email": "Reply-to email", "subject": "Subject", "html": "HTML body",
          "text": "Plain-text body", "template_id": "Template", "kind": "Trigger kind",
          "persona_id": "Persona", "event_name": "Event name", "rule": "Rule",
          "generate_at": "Generate time", "send_at": "Send time", "timezone": "Timezone",
          "list_id": "List", "field": "Contact field", "from": "From value", "to": "To value",
          "once_per_24h": "Once in 24 hours"}
MAX_DELAY_DAYS = 3650
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)\Z")


class _Bad(ValueError):
    pass


def _text(max_len, *, single_line=False, required=False):
    def check(value):
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise _Bad("is required")
            return None
        if not isinstance(value, str):
            raise _Bad("must be a string")
        if single_line and ("\r" in value or "\n" in value):
            raise _Bad("must be a single line (no line breaks)")
        if len(value) > max_len:
            raise _Bad(f"must be at most {max_len:,} characters")
        return value.strip() if single_line else value
    return check


def _email(value):
    value = _text(320, single_line=True)(value)
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise _Bad(f"is not a valid email address ({exc})") from None


def _bool(value):
    if not isinstance(value, bool):
        raise _Bad("must be true or false")
    return value


def _int(low, high, *, nullable=False):
    def check(value):
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad("must be a whole number")
        if not low <= value <= high:
            raise _Bad(f"must be between {low} and {high:,}")
        return value
    return check


def _clock(value):
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if not isinstance(value, str) or not _HHMM.match(value.strip()):
        raise _Bad('must be a time of day like "08:00" (HH:MM, 24-hour)')
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))


def _timezone(value):
    if not is_timezone(value):
        raise _Bad("must be an IANA timezone such as Europe/Berlin")
    return value


def _kind(value):
    if value not in KINDS:
        raise _Bad("must be one of: " + ", ".join(KINDS))
    return value


def _field_value(value):
    """field_updated's from / to: one value as the feed records it (None = any)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise _Bad("must be a text, number or true/false value (or null for any value)")


def _contact_field(value):
    """A contact field as rules name it: contact.<built-in column> or
    contact.attributes.<key> (engine/rules/fields.py)."""
    from engine.rules.fields import COLUMNS

    value = _text(200, single_line=True)(value)
    if value is None:
        return None
    entity, _, rest = value.partition(".")
    if entity == "contact" and rest.startswith("attributes."):
        if rest[len("attributes."):].strip():
            return value
    elif entity == "contact" and ("contact", rest) in COLUMNS:
        return value
    known = ", ".join(f"contact.{n}" for e, n in COLUMNS if e == "contact")
    raise _Bad(f"is not a contact field (use one of {known}, or contact.attributes.<key>)")


def kind_defaults(data: dict) -> dict:
    """The defaults that depend on the kind, for a trigger that leaves them out:
    once_per_24h is on for the change-feed kinds (Mailtrap's rule), off for the
    others (their behaviour never changed)."""
    return {"once_per_24h": data.get("kind") in FEED_KINDS}


def _rule(value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad("must be a rule object")
    return value


CHECKS = {
    "name": _text(128, single_line=True, required=True), "description": _text(10_000),
    "from_email": _email, "from_name": _text(128, single_line=True), "bcc": _email, "reply_to_name": _text(128, single_line=True),
    "reply_to_email": _email, "no_reply": _bool, "subject": _text(998, single_line=True),
    "html": _text(1_000_000), "text": _text(1_000_000),
    "template_id": _int(1, 2**31 - 1, nullable=True), "kind": _kind,
    "persona_id": _int(1, 2**31 - 1, nullable=True), "event_name": _text(128, single_line=True),
    "rule": _rule, "priority": _int(0, 1_000_000),
    "global_delay_days": _int(0, MAX_DELAY_DAYS), "retrigger_delay_days": _int(0, MAX_DELAY_DAYS),
    "never_retrigger": _bool, "generate_at": _clock, "send_at": _clock, "timezone": _timezone,
    "requires_approval": _bool, "track_opens": _bool, "track_clicks": _bool,
    "list_id": _int(1, 2**31 - 1, nullable=True), "field": _contact_field,
    "from": _field_value, "to": _field_value, "once_per_24h": _bool,
}


def validate_trigger(data: dict, *, for_activation: bool = False) -> tuple[dict, list[dict]]:
    """Check a trigger given as API/wizard fields -> (clean, errors[{"field", "message"}]).

    clean holds the normalized values of the fields present in `data` (times
    as datetime.time, emails normalized); errors name the field ("rule.<path>"
    for a bad rule node). Cross-field checks read absent fields as null, so
    pass the whole trigger (see trigger_data). Drafts may be incomplete;
    for_activation=True also requires what sending needs (from address,
    subject, body, audience). With no_reply, reply-to is cleared.
    """
    if not isinstance(data, dict):
        return {}, [{"field": None, "message": "expected a JSON object with the trigger's fields"}]
    clean, errors = {}, []
    for key, value in data.items():
        if key in READ_ONLY:
            continue
        check = CHECKS.get(key)
        if check is None:
            errors.append({"field": key, "message": "unknown field"})
            continue
        try:
            clean[key] = check(value)
        except _Bad as bad:
            errors.append({"field": key, "message": str(bad)})
    if "name" not in data:
        errors.append({"field": "name", "message": "is required"})
    bad = {e["field"] for e in errors}
    value = {k: clean.get(k) for k in FIELDS}
    if value["no_reply"]:
        clean["reply_to_name"] = clean["reply_to_email"] = None
    errors += _audience_errors(value, bad, for_activation)
    errors += _feed_errors(value, bad, clean)
    errors += _content_errors(value, bad, for_activation)
    if value["kind"] == "schedule" and value["generate_at"] and value["send_at"] \
            and value["send_at"] < value["generate_at"]:
        errors.append({"field": "send_at", "message": "is before the generate time "
                       "(emails are sent on the day they are generated)"})
    if for_activation and "from_email" not in bad and not value["from_email"]:
        errors.append({"field": "from_email", "message": "a from address is required to activate"})
    return clean, errors


def _audience_errors(value, bad, for_activation):
    errors = []
    kind = value["kind"]
    if value["persona_id"] and "persona_id" not in bad \
            and db.session.get(Persona, value["persona_id"]) is None:
        errors.append({"field": "persona_id", "message": "no such persona"})
    elif kind in ("persona_enter", "persona_leave") and not value["persona_id"] and "persona_id" not in bad:
        errors.append({"field": "persona_id", "message": "choose the persona this trigger watches"})
    if kind == "event" and not value["event_name"] and "event_name" not in bad:
        errors.append({"field": "event_name", "message": "name the API event this trigger fires on"})
    rule = value["rule"]
    if rule is not None and "rule" not in bad:
        from engine.rules import RuleError, parse_rule

        try:
            parse_rule(rule)
        except RuleError as exc:
            errors += [{"field": "rule" + (f".{e['path']}" if e.get("path") else ""),
                        "message": e["message"]} for e in exc.errors]
    if for_activation and "rule" not in bad:
        if kind == "schedule" and not value["persona_id"] and rule is None:
            errors.append({"field": "rule", "message": "choose a persona or write a rule"})
        elif rule is not None and rule.get("user_types") == []:
            errors.append({"field": "rule.user_types",
                           "message": "no user types are checked, so nobody would match"})
    return errors


def _feed_errors(value, bad, clean):
    """The change-feed kinds' own fields: a list kind names an existing list,
    field_updated a field and from != to. Fields another kind does not use are
    cleared, so a schedule trigger never holds a list back from deletion."""
    from engine.contacts.changes import encode_value

    kind, errors = value["kind"], []
    if kind in LIST_KINDS and "list_id" not in bad:
        if not value["list_id"]:
            errors.append({"field": "list_id", "message": "choose the list this trigger watches"})
        elif db.session.get(ContactList, value["list_id"]) is None:
            errors.append({"field": "list_id", "message": "no such list"})
    elif kind not in LIST_KINDS and "list_id" in clean:
        clean["list_id"] = None
    if kind == "field_updated":
        if not value["field"] and "field" not in bad:
            errors.append({"field": "field", "message": "choose the contact field this trigger watches"})
        if value["from"] is not None and not {"from", "to"} & bad \
                and encode_value(value["from"]) == encode_value(value["to"]):
            errors.append({"field": "to", "message": "is the same as the from value, "
                           "so the field would never change that way"})
    else:
        clean.update((k, None) for k in ("field", "from", "to") if k in clean)
    return errors


def _content_errors(value, bad, for_activation):
    """Compile subject/html/text (or the template's body) to report template errors
    with their line; a draft's empty parts are not errors until activation."""
    from engine.render import TemplateError, compile_email

    template = None
    if value["template_id"] and "template_id" not in bad:
        template = db.session.get(EmailTemplate, value["template_id"])
        if template is None:
            return [{"field": "template_id", "message": "no such template"}]
    if template is not None:
        subject = value["subject"] or template.subject or ""
        html, text, body_field = template.html or "", template.text or "", "template_id"
    else:
        subject, html, text, body_field = value["subject"] or "", value["html"] or "", value["text"] or "", None
    if {"subject", "html", "text"} & bad:
        return []
    if not for_activation:
        if not (subject.strip() or html.strip() or text.strip()):
            return []
        subject = subject if subject.strip() else "-"  # placeholders: a draft may lack a part
        html = html if (html.strip() or text.strip()) else "<p></p>"
    try:
        compile_email(subject, html, text)
    except TemplateError as exc:
        out = []
        for e in exc.errors:
            field = body_field if body_field and e["field"] != "subject" else e["field"]
            where = f"line {e['line']}: " if e.get("line") else ""
            prefix = "the template's " + e["field"] + " " if field == "template_id" else ""
            out.append({"field": field, "message": f"{prefix}{where}{e['message']}"})
        return out
    return []
