"""Model factories: each makes a valid row with sensible defaults and commits it."""
import itertools
from datetime import timedelta

from werkzeug.security import generate_password_hash

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
    # One PBKDF2 round: check_password accepts any werkzeug hash, and tests need no brute-force cost.
    s.password_hash = generate_password_hash(password, method="pbkdf2:sha256:1")
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


def trigger(**kw):
    from datetime import time

    from models import Trigger

    n = _n()
    kw.setdefault("name", f"Trigger {n}")
    kw.setdefault("from_email", "success@example.com")
    kw.setdefault("subject", "Hello {{ contact.first_name }}")
    kw.setdefault("html", "<p>Hello {{ contact.first_name }}</p>")
    kw.setdefault("kind", "schedule")
    kw.setdefault("rule", {"user_types": ["product_user"], "all": []})
    kw.setdefault("generate_at", time(8, 0))
    kw.setdefault("send_at", time(9, 0))
    kw.setdefault("timezone", "UTC")
    kw.setdefault("status", "active")
    return _save(Trigger(**kw))


def outbox_message(trigger=None, contact=None, state="pending_approval", **kw):
    """An outbox row in any state, rendered content included (tests set states directly)."""
    from models import OutboxMessage

    n = _n()
    con = contact or globals()["contact"]()
    trg = trigger or globals()["trigger"]()
    kw.setdefault("occurrence_key", f"occ-{n}")
    kw.setdefault("to_email", con.email)
    kw.setdefault("subject", f"Hello {con.first_name}")
    kw.setdefault("html", '<p>Hello</p><p><a href="https://example.com/docs">Read the docs</a></p>')
    kw.setdefault("text", "Hello\n\nRead the docs: https://example.com/docs")
    return _save(OutboxMessage(
        trigger_id=trg.id, contact_id=con.id, account_id=con.account_id, state=state, **kw
    ))


def persona(name=None, rule=None, **kw):
    """A persona (members are not computed: call engine.personas.refresh_persona)."""
    from models import Persona

    n = _n()
    return _save(Persona(name=name or f"Persona {n}",
                         rule=rule if rule is not None else {"user_types": ["product_user"], "all": []},
                         **kw))


def email_template(**kw):
    """A saved email template (valid Jinja) with a unique name."""
    from models import EmailTemplate

    n = _n()
    kw.setdefault("name", f"Template {n}")
    kw.setdefault("subject", "Hello {{ contact.first_name }}")
    kw.setdefault("html", '<p>Hi {{ contact.first_name }},</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')
    kw.setdefault("text", "")
    return _save(EmailTemplate(**kw))


def contact_list(name=None, **kw):
    """A hand-kept list (members are not added: see contact_change for the feed)."""
    from models import ContactList

    return _save(ContactList(name=name or f"List {_n()}", **kw))


def contact_change(contact, kind="field", field=None, old=None, new=None, contact_list=None,
                   at=None, **kw):
    """One change-feed row as the recording code writes it (values are encoded
    with engine.contacts.changes.encode_value). Pass id= and at= to play a row
    whose transaction commits late."""
    from engine.contacts.changes import encode_value
    from models import ContactChange

    kw.setdefault("source", "api")
    return _save(ContactChange(
        contact_id=contact.id, kind=kind, field=field, old_value=encode_value(old),
        new_value=encode_value(new), list_id=contact_list.id if contact_list is not None else None,
        at=at or utcnow(), **kw))
