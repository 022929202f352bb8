"""Bounce and complaint records, and the suppression each one applies: the core
every intake path calls (DSNs over SMTP or IMAP, the provider webhooks).

- a hard bounce marks the contact's address bounced (Contact.email_bounced_at and
  email_bounce_reason) -- only when the address that bounced is still the
  contact's current one: a bounce of an old address says nothing about the new;
- soft bounces are counted, and BOUNCE_SOFT_LIMIT of them for one address within
  BOUNCE_SOFT_WINDOW_DAYS (default 3 in 7) mark it bounced as a hard one does;
- a complaint ("this is spam") unsubscribes the contact as the unsubscribe link
  does (engine.tracking.unsubscribe), with the reason "complaint" on its event.

Each record also writes the message's DeliveryEvent ("bounced", or "unsubscribed"
for a complaint), which the report fold counts. Recording is idempotent on
(source, dedupe_key): the same DSN or webhook event twice records once. Nothing
here commits: the intake path (or view) that calls it does.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, or_, select, update

from engine.contacts.changes import encode_value
from engine.db.upsert import insert_ignoring_duplicates
from extensions import db
from models import Contact, ContactChange, DeliveryEvent, OutboxMessage
from models.bounce import BOUNCE_KINDS, BOUNCE_SOURCES, BounceRecord

log = logging.getLogger(__name__)

DEFAULT_SOFT_LIMIT = 3
DEFAULT_SOFT_WINDOW_DAYS = 7
# The change-feed field a staff "mark address as fixed" is recorded under.
BOUNCE_FIELD = "contact.email_bounced_at"
_TEXT_LIMIT = 4000  # a diagnostic longer than this is cut (the raw DSN is not kept)


def _setting(name: str, default: int) -> int:
    try:
        from flask import current_app

        return int(current_app.config.get(name) or default)
    except RuntimeError:  # no app context: the engine's defaults
        return default


# Built once (a burst of webhook events records thousands of bounces): the
# message and its contact's address; the bounced delivery event; the mark.
_MESSAGE = (
    select(OutboxMessage.id, OutboxMessage.trigger_id, OutboxMessage.contact_id,
           OutboxMessage.to_email, Contact.email.label("contact_email"))
    .join(Contact, Contact.id == OutboxMessage.contact_id)
    .where(OutboxMessage.id == bindparam("message")))
_BOUNCED_EVENT = insert(DeliveryEvent.__table__)
_contacts = Contact.__table__.c
_MARK_BOUNCED = (
    update(Contact.__table__)
    .where(_contacts.id == bindparam("contact"),
           func.lower(func.trim(_contacts.email)) == bindparam("address"),
           _contacts.email_bounced_at.is_(None))
    .values(email_bounced_at=bindparam("marked_at"), email_bounce_reason=bindparam("why")))


def soft_bounce_policy() -> tuple[int, int]:
    """(limit, window days): that many soft bounces within the window become a bounce."""
    return (_setting("BOUNCE_SOFT_LIMIT", DEFAULT_SOFT_LIMIT),
            _setting("BOUNCE_SOFT_WINDOW_DAYS", DEFAULT_SOFT_WINDOW_DAYS))


def bounce_reason(status: str | None, reason: str | None) -> str:
    """"5.1.1 550 user unknown": the status code and the raw diagnostic, for staff."""
    text = " ".join(p.strip() for p in (status, reason) if p and p.strip())
    return text[:_TEXT_LIMIT] or "bounced"


def record_bounce(*, message_id: int, kind: str, source: str, dedupe_key: str,
                  status: str | None = None, reason: str | None = None,
                  now: datetime) -> BounceRecord | None:
    """Record one bounce or complaint for an outbox message and apply its suppression.

    None when the message is unknown or this (source, dedupe_key) was recorded
    already (then nothing changes). Raises ValueError for an unknown kind/source.
    """
    if kind not in BOUNCE_KINDS:
        raise ValueError(f"unknown bounce kind {kind!r}")
    if source not in BOUNCE_SOURCES:
        raise ValueError(f"unknown bounce source {source!r}")
    dedupe_key = (dedupe_key or "").strip()[:255]
    if not dedupe_key:
        raise ValueError("a bounce needs a dedupe key")
    conn = db.session.connection()
    message = conn.execute(_MESSAGE, {"message": int(message_id)}).first()
    if message is None:
        log.warning("bounce for unknown message %s (%s %s) ignored", message_id, source, dedupe_key)
        return None
    email = (message.to_email or message.contact_email or "").strip()
    status = (status or "").strip()[:16] or None
    reason = (reason or "").strip()[:_TEXT_LIMIT] or None
    # ON CONFLICT DO NOTHING ... RETURNING: the new record's id, or nothing for a
    # repeat (then it was recorded, and applied, the first time).
    inserted = conn.execute(
        insert_ignoring_duplicates(BounceRecord.__table__, index_elements=["source", "dedupe_key"])
        .returning(BounceRecord.__table__.c.id),
        {"message_id": message.id, "trigger_id": message.trigger_id,
         "contact_id": message.contact_id, "email": email, "kind": kind, "source": source,
         "status": status, "reason": reason, "dedupe_key": dedupe_key, "at": now}).scalar()
    if inserted is None:
        return None
    if kind == "complaint":
        _complaint(message, now)
    else:
        conn.execute(_BOUNCED_EVENT, {
            "message_id": message.id, "trigger_id": message.trigger_id,
            "contact_id": message.contact_id, "kind": "bounced", "at": now,
            "detail": bounce_reason(status, reason), "counted": False})
        if kind == "hard":
            _mark_bounced(message.contact_id, email, bounce_reason(status, reason), now)
        else:
            _count_soft(message.contact_id, email, status, reason, now)
    return db.session.get(BounceRecord, inserted)


def _complaint(message, now: datetime) -> None:
    # The unsubscribe link's own path (conditional update, event, waiting emails
    # suppressed), with the reason on the event; an already unsubscribed contact
    # keeps the one event (the record itself still says there was a complaint).
    from engine import tracking

    tracking.unsubscribe(message.id, now, detail="complaint")


def _same_address(column, email: str):
    return func.lower(func.trim(column)) == email.strip().lower()


def _mark_bounced(contact_id: int, email: str, reason: str, now: datetime) -> bool:
    """Mark the contact bounced when `email` is still its address and it is not
    marked already; waiting emails to it are suppressed "bounced". True if marked."""
    if not email:
        return False
    changed = db.session.connection().execute(_MARK_BOUNCED, {
        "contact": contact_id, "address": email.strip().lower(), "marked_at": now,
        "why": reason}).rowcount
    if changed:
        from engine.outbox import suppress_for_bounce

        suppress_for_bounce(contact_id, now)
    return bool(changed)


def soft_bounce_count(contact_id: int, email: str, now: datetime) -> int:
    """Soft bounces of this address within the window, and since staff last marked
    it fixed (the change feed's record of that): one query."""
    limit, days = soft_bounce_policy()
    fixed = (select(func.max(ContactChange.at)).where(
        ContactChange.contact_id == contact_id, ContactChange.kind == "field",
        ContactChange.field == BOUNCE_FIELD, ContactChange.new_value.is_(None))
        .scalar_subquery())
    return db.session.execute(
        select(func.count(BounceRecord.id)).where(
            BounceRecord.contact_id == contact_id, BounceRecord.kind == "soft",
            _same_address(BounceRecord.email, email), BounceRecord.at > now - timedelta(days=days),
            BounceRecord.at <= now, or_(fixed.is_(None), BounceRecord.at > fixed))).scalar() or 0


def _count_soft(contact_id: int, email: str, status, reason, now: datetime) -> None:
    limit, days = soft_bounce_policy()
    count = soft_bounce_count(contact_id, email, now)
    if count >= limit:
        _mark_bounced(contact_id, email, f"{count} soft bounces in {days} days, the last: "
                      + bounce_reason(status, reason), now)


def mark_address_fixed(contact_id: int, *, actor: str | None, now: datetime) -> bool:
    """Staff say the address works again: clear the bounce (and start the soft
    count afresh), recorded in the change feed with who did it. False when the
    contact was not marked bounced (nothing changes)."""
    row = db.session.execute(
        select(Contact.email_bounced_at).where(Contact.id == contact_id)).first()
    if row is None or row.email_bounced_at is None:
        return False
    changed = db.session.execute(
        update(Contact).where(Contact.id == contact_id, Contact.email_bounced_at.is_not(None))
        .values(email_bounced_at=None, email_bounce_reason=None)
        .execution_options(synchronize_session=False)).rowcount
    if changed:
        db.session.add(ContactChange(contact_id=contact_id, kind="field", field=BOUNCE_FIELD,
                                     old_value=encode_value(row.email_bounced_at),
                                     new_value=None, source="staff", actor=actor, at=now))
    return bool(changed)


def bounce_summary(contact_id: int, now: datetime) -> dict:
    """What the contact page's bounce panel shows: the mark (at, reason), the
    address, the soft bounces in the window and the latest records."""
    contact = db.session.execute(
        select(Contact.email, Contact.email_bounced_at, Contact.email_bounce_reason)
        .where(Contact.id == contact_id)).first()
    if contact is None:
        return {}
    limit, days = soft_bounce_policy()
    recent = db.session.execute(
        select(BounceRecord).where(BounceRecord.contact_id == contact_id)
        .order_by(BounceRecord.at.desc(), BounceRecord.id.desc()).limit(5)).scalars().all()
    return {"email": contact.email, "bounced_at": contact.email_bounced_at,
            "reason": contact.email_bounce_reason,
            "soft_count": soft_bounce_count(contact_id, contact.email or "", now),
            "soft_limit": limit, "soft_window_days": days, "recent": recent}
