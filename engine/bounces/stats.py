"""What Settings -> Deliverability shows: the latest bounce and complaint records
and their counts per day. Read-only, one query each."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from extensions import db
from models import Contact
from models.bounce import BounceRecord


def recent_records(limit: int = 50) -> list:
    """The newest records with the contact's name: rows of (record, contact)."""
    return db.session.execute(
        select(BounceRecord, Contact.first_name, Contact.last_name, Contact.external_id)
        .join(Contact, Contact.id == BounceRecord.contact_id)
        .order_by(BounceRecord.at.desc(), BounceRecord.id.desc()).limit(limit)).all()


def daily_counts(now: datetime, days: int = 30) -> list[dict]:
    """One dict per UTC day (newest first, every day of the window, zeros
    included): {"day", "hard", "soft", "complaint", "total"}."""
    first = (now - timedelta(days=days - 1)).date()
    start = datetime.combine(first, datetime.min.time())
    day = func.date(BounceRecord.at)  # a date on PostgreSQL, "YYYY-MM-DD" on SQLite
    rows = db.session.execute(
        select(day.label("day"),
               *[func.sum(case((BounceRecord.kind == k, 1), else_=0)).label(k)
                 for k in ("hard", "soft", "complaint")])
        .where(BounceRecord.at >= start, BounceRecord.at <= now).group_by(day)).all()
    found = {(r.day if isinstance(r.day, date) else date.fromisoformat(str(r.day))): r for r in rows}
    out = []
    for n in range(days):
        d = now.date() - timedelta(days=n)
        r = found.get(d)
        counts = {k: int(getattr(r, k) or 0) if r else 0 for k in ("hard", "soft", "complaint")}
        out.append({"day": d, **counts, "total": sum(counts.values())})
    return out
