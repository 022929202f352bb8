"""engine/bounces/records.py and verp.py: idempotent records, the suppression each
kind applies (hard, soft N-in-D, complaint), the current-address rule, mark fixed."""
import logging
from datetime import datetime, timedelta

from engine.bounces import verp
from engine.bounces.records import bounce_summary, mark_address_fixed, record_bounce
from engine.sending.mime import message_id_for
from extensions import db
from models import Contact, ContactChange, DeliveryEvent, OutboxMessage
from models.bounce import BounceRecord

NOW = datetime(2026, 1, 5, 9, 0)
SECRET = "test-secret"


def _sent(make, **kw):
    contact = make.contact(**kw)
    return contact, make.outbox_message(contact=contact, state="sent", sent_at=NOW)


def _contact(contact_id):
    db.session.expire_all()
    return db.session.get(Contact, contact_id)


def _events(message_id):
    return [(e.kind, e.detail) for e in
            db.session.query(DeliveryEvent).filter_by(message_id=message_id).order_by(DeliveryEvent.id)]


def test_hard_bounce_marks_the_contact_once_and_is_idempotent(make):
    contact, message = _sent(make)
    record = record_bounce(message_id=message.id, kind="hard", source="dsn", dedupe_key="<dsn-1@mx>",
                           status="5.1.1", reason="smtp; 550 5.1.1 <x>: user unknown", now=NOW)
    assert record is not None and record.contact_id == contact.id and record.email == contact.email
    assert record.trigger_id == message.trigger_id and record.kind == "hard"
    again = record_bounce(message_id=message.id, kind="hard", source="dsn", dedupe_key="<dsn-1@mx>",
                          status="5.1.1", reason="again", now=NOW + timedelta(hours=1))
    db.session.commit()
    assert again is None
    assert db.session.query(BounceRecord).count() == 1
    fresh = _contact(contact.id)
    assert fresh.email_bounced_at == NOW
    assert fresh.email_bounce_reason == "5.1.1 smtp; 550 5.1.1 <x>: user unknown"
    assert _events(message.id) == [("bounced", "5.1.1 smtp; 550 5.1.1 <x>: user unknown")]
    # Same key from another source is another event.
    assert record_bounce(message_id=message.id, kind="hard", source="ses", dedupe_key="<dsn-1@mx>",
                         now=NOW) is not None


def test_unknown_message_records_nothing(make):
    assert record_bounce(message_id=987654, kind="hard", source="dsn", dedupe_key="k", now=NOW) is None
    assert db.session.query(BounceRecord).count() == 0


def test_a_bounce_of_an_old_address_does_not_mark_the_new_one(make):
    contact, message = _sent(make, email="old@example.com")
    contact.email = "new@example.com"
    db.session.commit()
    assert record_bounce(message_id=message.id, kind="hard", source="dsn", dedupe_key="k1",
                         status="5.1.1", now=NOW) is not None
    db.session.commit()
    assert _contact(contact.id).email_bounced_at is None


def test_address_comparison_ignores_case(make):
    contact, message = _sent(make, email="Ann@Example.com")
    message.to_email = "ann@example.com"
    db.session.commit()
    record_bounce(message_id=message.id, kind="hard", source="dsn", dedupe_key="k1", now=NOW)
    db.session.commit()
    assert _contact(contact.id).email_bounced_at == NOW


def test_soft_bounces_become_a_bounce_at_the_limit_within_the_window(make, app):
    app.config.update(BOUNCE_SOFT_LIMIT=3, BOUNCE_SOFT_WINDOW_DAYS=7)
    contact, message = _sent(make)
    # Two soft bounces 10 days ago are outside the window.
    for n in range(2):
        record_bounce(message_id=message.id, kind="soft", source="dsn", dedupe_key=f"old{n}",
                      status="4.2.2", now=NOW - timedelta(days=10))
    for n in range(2):
        record_bounce(message_id=message.id, kind="soft", source="dsn", dedupe_key=f"new{n}",
                      status="4.2.2", reason="mailbox full", now=NOW + timedelta(days=n))
    db.session.commit()
    assert _contact(contact.id).email_bounced_at is None
    assert bounce_summary(contact.id, NOW + timedelta(days=1))["soft_count"] == 2
    record_bounce(message_id=message.id, kind="soft", source="dsn", dedupe_key="new2",
                  status="4.2.2", reason="mailbox full", now=NOW + timedelta(days=2))
    db.session.commit()
    fresh = _contact(contact.id)
    assert fresh.email_bounced_at == NOW + timedelta(days=2)
    assert fresh.email_bounce_reason == "3 soft bounces in 7 days, the last: 4.2.2 mailbox full"


def test_a_hard_bounce_suppresses_the_contacts_waiting_emails(make):
    contact, message = _sent(make)
    waiting = make.outbox_message(contact=contact, state="pending_approval")
    record_bounce(message_id=message.id, kind="hard", source="dsn", dedupe_key="k", now=NOW)
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(OutboxMessage, waiting.id)
    assert (again.state, again.reason_code) == ("suppressed", "bounced")


def test_complaint_unsubscribes_with_reason_complaint(make):
    contact, message = _sent(make)
    record = record_bounce(message_id=message.id, kind="complaint", source="ses",
                           dedupe_key="feedback-1", reason="abuse", now=NOW)
    db.session.commit()
    assert record.kind == "complaint"
    fresh = _contact(contact.id)
    assert fresh.unsubscribed_at == NOW and fresh.email_bounced_at is None
    assert _events(message.id) == [("unsubscribed", "complaint")]
    # A second complaint (another event id) is recorded, the contact keeps one unsubscribe.
    record_bounce(message_id=message.id, kind="complaint", source="ses", dedupe_key="feedback-2",
                  now=NOW + timedelta(hours=1))
    db.session.commit()
    assert _events(message.id) == [("unsubscribed", "complaint")]
    assert db.session.query(BounceRecord).count() == 2


def test_mark_address_fixed_clears_the_bounce_and_restarts_the_soft_count(make, app):
    app.config.update(BOUNCE_SOFT_LIMIT=2, BOUNCE_SOFT_WINDOW_DAYS=7)
    contact, message = _sent(make)
    for n in range(2):
        record_bounce(message_id=message.id, kind="soft", source="dsn", dedupe_key=f"s{n}", now=NOW)
    db.session.commit()
    assert _contact(contact.id).email_bounced_at is not None
    later = NOW + timedelta(hours=2)
    assert mark_address_fixed(contact.id, actor="boss@example.com", now=later) is True
    db.session.commit()
    fresh = _contact(contact.id)
    assert fresh.email_bounced_at is None and fresh.email_bounce_reason is None
    change = db.session.query(ContactChange).filter_by(contact_id=contact.id).one()
    assert (change.field, change.new_value, change.actor) == (
        "contact.email_bounced_at", None, "boss@example.com")
    assert mark_address_fixed(contact.id, actor="boss@example.com", now=later) is False
    # One more soft bounce after the fix does not re-mark it (the count starts afresh).
    record_bounce(message_id=message.id, kind="soft", source="dsn", dedupe_key="s9",
                  now=later + timedelta(hours=1))
    db.session.commit()
    assert _contact(contact.id).email_bounced_at is None
    assert bounce_summary(contact.id, later + timedelta(hours=1))["soft_count"] == 1


# --- VERP ------------------------------------------------------------------

def test_verp_round_trip_survives_case_changes():
    address = verp.return_path(1234, domain="Bounces.Example.com", secret=SECRET)
    local, _, domain = address.partition("@")
    assert domain == "bounces.example.com" and local.startswith("bounces+1234-")
    assert verp.message_id_from_address(address, secret=SECRET) == 1234
    assert verp.message_id_from_address(address.upper(), secret=SECRET) == 1234
    assert verp.message_id_from_address(f"<{address}>", secret=SECRET) == 1234


def test_forged_and_malformed_verp_tokens_are_ignored_and_logged(caplog):
    good = verp.return_path(1234, domain="b.example.com", secret=SECRET)
    other = verp.return_path(1235, domain="b.example.com", secret=SECRET)
    forged = "bounces+1235-" + good.split("-", 1)[1]  # 1234's mac on 1235
    with caplog.at_level(logging.WARNING, logger="engine.bounces.verp"):
        assert verp.message_id_from_address(forged, secret=SECRET) is None
        assert verp.message_id_from_address(other, secret="another-key") is None
        assert verp.message_id_from_address("bounces+abc@b.example.com", secret=SECRET) is None
        assert verp.message_id_from_address("bounces+1234-zz@b.example.com", secret=SECRET) is None
    assert len(caplog.records) == 4
    assert verp.message_id_from_address("ann@example.com", secret=SECRET) is None
    assert verp.message_id_from_address("", secret=SECRET) is None
    assert verp.message_id_from_address(None, secret=SECRET) is None


def test_message_id_header_round_trips_the_senders_message_id(app):
    assert verp.message_id_from_header(message_id_for(77, app.config)) == 77
    assert verp.message_id_from_header("  <NUDGE-78@mail.example.com> ") == 78
    assert verp.message_id_from_header("<nudge-test-abc@x>") is None
    assert verp.message_id_from_header("<123@other>") is None
    assert verp.message_id_from_header(None) is None


def test_an_upsert_that_changes_the_email_clears_the_bounce(make):
    from engine.contacts.ingest import ingest

    account = make.account(external_id="acc-x")
    kept = make.contact(account=account, external_id="kept", email="kept@example.com",
                        email_bounced_at=NOW, email_bounce_reason="5.1.1 gone")
    moved = make.contact(account=account, external_id="moved", email="old@example.com",
                         email_bounced_at=NOW, email_bounce_reason="5.1.1 gone")
    ingest("contacts", [
        {"external_id": "kept", "account_external_id": "acc-x", "email": "KEPT@example.com"},
        {"external_id": "moved", "account_external_id": "acc-x", "email": "new@example.com"},
    ], NOW)
    db.session.commit()
    assert _contact(kept.id).email_bounced_at == NOW  # the same address, another case
    fresh = _contact(moved.id)
    assert fresh.email == "new@example.com"
    assert fresh.email_bounced_at is None and fresh.email_bounce_reason is None
