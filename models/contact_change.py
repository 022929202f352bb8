from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import BigIntId, utcnow

# created: a new contact; field: one field changed (field, old_value, new_value);
# list_added / list_removed: a membership change (list_id).
CHANGE_KINDS = ("created", "field", "list_added", "list_removed")
# What made the change ("contact": the contact themselves, e.g. an unsubscribe link).
CHANGE_SOURCES = ("api", "import", "staff", "journey", "demo", "contact")


class ContactChange(db.Model):
    """The change feed: one row per contact created, field changed or list
    membership changed, written in the same transaction as the change itself.
    Feed triggers (and journeys) consume it by high-water mark on `id`, with a
    settle window on `at` as event triggers do (engine/triggers/generate.py)."""

    __tablename__ = "contact_changes"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(db.String(16))
    # A rule field name: "contact.role", "contact.attributes.plan" (kind "field").
    field: Mapped[str | None] = mapped_column(db.String(200), nullable=True)
    # JSON text of the value (engine.contacts.changes.encode_value); NULL = not set.
    old_value: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="CASCADE"), nullable=True)
    source: Mapped[str] = mapped_column(db.String(16))
    # Who: a staff email, an API key's name, an import's file name, a journey's name.
    actor: Mapped[str | None] = mapped_column(db.String(320), nullable=True)
    at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)

    __table_args__ = (
        Index("ix_contact_changes_contact", "contact_id", "id"),
        Index("ix_contact_changes_list", "list_id", "id"),
        # Feed triggers read one kind (and field) above their mark.
        Index("ix_contact_changes_kind_field", "kind", "field", "id"),
    )
