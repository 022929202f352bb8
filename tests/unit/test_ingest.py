"""engine.contacts.ingest without Flask requests: validate/store as the CSV import uses them."""
from datetime import datetime

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.contacts import fields
from engine.contacts import ingest as ing
from extensions import db
from models import Account, Contact, Event

NOW = datetime(2026, 1, 5, 9, 0)


def test_validate_returns_valid_rows_with_index_and_errors(app, make):
    make.account(external_id="acme")
    rows, errors = ing.validate("contacts", [
        {"external_id": "a", "account_external_id": "acme", "email": "a@x.io"},
        {"external_id": "b", "account_external_id": "acme", "email": "bad"},
        {"external_id": "c", "account_external_id": "ghost", "email": "c@x.io"},
    ])
    assert [r["_index"] for r in rows] == [0]
    assert rows[0]["account_id"] == Account.query.one().id
    assert [(e["index"], e["field"]) for e in errors] == [(1, "email"), (2, "account_external_id")]
    assert Contact.query.count() == 0  # validate never writes


def test_store_is_row_by_row_usable_and_does_not_commit(app, make):
    rows, errors = ing.validate("accounts", [{"external_id": "a1", "name": "A"}])
    assert not errors
    assert ing.store("accounts", rows, NOW) == (1, 0)
    db.session.rollback()
    assert Account.query.count() == 0
    ing.store("accounts", rows, NOW)
    db.session.commit()
    acc = Account.query.one()
    assert (acc.status, acc.attributes, acc.created_at) == ("active", {}, NOW)


def test_ingest_raises_and_stores_nothing(app):
    with pytest.raises(ing.IngestError) as exc:
        ing.ingest("accounts", [{"external_id": "a", "name": "A"}, {"external_id": "b"}], NOW)
    assert exc.value.errors == [{"index": 1, "field": "name", "message": "is required"}]
    assert Account.query.count() == 0


def test_attributes_merge_and_null_removes_a_key(app):
    ing.ingest("accounts", [{"external_id": "a", "name": "A", "attributes": {"x": 1, "y": 2}}], NOW)
    ing.ingest("accounts", [{"external_id": "a", "name": "A", "attributes": {"y": None, "z": 3}}], NOW)
    db.session.expire_all()
    assert Account.query.one().attributes == {"x": 1, "z": 3}


def test_nullable_field_sent_as_null_is_cleared(app):
    ing.ingest("accounts", [{"external_id": "a", "name": "A", "arr": 5, "plan": "pro"}], NOW)
    ing.ingest("accounts", [{"external_id": "a", "name": "A", "plan": None}], NOW)
    db.session.expire_all()
    acc = Account.query.one()
    assert acc.plan is None and float(acc.arr) == 5


def test_lookups_are_chunked_past_the_sqlite_variable_limit(app, monkeypatch):
    monkeypatch.setattr(ing, "CHUNK", 7)
    items = [{"external_id": f"a{i}", "name": f"A{i}"} for i in range(30)]
    assert ing.ingest("accounts", items[:12], NOW) == {"created": 12, "updated": 0}
    assert ing.ingest("accounts", items, NOW) == {"created": 18, "updated": 12}
    assert Account.query.count() == 30


def test_events_dedupe_and_report_touched_contacts(app, make):
    c1, c2 = make.contact(external_id="c1"), make.contact(external_id="c2")
    make.event(c1, external_id="old")
    touched = set()
    items = [
        {"contact_external_id": "c1", "name": "x", "occurred_at": "2026-01-01T00:00:00", "external_id": "old"},
        {"contact_external_id": "c2", "name": "x", "occurred_at": "2026-01-01T00:00:00", "external_id": "new"},
        {"contact_external_id": "c2", "name": "x", "occurred_at": "2026-01-01T00:00:00", "external_id": "new"},
        {"contact_external_id": "c2", "name": "y", "occurred_at": "2026-01-01T00:00:00"},
    ]
    assert ing.ingest("events", items, NOW, touched_contacts=touched) == {"created": 2, "updated": 0}
    assert touched == {c2.id}
    assert Event.query.filter_by(contact_id=c2.id).count() == 2
    assert Event.query.filter_by(external_id="new").one().received_at == NOW


@pytest.mark.parametrize("value, expected", [
    ("2026-01-05T09:00:00Z", datetime(2026, 1, 5, 9)),
    ("2026-01-05T10:00:00+01:00", datetime(2026, 1, 5, 9)),
    ("2026-01-05 09:00", datetime(2026, 1, 5, 9)),
    ("2026-01-05", datetime(2026, 1, 5)),
])
def test_parse_time_gives_naive_utc(value, expected):
    assert fields.parse_time(value) == expected


@pytest.mark.parametrize("value", ["", "5 Jan", "0001-01-01T00:00:00+01:00", 5, "2026-13-01"])
def test_parse_time_rejects(value):
    with pytest.raises(fields.FieldError):
        fields.parse_time(value)


@pytest.mark.parametrize("email", ["ann@example.com", "A.B+tag@Sub.Example.CO", "x_y-z@a-b.io"])
def test_fast_email_path_matches_email_validator(email):
    assert fields.FAST_EMAIL.match(email)
    assert fields.normalize_email(email) == validate_email(email, check_deliverability=False).normalized


@pytest.mark.parametrize("email", ["a@b", "a..b@x.io", ".a@x.io", "a@-x.io", "a@x-.io", "a@x.test",
                                   "a@xn--bad.io", "a b@x.io", "a@x.123", "a@@x.io", ""])
def test_invalid_emails_are_rejected(email):
    with pytest.raises(fields.FieldError):
        fields.normalize_email(email)


def test_international_email_goes_through_email_validator():
    assert fields.normalize_email("jörg@bücher.de") == "jörg@bücher.de"


_local = st.from_regex(r"[A-Za-z0-9_+\-.]{1,70}", fullmatch=True)
_domain = st.from_regex(r"([A-Za-z0-9\-]{1,64}\.){1,3}[A-Za-z0-9]{1,64}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(_local, _domain)
def test_fast_path_accepts_only_what_email_validator_accepts(local, domain):
    # The regex fast path must be a strict subset of email-validator, with the same result.
    email = f"{local}@{domain}"
    try:
        expected = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got = fields.normalize_email(email)
    except fields.FieldError:
        got = None
    assert got == expected


def test_bulk_insert_stores_values_exactly_like_the_orm(app, make):
    # Ingest bypasses SQLAlchemy's type processing for speed; the stored form must match.
    acc = make.account(external_id="acme")
    seen = datetime(2026, 1, 4, 8, 30)
    orm = make.contact(acc, external_id="orm", last_seen_at=seen, attributes={"seats": 3})
    ing.ingest("contacts", [{"external_id": "api", "account_external_id": "acme", "email": "a@x.io",
                             "last_seen_at": "2026-01-04T08:30:00Z", "attributes": {"seats": 3}}], NOW)
    raw = db.session.execute(db.text(
        "SELECT external_id, last_seen_at, created_at, attributes, is_product_user FROM contacts "
        "ORDER BY external_id")).all()
    api_row, orm_row = raw
    assert api_row[1] == orm_row[1]  # same stored datetime representation
    assert api_row[3] == orm_row[3] and api_row[4] == orm_row[4]
    db.session.expire_all()
    got = Contact.query.filter(Contact.last_seen_at >= seen, Contact.created_at == NOW).one()
    assert (got.external_id, got.attributes, got.is_product_user) == ("api", {"seats": 3}, True)
    assert orm.id != got.id


@pytest.mark.parametrize("value", [{}, {"a": [1, 2.5, None, True], "b": {"c": "ü\\\"x"}}, {"n": 10**20}])
def test_to_json_matches_json_dumps(value):
    import json

    assert ing.to_json(value) == json.dumps(value)


def test_to_json_refuses_nan():
    with pytest.raises(fields.FieldError):
        ing.to_json({"x": float("inf")})
