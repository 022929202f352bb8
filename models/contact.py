from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import JSONType, utcnow


class Contact(db.Model):
    """An end user of a customer account: the people Nudge emails."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(db.String(255), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(db.String(320))
    first_name: Mapped[str | None] = mapped_column(db.String(128), nullable=True)
    last_name: Mapped[str | None] = mapped_column(db.String(128), nullable=True)
    role: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    is_crm_contact: Mapped[bool] = mapped_column(default=False)
    is_product_user: Mapped[bool] = mapped_column(default=True)
    timezone: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    attributes: Mapped[dict] = mapped_column(JSONType, default=dict)
    # Set by a hard bounce (or enough soft ones) for the current address; the
    # frequency controls skip the contact (reason "bounced") until it is cleared.
    email_bounced_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    email_bounce_reason: Mapped[str | None] = mapped_column(db.Text, nullable=True)

    account = relationship("Account", back_populates="contacts")

    __table_args__ = (
        # account_id first serves the account's contact list; role makes rules
        # that pair a role with account fields ("admins at accounts over 50k") index-only.
        Index("ix_contacts_account_role", "account_id", "role"),
        Index("ix_contacts_last_seen_at", "last_seen_at"),
        Index("ix_contacts_email", "email"),
        Index("ix_contacts_created_at", "created_at"),
        # Rules often pair a role with days since last seen ("admins not seen for 7
        # days"); account_id makes it covering for the preview's counts per account.
        Index("ix_contacts_role_seen", "role", "last_seen_at", "account_id"),
        # The contacts list's default order (last name, first name) reads this instead of sorting.
        Index("ix_contacts_name", "last_name", "first_name"),
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email
