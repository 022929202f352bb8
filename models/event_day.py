from datetime import date

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db


class EventDay(db.Model):
    """How many events of one name a contact had on one UTC day: the daily rollup
    rule event conditions read for the whole days of their windows (the partial
    edge days come from raw events, so results stay exact). Kept up to date in
    the transaction that stores the events (engine/contacts/event_days.py);
    `flask nudge rebuild-rollups` recomputes it from the events.

    UTC days, not the contact's local day: rule windows are rolling instants
    (now - N days, now], so a day only helps when it lies wholly inside one, and
    a UTC day is the same interval for every contact (one range scan) and does
    not move when a contact's time zone or its DST offset changes."""

    __tablename__ = "event_days"
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(db.String(128), primary_key=True)
    day: Mapped[date] = mapped_column(db.Date, primary_key=True)
    count: Mapped[int] = mapped_column(db.Integer)

    __table_args__ = (
        # A rule condition reads one name's days and groups by contact: with the
        # count in the index that scan never touches the table.
        Index("ix_event_days_name_day_contact", "name", "day", "contact_id", "count"),
        # The primary key is the table on SQLite (no rowid b-tree beside it).
        {"sqlite_with_rowid": False},
    )
