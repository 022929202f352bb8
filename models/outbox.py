from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import BigIntId, utcnow

# Only engine/outbox/ moves messages between these states.
STATES = (
    "suppressed",
    "pending_approval",
    "approved",
    "sending",
    "sent",
    "failed",
    "uncertain",
    "rejected",
    "cancelled",
)

# Why a message was held back or stopped: OutboxMessage.reason_code, one of these,
# with its label for pages. `reason` keeps the human detail (which trigger held it
# back, the SMTP reply of a failed one). Pages, filters, reports and the API group
# and label by the code; nothing parses the text.
REASON_LABELS = {
    # suppressed by the frequency controls (engine/triggers/controls.py), or
    # unsubscribed while waiting (engine/outbox suppress_for_unsubscribe)
    "unsubscribed": "Unsubscribed",
    "bounced": "Bounced",  # the address bounced (engine/bounces/records.py)
    "never_retrigger": "Never re-trigger",
    "retrigger_delay": "Re-trigger delay",
    "once_per_24h": "Once in 24 hours",
    "global_delay": "Global delay",
    "no_email": "No email address",
    # stopped by staff or by the trigger's lifecycle (engine/outbox staff actions)
    "rejected": "Rejected by staff",
    "trigger_deactivated": "Trigger deactivated",
    "trigger_deleted": "Trigger deleted",
    "trigger_inactive": "Trigger not active",
    "dismissed": "Dismissed by staff",
}
REASON_CODES = tuple(REASON_LABELS)
SUPPRESSION_CODES = ("unsubscribed", "bounced", "never_retrigger", "retrigger_delay", "once_per_24h",
                     "global_delay", "no_email")


def reason_label(code: str | None) -> str:
    """The page label of a reason code (a code this version does not know shows as itself)."""
    if not code:
        return "No reason recorded"
    return REASON_LABELS.get(code, code.replace("_", " ").capitalize())


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    trigger_id: Mapped[int] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Run date for schedules, transition id for personas, event id for events,
    # change id (models.ContactChange) for the change-feed kinds.
    occurrence_key: Mapped[str] = mapped_column(db.String(64))
    to_email: Mapped[str] = mapped_column(db.String(320), default="")
    # NULL on a waiting row = not rendered yet: generation inserts rows set-based
    # and rendering follows in batches (engine/render/messages.py).
    subject: Mapped[str | None] = mapped_column(db.String(998), nullable=True)
    html: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    text: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    state: Mapped[str] = mapped_column(db.String(20))
    reason_code: Mapped[str | None] = mapped_column(db.String(32), nullable=True)  # REASON_LABELS
    reason: Mapped[str | None] = mapped_column(db.Text, nullable=True)  # the detail
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    # Earliest moment this may be sent (schedule send time); null = as soon as approved.
    send_after: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    hold_until: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    rejected_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    # Who rejected it (or dismissed it from the Uncertain tab).
    rejected_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    claim_token: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    smtp_reply: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow, onupdate=utcnow)

    trigger = relationship("Trigger")
    contact = relationship("Contact")
    account = relationship("Account")
    approved_by = relationship("Staff", foreign_keys=[approved_by_id])
    rejected_by = relationship("Staff", foreign_keys=[rejected_by_id])

    __table_args__ = (
        UniqueConstraint("trigger_id", "contact_id", "occurrence_key"),
        Index("ix_outbox_state_created", "state", "created_at"),
        Index("ix_outbox_contact_state_created", "contact_id", "state", "created_at"),
        # occurrence_key and reason_code too: the details page's daily status (per run,
        # state and suppression reason) reads only the index.
        Index("ix_outbox_trigger_state_occurrence_reason", "trigger_id", "state", "occurrence_key",
              "reason_code"),
        # Triggers list / details: last send (max per trigger) and 30-day recipients, index-only.
        Index("ix_outbox_trigger_sent", "trigger_id", "sent_at", "contact_id"),
        Index("ix_outbox_account", "account_id"),
        # Render batches walk a run's unrendered rows in id order: without this each
        # batch read and sorted the whole run (a 1M-row run rendered quadratically).
        Index("ix_outbox_unrendered", "trigger_id", "id", sqlite_where=sql_text("subject IS NULL"),
              postgresql_where=sql_text("subject IS NULL")),
        # Claims take the due rows in id order: without this they walked the primary
        # key through every sent row first, a claim growing with the outbox's history.
        Index("ix_outbox_approved", "id", sqlite_where=sql_text("state = 'approved'"),
              postgresql_where=sql_text("state = 'approved'")),
    )

    @property
    def message_id(self) -> str:
        """RFC 5322 Message-ID derived from the outbox id, so duplicates are traceable."""
        from flask import current_app

        from engine.sending.mime import message_id_for

        return message_id_for(self.id, current_app.config)
