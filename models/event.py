from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import BigIntId, JSONType, utcnow


class Event(db.Model):
    """Something a contact did in the customer's product (sent through the API)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(db.String(128))
    occurred_at: Mapped[datetime] = mapped_column(db.DateTime)
    properties: Mapped[dict] = mapped_column(JSONType, default=dict)
    # Unique when given, so a re-sent event is not counted twice.
    external_id: Mapped[str | None] = mapped_column(db.String(255), unique=True, nullable=True)
    received_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)

    contact = relationship("Contact")

    __table_args__ = (
        Index("ix_events_contact_name_occurred", "contact_id", "name", "occurred_at"),
        # Rule event conditions scan one name's time window and group by contact:
        # with contact_id in the index that scan never touches the table.
        Index("ix_events_name_occurred_contact", "name", "occurred_at", "contact_id"),
    )
