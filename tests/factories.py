"""Model factories: each makes a valid row with sensible defaults and commits it."""
import itertools
from datetime import timedelta

from extensions import db
from models import Account, Contact, Event, Staff
from models.base import utcnow

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def _save(obj):
    db.session.add(obj)
    db.session.commit()
    return obj


def staff(role="admin", email=None, password="correct-horse-1", **kw):
    s = Staff(email=email or f"staff{_n()}@example.com", role=role, **kw)
    s.set_password(password)
    return _save(s)


def account(**kw):
    n = _n()
    kw.setdefault("external_id", f"acc-{n}")
    kw.setdefault("name", f"Account {n}")
    kw.setdefault("arr", 10000)
    kw.setdefault("plan", "pro")
    kw.setdefault("status", "active")
    kw.setdefault("attributes", {})
    return _save(Account(**kw))


def contact(account=None, **kw):
    n = _n()
    acc = account or globals()["account"]()
    kw.setdefault("external_id", f"con-{n}")
    kw.setdefault("email", f"user{n}@example.com")
    kw.setdefault("first_name", f"First{n}")
    kw.setdefault("last_name", f"Last{n}")
    kw.setdefault("role", "user")
    kw.setdefault("is_product_user", True)
    kw.setdefault("is_crm_contact", False)
    kw.setdefault("last_seen_at", utcnow() - timedelta(days=1))
    kw.setdefault("attributes", {})
    return _save(Contact(account_id=acc.id, **kw))


def event(contact, name="login", occurred_at=None, **kw):
    kw.setdefault("properties", {})
    return _save(Event(contact_id=contact.id, name=name, occurred_at=occurred_at or utcnow(), **kw))
