"""Demo data generator (devtools/demo.py) and `flask nudge seed-demo` / `demo-login`."""
from datetime import datetime, timedelta

from sqlalchemy import func, select

from devtools.demo import DEMO_EMAIL, DEMO_PASSWORD, generate
from extensions import db
from models import Account, Contact, Event, Staff

NOW = datetime(2026, 3, 2, 12, 0, 0)


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _fingerprint():
    accounts = db.session.execute(
        select(Account.external_id, Account.name, Account.plan, Account.arr, Account.status)
        .order_by(Account.id)).all()
    contacts = db.session.execute(
        select(Contact.external_id, Contact.email, Contact.role, Contact.last_seen_at)
        .order_by(Contact.id)).all()
    events = db.session.execute(
        select(Event.contact_id, Event.name, Event.occurred_at).order_by(Event.id).limit(200)).all()
    return accounts, contacts, events


def test_generate_writes_exact_counts_and_a_believable_shape(app):
    result = generate(db.session, accounts=60, contacts=400, events=5000, seed=7, now=NOW)
    assert (result["accounts"], result["contacts"], result["events"]) == (60, 400, 5000)
    assert (_count(Account), _count(Contact), _count(Event)) == (60, 400, 5000)

    # Every account has a contact; churned accounts exist but are a minority; plans are known.
    assert _count(Contact, Contact.account_id.notin_(select(Account.id))) == 0
    assert db.session.scalar(select(func.count(func.distinct(Contact.account_id)))) == 60
    assert 0 < _count(Account, Account.status == "churned") < 20
    assert set(db.session.scalars(select(Account.plan).distinct())) <= {"free", "starter", "pro", "enterprise"}

    # Emails are at the company's domain and unique; roles and timezones are realistic.
    emails = db.session.scalars(select(Contact.email)).all()
    assert len(set(emails)) == len(emails)
    roles = set(db.session.scalars(select(Contact.role).distinct()))
    assert roles <= {"owner", "admin", "manager", "analyst", "developer", "user"} and "owner" in roles
    assert _count(Contact, Contact.timezone.is_(None)) == 0

    # Some product users are inactive (> 30 days); CRM-only contacts were never seen.
    inactive = _count(Contact, Contact.last_seen_at < NOW - timedelta(days=30))
    assert 0.1 * 400 < inactive < 0.6 * 400
    assert _count(Contact, Contact.is_product_user.is_(False), Contact.last_seen_at.isnot(None)) == 0

    # Events fall in the last 90 days, never after the contact was last seen, never in the future.
    first, last = db.session.execute(select(func.min(Event.occurred_at), func.max(Event.occurred_at))).one()
    assert first >= NOW - timedelta(days=90) and last <= NOW
    late = _count(Event, Event.contact_id == Contact.id, Event.occurred_at > Contact.last_seen_at,
                  Event.name != "payment_failed")
    assert late == 0
    names = set(db.session.scalars(select(Event.name).distinct()))
    assert {"login", "report_created", "export_run", "dashboard_viewed"} <= names

    # Custom attributes are there for rules to use.
    account = db.session.scalars(select(Account)).first()
    assert {"industry", "region", "health_score"} <= set(account.attributes)
    contact = db.session.scalars(select(Contact)).first()
    assert isinstance(contact.attributes["beta"], bool) and isinstance(contact.attributes["seats_used"], int)


def test_same_seed_same_data_and_ids_keep_working(app, make):
    generate(db.session, accounts=10, contacts=50, events=400, seed=3, now=NOW)
    first = _fingerprint()
    for model in (Event, Contact, Account):
        db.session.execute(model.__table__.delete())
    db.session.commit()
    generate(db.session, accounts=10, contacts=50, events=400, seed=3, now=NOW)
    assert _fingerprint() == first

    # New rows after a bulk load get fresh ids (PostgreSQL sequences were moved past them).
    extra = make.account()
    assert extra.id == db.session.scalar(select(func.max(Account.id)))
    assert make.contact(account=extra).id > 50


def _index_names(table):
    from sqlalchemy import inspect

    return {ix["name"] for ix in inspect(db.engine).get_indexes(table)}


def test_big_loads_into_empty_tables_rebuild_the_indexes(app, monkeypatch):
    import engine.db.bulk_load as bulk_load

    before = {t: _index_names(t) for t in ("contacts", "events")}
    assert "ix_events_contact_name_occurred" in before["events"]
    monkeypatch.setattr(bulk_load, "REINDEX_ROWS", 1)  # take the bulk path with little data
    generate(db.session, accounts=5, contacts=30, events=300, seed=2, now=NOW)
    assert {t: _index_names(t) for t in ("contacts", "events")} == before
    assert _count(Event) == 300
    # Not empty any more: a second load keeps the indexes in place (nothing to drop).
    generate(db.session, accounts=2, contacts=10, events=50, seed=3, now=NOW)
    assert _count(Event) == 350 and _index_names("events") == before["events"]


def test_generate_handles_zero_and_tiny_sizes(app):
    assert generate(db.session, accounts=0, contacts=10, events=10, seed=1, now=NOW)["contacts"] == 0
    result = generate(db.session, accounts=3, contacts=2, events=0, seed=1, now=NOW)
    assert (result["accounts"], result["contacts"], result["events"]) == (3, 2, 0)


def test_seed_demo_command_and_if_empty(app):
    runner = app.test_cli_runner()
    # --no-story: exact counts of the customer base alone (the story adds email history).
    args = ["nudge", "seed-demo", "--accounts", "20", "--contacts", "100", "--events", "1000", "--no-story"]
    out = runner.invoke(args=args + ["--seed", "5", "--now", "2026-03-02T12:00:00Z"])
    assert out.exit_code == 0, out.output
    assert (_count(Account), _count(Contact), _count(Event)) == (20, 100, 1000)
    assert f"Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}" in out.output
    admin = Staff.query.filter_by(email=DEMO_EMAIL).one()
    assert admin.role == "admin" and admin.check_password(DEMO_PASSWORD)

    again = runner.invoke(args=args + ["--if-empty"])
    assert again.exit_code == 0, again.output
    assert "skipped" in again.output
    assert (_count(Account), _count(Contact), _count(Event)) == (20, 100, 1000)


def test_demo_login_creates_the_admin_once_and_never_resets_a_changed_password(app):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["nudge", "demo-login"])
    assert out.output.strip() == f"Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}"
    admin = Staff.query.filter_by(email=DEMO_EMAIL).one()
    admin.set_password("someone-changed-it")
    db.session.commit()
    out = runner.invoke(args=["nudge", "demo-login"])
    assert DEMO_PASSWORD not in out.output and "changed" in out.output
    assert Staff.query.filter_by(email=DEMO_EMAIL).count() == 1


def test_seed_demo_rejects_a_bad_now(app):
    out = app.test_cli_runner().invoke(args=["nudge", "seed-demo", "--now", "yesterday"])
    assert out.exit_code != 0 and "ISO 8601" in out.output
    assert _count(Account) == 0
