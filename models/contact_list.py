from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import utcnow

# Long enough for "Webinar — March 2027 (EMEA, second session)", short enough to show.
LIST_NAME_MAX = 200


class ContactList(db.Model):
    """A named, hand-kept set of contacts (Mailtrap's lists). Who is in it now
    is ListMember; every add and remove is in the change feed (ContactChange)."""

    __tablename__ = "contact_lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(LIST_NAME_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    # Who made it: a staff email, "api: <key name>", or "import: <file>".
    created_by: Mapped[str | None] = mapped_column(db.String(320), nullable=True)


class ListMember(db.Model):
    """A contact in a list now (the history is the change feed)."""

    __tablename__ = "list_members"
    list_id: Mapped[int] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)

    # A contact's lists (contact page) and rule conditions joined from contacts.
    __table_args__ = (Index("ix_list_members_contact", "contact_id", "list_id"),)
