"""Report aggregates: exact per-day trigger figures folded from delivery events.

engine/reports/fold.py maintains them (every tick and before a report is read);
`flask nudge rebuild-reports` recomputes them from the events. No foreign keys,
as for persona members: per-row checks would slow the fold, and deleting a
trigger deletes its report rows explicitly (engine.triggers).
"""
from datetime import date, datetime

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db

METRICS = ("recipients", "delivered", "opened", "clicked", "failed", "unsubscribed", "bounced")


class ReportDayContact(db.Model):
    """A contact counted once under a metric on a trigger's local day (the
    distinct-users rule: a second open the same day changes nothing)."""

    __tablename__ = "report_day_contacts"
    trigger_id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(db.Date, primary_key=True)
    metric: Mapped[str] = mapped_column(db.String(16), primary_key=True)
    contact_id: Mapped[int] = mapped_column(primary_key=True)


class ReportDay(db.Model):
    """One trigger's figures for one local day: the daily trends table's row."""

    __tablename__ = "report_days"
    trigger_id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(db.Date, primary_key=True)
    recipients: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    opened: Mapped[int] = mapped_column(default=0)
    clicked: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    unsubscribed: Mapped[int] = mapped_column(default=0)
    # Distinct contacts whose email bounced (or complained) that day.
    bounced: Mapped[int] = mapped_column(default=0, server_default="0")
    # Contacts whose latest delivery from this trigger was on this day: summing it
    # over the last 30 days gives the distinct 30-day recipients in <= 30 rows.
    latest_delivered: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("ix_report_days_day", "day", "trigger_id"),)


class ReportRecipient(db.Model):
    """The last local day each contact received an email from each trigger."""

    __tablename__ = "report_recipients"
    trigger_id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(primary_key=True)
    last_day: Mapped[date] = mapped_column(db.Date)


class ReportFoldLock(db.Model):
    """One row whose row lock serialises folds (PostgreSQL; SQLite's write lock
    does the same), so the aggregates' read-modify-write steps never race."""

    __tablename__ = "report_fold_lock"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    folded_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
