from datetime import datetime, time

from sqlalchemy import ForeignKey, Index, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import JSONType, utcnow

# The change-feed kinds (models.ContactChange; engine/triggers/generate.py run_changes).
FEED_KINDS = ("contact_created", "field_updated", "list_added", "list_removed")
KINDS = ("schedule", "persona_enter", "persona_leave", "event", *FEED_KINDS)
STATUSES = ("draft", "active", "paused", "inactive")
# What a new trigger starts with, stored form: the column defaults below, and (as
# API fields, engine.triggers.validation.DEFAULTS) what the API and the wizard fill
# in for a field a new trigger leaves out. The one place these are written down.
TRIGGER_DEFAULTS = {
    "description": None, "from_email": None, "from_name": None, "bcc": None, "reply_to_name": None,
    "reply_to_email": None, "no_reply": False, "subject": None, "html": None, "text": None,
    "template_id": None, "kind": "schedule", "persona_id": None, "event_name": None, "rule": None,
    "priority": 1, "global_delay_days": 0, "retrigger_delay_days": 0, "never_retrigger": False,
    "generate_at": time(8, 0), "send_at": time(9, 0), "timezone": "UTC", "requires_approval": True,
    "track_opens": True, "track_clicks": True, "list_id": None, "field": None,
    "from_value": None, "to_value": None,  # the API's "from" / "to"
    "once_per_24h": False,  # on for FEED_KINDS (engine.triggers.validation.kind_defaults)
}


class Trigger(db.Model):
    __tablename__ = "triggers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(128))
    description: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    # Message
    from_email: Mapped[str | None] = mapped_column(db.String(320), nullable=True)
    from_name: Mapped[str | None] = mapped_column(db.String(128), nullable=True)  # From display name
    bcc: Mapped[str | None] = mapped_column(db.String(320), nullable=True)
    reply_to_name: Mapped[str | None] = mapped_column(db.String(128), nullable=True)
    reply_to_email: Mapped[str | None] = mapped_column(db.String(320), nullable=True)
    no_reply: Mapped[bool] = mapped_column(default=TRIGGER_DEFAULTS["no_reply"])
    subject: Mapped[str | None] = mapped_column(db.String(998), nullable=True)
    html: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    text: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    # Open pixel / click redirects for this trigger's emails (engine/sending/mime.py).
    track_opens: Mapped[bool] = mapped_column(default=TRIGGER_DEFAULTS["track_opens"],
                                              server_default=true())
    track_clicks: Mapped[bool] = mapped_column(default=TRIGGER_DEFAULTS["track_clicks"],
                                               server_default=true())
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id"), nullable=True
    )
    # Rule
    kind: Mapped[str] = mapped_column(db.String(16), default=TRIGGER_DEFAULTS["kind"])
    persona_id: Mapped[int | None] = mapped_column(ForeignKey("personas.id"), nullable=True)
    event_name: Mapped[str | None] = mapped_column(db.String(128), nullable=True)
    rule: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    # Change-feed kinds: list_added / list_removed name a list; field_updated a
    # rule field ("contact.attributes.plan") and optionally the old and/or new
    # value, as JSON text (engine.contacts.changes.encode_value); NULL = any.
    # No foreign key: SQLite cannot add or drop one in place (see the migration);
    # deleting a list that a trigger uses is refused by engine/contacts.
    list_id: Mapped[int | None] = mapped_column(nullable=True)
    field: Mapped[str | None] = mapped_column(db.String(200), nullable=True)
    from_value: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    to_value: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    # Controls
    priority: Mapped[int] = mapped_column(default=TRIGGER_DEFAULTS["priority"])
    global_delay_days: Mapped[int] = mapped_column(default=TRIGGER_DEFAULTS["global_delay_days"])
    retrigger_delay_days: Mapped[int] = mapped_column(default=TRIGGER_DEFAULTS["retrigger_delay_days"])
    never_retrigger: Mapped[bool] = mapped_column(default=TRIGGER_DEFAULTS["never_retrigger"])
    # Mailtrap's rule: at most one email from this trigger to a contact in 24 hours
    # (suppression reason "once_per_24h").
    once_per_24h: Mapped[bool] = mapped_column(default=TRIGGER_DEFAULTS["once_per_24h"],
                                               server_default=false())
    generate_at: Mapped[time] = mapped_column(db.Time, default=TRIGGER_DEFAULTS["generate_at"])
    send_at: Mapped[time] = mapped_column(db.Time, default=TRIGGER_DEFAULTS["send_at"])
    timezone: Mapped[str] = mapped_column(db.String(64), default=TRIGGER_DEFAULTS["timezone"])
    requires_approval: Mapped[bool] = mapped_column(default=TRIGGER_DEFAULTS["requires_approval"])
    # Lifecycle
    status: Mapped[str] = mapped_column(db.String(16), default="draft")
    started_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    # Staff deactivated it and chose to keep its waiting emails: those may still be
    # approved and sent. Otherwise the send path cancels an inactive trigger's emails.
    keep_queued_when_inactive: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Event/persona triggers fire on rows newer than these high-water marks.
    last_event_id: Mapped[int] = mapped_column(db.BigInteger, default=0)
    last_transition_id: Mapped[int] = mapped_column(db.BigInteger, default=0)
    last_change_id: Mapped[int] = mapped_column(db.BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow, onupdate=utcnow)

    template = relationship("EmailTemplate")
    persona = relationship("Persona")

    __table_args__ = (Index("ix_triggers_status_priority", "status", "priority"),)


class TriggerRun(db.Model):
    """One generation of a trigger for one occurrence (a schedule trigger's day).

    The unique key makes "has this trigger generated for today?" a fact in the
    database, so two ticks at once cannot both generate.
    """

    __tablename__ = "trigger_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    trigger_id: Mapped[int] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    occurrence_key: Mapped[str] = mapped_column(db.String(64))
    generated_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    send_after: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    candidates: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    suppressed: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("trigger_id", "occurrence_key"),)


class TickRun(db.Model):
    """A record that the scheduler tick ran (the heartbeat shown in Settings)."""

    __tablename__ = "tick_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    as_of: Mapped[datetime] = mapped_column(db.DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    summary: Mapped[dict] = mapped_column(JSONType, default=dict)
