from datetime import datetime

from sqlalchemy import ForeignKey, Index, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import BigIntId, utcnow

KINDS = ("delivered", "opened", "clicked", "failed", "unsubscribed", "bounced")


class DeliveryEvent(db.Model):
    """What happened to a sent message; reports aggregate these per trigger/day."""

    __tablename__ = "delivery_events"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("outbox_messages.id", ondelete="CASCADE")
    )
    # Denormalised so reports group without joining the outbox.
    trigger_id: Mapped[int] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(db.String(16))
    at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    detail: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    # False until engine/reports/fold.py has counted it into the report aggregates.
    counted: Mapped[bool] = mapped_column(default=False, server_default=false())

    message = relationship("OutboxMessage")

    __table_args__ = (
        # Covers the reports' per-day counts (trigger, time range -> kind, contact):
        # no table lookups for the ~40k events of a trigger's 90 days.
        Index("ix_delivery_trigger_at_kind_contact", "trigger_id", "at", "kind", "contact_id"),
        Index("ix_delivery_message_kind", "message_id", "kind"),
        # Only the events still to fold: stays tiny however many events there are.
        Index("ix_delivery_uncounted", "id", sqlite_where=text("counted = 0"),
              postgresql_where=text("counted = false")),
    )
