from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import utcnow


class Communication(db.Model):
    """The account's communication log: one row per (account, trigger, day).

    Several users of one account emailed by one trigger on one day are one
    row, without user details (as in Natero).
    """

    __tablename__ = "communications"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    trigger_id: Mapped[int | None] = mapped_column(
        ForeignKey("triggers.id", ondelete="SET NULL"), nullable=True
    )
    day: Mapped[date] = mapped_column(db.Date)
    category: Mapped[str] = mapped_column(db.String(32), default="Emails")
    type: Mapped[str] = mapped_column(db.String(32), default="Trigger")
    subject: Mapped[str] = mapped_column(db.String(998), default="")
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)

    trigger = relationship("Trigger")

    __table_args__ = (
        UniqueConstraint("account_id", "trigger_id", "day"),
        Index("ix_communications_account_day", "account_id", "day"),
    )
