"""The four-step trigger wizard (Message, Rule, Controls, Review), as in Natero.

Every step saves on its own (drafts); engine.triggers.validate_trigger is the
single validation, and a step only refuses to save for errors in its own fields.
"""
import json

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from blueprints.auth.decorators import EDITORS, role_required
from blueprints.rules.values import HELD_LABELS
from blueprints.rules.builder import builder_context, read_rule_field
from blueprints.triggers.forms import ConfirmForm, ControlsForm, MessageForm, RuleStepForm
from blueprints.triggers import bp
from blueprints.times import viewer_zone_name
from blueprints.ui import render_page
from engine import triggers as trigger_engine
from engine.rules.fields import event_names as known_event_names
from extensions import db
from models import ContactList, EmailTemplate, Persona, Trigger
from models.base import utcnow
from models.trigger import FEED_KINDS

STEPS = ("message", "rule", "controls", "review")
STEP_LABELS = {"message": "Message", "rule": "Rule", "controls": "Controls", "review": "Review"}
STEP_FIELDS = {
    "message": MessageForm.FIELDS, "rule": RuleStepForm.FIELDS, "controls": ControlsForm.FIELDS,
}
def _current_data(trigger: Trigger | None) -> dict:
    if trigger is None:  # a new trigger starts from the defaults, in the viewer's zone
        return dict(trigger_engine.DEFAULTS, timezone=viewer_zone_name())
    return trigger_engine.trigger_data(trigger)


def _step_errors(errors: list[dict], step: str) -> list[dict]:
    fields = STEP_FIELDS[step]
    return [e for e in errors if str(e.get("field", "")).split(".")[0].split("[")[0] in fields]


def _message_data(form: MessageForm) -> dict:
    data = {name: getattr(form, name).data for name in MessageForm.FIELDS}
    data["template_id"] = int(data["template_id"]) if str(data["template_id"] or "").isdigit() else None
    for key in ("description", "from_name", "bcc", "reply_to_name", "reply_to_email", "text"):
        data[key] = (data[key] or "").strip() or None
    if data["no_reply"]:
        data["reply_to_name"] = data["reply_to_email"] = None
    return data


def _contact_fields() -> list[dict]:
    """The field_updated picker: the contact's built-in columns and the custom
    attribute keys seen in the data (engine.rules.fields.field_catalog)."""
    from engine.rules.fields import field_catalog

    return [f for f in field_catalog() if f["path"].startswith("contact.")]


def _typed(text, path: str | None):
    """A from / to value typed in the wizard, as the feed stores it: a number or
    true/false for a field of that type, else the text; empty = any value."""
    text = (text or "").strip()
    if not text:
        return None
    kind = next((f["type"] for f in _contact_fields() if f["path"] == path), "text")
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text  # not a number: the text, which the field never holds
        return int(number) if number.is_integer() and "." not in text else number
    if kind == "boolean" and text.lower() in ("true", "false", "yes", "no"):
        return text.lower() in ("true", "yes")
    return text


def _rule_data(form: RuleStepForm, rule_errors: list) -> tuple[dict, list]:
    kind = form.kind.data or "schedule"
    data = {"kind": kind, "persona_id": None, "event_name": None, "rule": None,
            "list_id": None, "field": None, "from": None, "to": None}
    persona_based = kind in ("persona_enter", "persona_leave") or form.audience.data == "persona"
    if persona_based:
        data["persona_id"] = int(form.persona_id.data) if str(form.persona_id.data or "").isdigit() else None
    if kind == "event":
        data["event_name"] = (form.event_name.data or "").strip() or None
    if kind in ("list_added", "list_removed"):
        data["list_id"] = int(form.list_id.data) if str(form.list_id.data or "").isdigit() else None
    if kind == "field_updated":
        data["field"] = (form.field.data or "").strip() or None
        data["from"] = _typed(form.from_value.data, data["field"])
        data["to"] = _typed(form.to_value.data, data["field"])
    wants_rule = (kind == "schedule" and not persona_based) or form.use_filter.data
    if wants_rule:
        rule, errors = read_rule_field(request.form, prefix="rule-")
        data["rule"] = rule
        rule_errors = [{"field": "rule" + (f".{e['path']}" if e.get("path") else ""),
                        "message": e["message"]} for e in errors]
    return data, rule_errors


def _controls_data(form: ControlsForm) -> dict:
    data = {name: getattr(form, name).data for name in ControlsForm.FIELDS if name != "requires_approval"}
    data["requires_approval"] = not form.send_automatically.data
    for key in ("priority", "global_delay_days", "retrigger_delay_days"):
        if data[key] is None:
            data[key] = trigger_engine.DEFAULTS[key]
    return data


def _shown(value) -> str:
    """A from / to value in its text box."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _forms(step: str, data: dict):
    if step == "message":
        form = MessageForm(data=data)
        templates = db.session.execute(select(EmailTemplate.id, EmailTemplate.name).order_by(EmailTemplate.name)).all()
        form.template_id.choices = [("", "Write it here")] + [(str(i), f"Template: {n}") for i, n in templates]
        if request.method == "GET":
            form.template_id.data = str(data.get("template_id") or "")
        return form
    if step == "rule":
        form = RuleStepForm(data=data)
        personas = db.session.execute(select(Persona.id, Persona.name).order_by(Persona.name)).all()
        form.persona_id.choices = [("", "Choose a persona…")] + [(str(i), n) for i, n in personas]
        lists = db.session.execute(select(ContactList.id, ContactList.name).order_by(ContactList.name)).all()
        form.list_id.choices = [("", "Choose a list…")] + [(str(i), n) for i, n in lists]
        fields = [(f["path"], f["label"] if f["path"].count(".") == 1 else f["path"][len("contact.attributes."):]
                   + " (custom attribute)") for f in _contact_fields()]
        if data.get("field") and data["field"] not in {p for p, _ in fields}:
            fields.append((data["field"], data["field"]))  # a key the sample did not show
        form.field.choices = [("", "Choose a field…")] + fields
        if request.method == "GET":
            form.list_id.data = str(data.get("list_id") or "")
            form.field.data = data.get("field") or ""
            form.from_value.data = _shown(data.get("from"))
            form.to_value.data = _shown(data.get("to"))
            form.persona_id.data = str(data.get("persona_id") or "")
            form.audience.data = "persona" if data.get("persona_id") else "rule"
            form.use_filter.data = bool(data.get("persona_id") or data.get("kind") == "event"
                                        or data.get("kind") in FEED_KINDS) and bool(data.get("rule"))
        return form
    form = ControlsForm(data=data)
    if request.method == "GET":
        form.send_automatically.data = not data.get("requires_approval", True)
    return form


@bp.route("/new", methods=["GET", "POST"])
@role_required(*EDITORS)
def new():
    return step(None, "message")


@bp.route("/<int:trigger_id>/edit/<step>", methods=["GET", "POST"])
@role_required(*EDITORS)
def step(trigger_id, step):
    if step not in STEPS:
        return redirect(url_for("triggers.step", trigger_id=trigger_id, step="message"))
    trigger = db.get_or_404(Trigger, trigger_id) if trigger_id else None
    if step == "review":
        return _review(trigger)
    data = _current_data(trigger)
    form = _forms(step, data)
    errors: list[dict] = []
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        rule_errors: list = []
        if step == "message":
            step_data = _message_data(form)
        elif step == "rule":
            step_data, rule_errors = _rule_data(form, rule_errors)
        else:
            step_data = _controls_data(form)
        merged = dict(data, **step_data)
        clean, all_errors = trigger_engine.validate_trigger(merged)
        errors = rule_errors + [e for e in _step_errors(all_errors, step) if not (rule_errors and e["field"].startswith("rule"))]
        waiting_choice = None
        if not errors and step == "message" and trigger is not None and _content_changed(data, clean):
            waiting = trigger_engine.waiting_by_state(trigger.id, utcnow())
            if sum(waiting.values()):
                waiting_choice = request.form.get("waiting_emails")
                if waiting_choice not in WAITING_CHOICES:  # ask first; nothing is saved yet
                    return _ask_about_waiting(trigger, form, waiting)
        if not errors:
            if trigger is None:
                trigger = Trigger(status="draft", timezone=data["timezone"])  # the viewer's zone
                db.session.add(trigger)
            trigger_engine.apply_trigger(trigger, {k: clean[k] for k in STEP_FIELDS[step] if k in clean})
            if step == "rule" and (data["kind"] in FEED_KINDS) != (clean["kind"] in FEED_KINDS):
                # A new kind family brings its default (on for the feed kinds);
                # the Controls step, next, shows it and can turn it off.
                trigger.once_per_24h = trigger_engine.kind_defaults(clean)["once_per_24h"]
            note = _apply_waiting_choice(trigger, waiting_choice)
            db.session.commit()
            action = request.form.get("action", "next")
            target = STEPS[STEPS.index(step) + 1] if action == "next" else step
            if note:
                flash(note, "success")
            elif action != "next":
                flash("Saved.", "success")
            return redirect(url_for("triggers.step", trigger_id=trigger.id, step=target))
        for error in errors:
            name = str(error["field"]).split(".")[0].split("[")[0]
            field = getattr(form, RuleStepForm.FORM_FIELD.get(name, name), None)
            if field is not None and hasattr(field, "errors"):
                field.errors = list(field.errors) + [error["message"]]
        status = 422
    elif request.method == "POST":
        status = 422  # WTForms could not even parse a field (e.g. a priority that is not a number)
    context = {"trigger": trigger, "step": step, "steps": STEPS, "step_labels": STEP_LABELS,
               "form": form, "errors": errors, "waiting_now": _waiting_now(trigger)}
    if step == "rule":
        submitted_rule = request.form.get("rule-rule_json") if request.method == "POST" else None
        refused = [{"path": str(e["field"])[len("rule."):] if str(e["field"]).startswith("rule.") else "",
                    "message": e["message"]} for e in errors if str(e.get("field", "")).startswith("rule")]
        context["rb"] = builder_context(submitted_rule or data.get("rule"), prefix="rule-",
                                        errors=refused or None)
        context["event_names"] = known_event_names()  # the event name field's suggestions
        context["has_lists"] = len(form.list_id.choices) > 1
    return render_template(f"triggers/step_{step}.html", **context), status


# What a message change does to the emails already rendered and waiting in the outbox.
CONTENT_FIELDS = ("subject", "html", "text", "template_id")
WAITING_CHOICES = ("rerender", "keep")


def _waiting_now(trigger) -> int:
    """Emails of a live trigger already in the outbox (the wizard's header says so)."""
    if trigger is None or trigger.status != "active":
        return 0
    return trigger_engine.waiting_count(trigger.id)


def _content_changed(before: dict, after: dict) -> bool:
    """Whether the message itself changed (a browser sends a textarea's newlines as CRLF)."""
    def norm(v):
        return v.replace("\r\n", "\n").strip() or None if isinstance(v, str) else v or None

    return any(norm(before.get(k)) != norm(after.get(k)) for k in CONTENT_FIELDS if k in after)


def _ask_about_waiting(trigger, form, waiting):
    """The message changed and emails wait: the same form again, asking whether they
    are re-rendered (the default) or keep what they were rendered with."""
    context = {"trigger": trigger, "step": "message", "steps": STEPS, "step_labels": STEP_LABELS,
               "form": form, "errors": [], "ask_waiting": waiting, "waiting_now": _waiting_now(trigger),
               "waiting_total": sum(waiting.values()),
               "waiting_choice": request.form.get("waiting_emails") or "rerender"}
    return render_template("triggers/step_message.html", **context), 200


def _apply_waiting_choice(trigger, choice) -> str | None:
    """Re-render the waiting emails (engine.render.messages.rerender_waiting) or keep them."""
    if choice == "rerender":
        from engine.render.messages import rerender_waiting

        done = rerender_waiting(trigger.id, utcnow())
        n = done["marked"]
        failed = done.get("render_failed", 0)
        return (f"Saved. {n} waiting email{'s' if n != 1 else ''} re-rendered with the new content"
                + (f" ({failed} could not be rendered and failed: see the outbox)" if failed else "")
                + ".")
    if choice == "keep":
        return "Saved. The waiting emails keep the content they were rendered with."
    return None


def _review(trigger):
    from engine.triggers.audience import audience_sample, audience_select
    from engine.rules import RuleError
    from engine.rules.suppression import held_back_counts

    now = utcnow()
    problems = trigger_engine.activation_problems(trigger)
    held_back = {}
    try:
        audience, audience_error = audience_sample(trigger, now, limit=50), None
        query = audience_select(trigger, now)
        if query is not None and audience["count"]:  # the same contacts, counted as the tick holds them
            held_back = held_back_counts(select(query.subquery().c.contact_id))
    except RuleError as exc:
        audience, audience_error = {"count": 0, "accounts": 0, "sample": []}, str(exc)
    contact_id = request.args.get("contact_id", type=int)
    if contact_id is not None and not 0 < contact_id < 2**31:  # contact ids are PostgreSQL integers
        contact_id = None
    if contact_id is None and audience["sample"]:
        contact_id = audience["sample"][0]["contact_id"]
    preview = _render_preview(trigger, contact_id) if contact_id else None
    check = _audience_check(trigger, contact_id, now, audience_error) if contact_id else None
    # The picker names the contact shown: one looked up by email is added to it.
    picked = None
    if preview and preview.get("contact") is not None and \
            contact_id not in {c["contact_id"] for c in audience["sample"]}:
        c = preview["contact"]
        picked = {"contact_id": c.id, "email": c.email, "name": c.full_name,
                  "account_name": c.account.name if c.account else ""}
    return render_page(
        "triggers/step_review.html", "triggers/_review_preview.html", trigger=trigger,
        step="review", steps=STEPS, step_labels=STEP_LABELS, problems=problems, audience=audience,
        audience_error=audience_error, contact_id=contact_id, preview=preview, form=ConfirmForm(),
        waiting=trigger_engine.waiting_count(trigger.id), check=check, picked=picked,
        held_back=held_back, held_total=sum(held_back.values()), held_labels=HELD_LABELS,
        waiting_now=_waiting_now(trigger),
    )


def _audience_check(trigger, contact_id, now, audience_error):
    """Does the previewed contact match, and why not (engine.triggers.audience.explain_audience)."""
    from engine.rules import RuleError
    from engine.triggers.audience import explain_audience

    if audience_error:
        return None
    try:
        return explain_audience(trigger, contact_id, now)
    except (LookupError, RuleError):
        return None


def _render_preview(trigger, contact_id):
    """The email exactly as this contact would get it, or the reason it can't render."""
    from engine.render import RenderError, TemplateError, build_context, compile_for_trigger
    from models import Account, Contact

    contact = db.session.get(Contact, contact_id)
    if contact is None:
        return {"error": "That contact does not exist."}
    account = db.session.get(Account, contact.account_id)
    try:
        compiled = compile_for_trigger(trigger)
        rendered = compiled.render(build_context(contact, account, unsubscribe_url="#unsubscribe-preview"))
    except (TemplateError, RenderError) as exc:
        return {"contact": contact, "error": str(exc)}
    from engine.render.document import as_document

    return {"contact": contact, "account": account, "email": rendered,
            "frame": as_document(rendered.html)}  # the document the mailer sends


@bp.route("/<int:trigger_id>/review/recipient", methods=["POST"])
@role_required(*EDITORS)
def pick_recipient(trigger_id):
    """Look a recipient up by email for the review preview."""
    from models import Contact

    trigger = db.get_or_404(Trigger, trigger_id)
    email = (request.form.get("email") or "").strip().lower()
    contact = db.session.scalars(select(Contact).where(Contact.email == email)).first() if email else None
    if contact is None:
        flash(f"No contact has the email “{email}”.", "error")
        return redirect(url_for("triggers.step", trigger_id=trigger.id, step="review"))
    return redirect(url_for("triggers.step", trigger_id=trigger.id, step="review", contact_id=contact.id))


@bp.route("/<int:trigger_id>/test-send", methods=["POST"])
@role_required(*EDITORS)
def test_send(trigger_id):
    from engine.sending.mime import send_test_email

    trigger = db.get_or_404(Trigger, trigger_id)
    contact_id = request.form.get("contact_id", type=int)
    if not contact_id or not 0 < contact_id < 2**31:  # contact ids are PostgreSQL integers
        flash("Pick a recipient to preview before sending a test.", "error")
    else:
        try:
            send_test_email(trigger, contact_id, current_user.email, utcnow(), config=current_app.config)
        except Exception as exc:  # SMTP down, render error: say what happened, keep the page
            flash(f"The test email could not be sent: {exc}", "error")
        else:
            flash(f"Sent a [TEST] copy to {current_user.email}.", "success")
    return redirect(url_for("triggers.step", trigger_id=trigger.id, step="review", contact_id=contact_id))
