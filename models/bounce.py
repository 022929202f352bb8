from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import BigIntId, utcnow

# hard: 5.x.x / permanent; soft: 4.x.x / transient; complaint: marked as spam.
BOUNCE_KINDS = ("hard", "soft", "complaint")
BOUNCE_SOURCES = ("dsn", "ses", "sendgrid", "postmark", "mailgun")


class BounceRecord(db.Model):
    """A bounce or complaint that came back for one sent message (a DSN or a
    provider webhook). (source, dedupe_key) is unique, so the same DSN or
    webhook event delivered twice is recorded once."""

    __tablename__ = "bounce_records"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("outbox_messages.id", ondelete="CASCADE"))
    # Denormalised from the message, so reports and the contact page need no join.
    trigger_id: Mapped[int] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # The address the message went to (a later change of address clears the bounce).
    email: Mapped[str] = mapped_column(db.String(320))
    kind: Mapped[str] = mapped_column(db.String(16))
    source: Mapped[str] = mapped_column(db.String(16))
    # The DSN status code ("5.1.1") when there is one.
    status: Mapped[str | None] = mapped_column(db.String(16), nullable=True)
    # The raw diagnostic text as received (escaped when shown).
    reason: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    # The DSN's Message-ID or the provider's event id: what makes a repeat a repeat.
    dedupe_key: Mapped[str] = mapped_column(db.String(255))
    at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "dedupe_key", name="uq_bounce_records_source_key"),
        Index("ix_bounce_records_contact_at", "contact_id", "at"),
        Index("ix_bounce_records_at", "at"),
        Index("ix_bounce_records_message", "message_id"),
    )
