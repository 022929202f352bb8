"""Wizard step forms. They only parse and render: engine.triggers.validate_trigger
is the one validation shared with the API, and its errors are attached to fields."""
from flask_wtf import FlaskForm
from wtforms import (BooleanField, HiddenField, IntegerField, RadioField, SelectField, StringField,
                     TextAreaField)
from wtforms.validators import Optional

KIND_CHOICES = [
    ("schedule", "On a schedule — evaluate the rule daily"),
    ("persona_enter", "When a contact enters a persona"),
    ("persona_leave", "When a contact leaves a persona"),
    ("event", "When the product sends an API event"),
    ("contact_created", "A contact is created"),
    ("field_updated", "A contact field is updated"),
    ("list_added", "A contact is added to a list"),
    ("list_removed", "A contact is removed from a list"),
]


class MessageForm(FlaskForm):
    name = StringField("Trigger name")
    description = TextAreaField("Description", render_kw={"rows": 2})
    from_email = StringField("From email", render_kw={"placeholder": "success@yourcompany.com"})
    from_name = StringField("From name", render_kw={"placeholder": "Ada at Acme"})
    bcc = StringField("BCC (optional)")
    reply_to_name = StringField("Reply-to name")
    reply_to_email = StringField("Reply-to email")
    no_reply = BooleanField("No-reply (turn replies off)")
    template_id = SelectField("Body", coerce=str, validate_choice=False)
    subject = StringField("Subject")
    html = TextAreaField("HTML body", render_kw={"rows": 14, "class": "code"})
    text = TextAreaField("Plain-text body (generated from the HTML when empty)",
                         render_kw={"rows": 6, "class": "code"})
    track_opens = BooleanField("Track opens (a 1×1 image in the HTML)")
    track_clicks = BooleanField("Track clicks (links go through Nudge)")

    FIELDS = ("name", "description", "from_email", "from_name", "bcc", "reply_to_name",
              "reply_to_email", "no_reply", "template_id", "subject", "html", "text",
              "track_opens", "track_clicks")


class RuleStepForm(FlaskForm):
    kind = RadioField("When", choices=KIND_CHOICES, default="schedule")
    audience = RadioField("Who", choices=[("rule", "Contacts matching a rule"),
                                          ("persona", "Members of a persona")], default="rule")
    persona_id = SelectField("Persona", coerce=str, validate_choice=False)
    event_name = StringField("Event name", render_kw={"placeholder": "payment_failed", "list": "event-names"})
    use_filter = BooleanField("Also filter by a segment rule")
    list_id = SelectField("List", coerce=str, validate_choice=False)
    field = SelectField("Contact field", coerce=str, validate_choice=False)
    # The API's "from" / "to" (Python keywords, so the form names differ).
    from_value = StringField("From value (optional)", render_kw={"placeholder": "any value"})
    to_value = StringField("To value (optional)", render_kw={"placeholder": "any value"})

    FIELDS = ("kind", "persona_id", "event_name", "rule", "list_id", "field", "from", "to")
    # A validation error on an API field shows on this form field.
    FORM_FIELD = {"from": "from_value", "to": "to_value"}


class ControlsForm(FlaskForm):
    priority = IntegerField("Priority", validators=[Optional()],
                            description="Higher values are evaluated first when triggers run together.")
    global_delay_days = IntegerField("Global trigger delay (days)", validators=[Optional()],
                                     description="Minimum days since ANY triggered email to the same contact.")
    retrigger_delay_days = IntegerField("Re-trigger delay (days)", validators=[Optional()],
                                        description="Minimum days before this trigger emails the same contact again.")
    never_retrigger = BooleanField("Never re-trigger (each contact gets this email once)")
    once_per_24h = BooleanField("Send to the same contact at most once in 24 hours")
    generate_at = StringField("Generate recipients daily at", render_kw={"type": "time"})
    send_at = StringField("Send emails daily at", render_kw={"type": "time"})
    timezone = StringField("Time zone", render_kw={"data-detect-tz": "1"})  # templates/_zone_picker.html
    send_automatically = BooleanField("Send automatically (skip approval)")

    FIELDS = ("priority", "global_delay_days", "retrigger_delay_days", "never_retrigger",
              "once_per_24h", "generate_at", "send_at", "timezone", "requires_approval")


class ConfirmForm(FlaskForm):
    """CSRF-only form for action buttons."""
    cancel_waiting = HiddenField()
