from datetime import datetime

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import JSONType, utcnow


class Account(db.Model):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(db.String(255), unique=True)
    name: Mapped[str] = mapped_column(db.String(255))
    arr: Mapped[float | None] = mapped_column(db.Numeric(14, 2), nullable=True)
    plan: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    status: Mapped[str] = mapped_column(db.String(16), default="active")  # active | churned
    attributes: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)

    contacts = relationship("Contact", back_populates="account", lazy="dynamic")

    __table_args__ = (
        Index("ix_accounts_name", "name"),
        Index("ix_accounts_arr", "arr"),
        Index("ix_accounts_status", "status"),
        Index("ix_accounts_plan", "plan"),
    )

    STATUSES = ("active", "churned")

