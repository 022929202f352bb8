from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import utcnow


class SinkMessage(db.Model):
    """A message received by the development mail sink (Settings -> Dev inbox)."""

    __tablename__ = "sink_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    mail_from: Mapped[str] = mapped_column(db.String(320), default="")
    rcpt_to: Mapped[str] = mapped_column(db.Text, default="")
    subject: Mapped[str] = mapped_column(db.String(998), default="")
    message_id: Mapped[str | None] = mapped_column(db.String(255), nullable=True)
    raw: Mapped[str] = mapped_column(db.Text)
