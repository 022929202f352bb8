"""The daily event rollup (event_days) always equals the per (contact, name, UTC day)
counts of the stored events: through the ingest API path (re-sent external ids add
nothing), ORM writes, the demo generator, contact deletes and the rebuild command.
Events land on and around midnights in the contacts' own time zones, where a local
day and the UTC day the rollup keys on differ."""
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from engine.contacts import event_days
from engine.contacts.ingest import IngestError, ingest
from extensions import db
from models import Account, Contact, Event, EventDay

NOW = datetime(2026, 3, 29, 12, 0)  # Europe's switch to summer time is this night
US = timedelta(microseconds=1)
ZONES = ["Pacific/Auckland", "America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", "UTC"]
NAMES = ["login", "report_created"]


def rollup() -> Counter:
    return Counter({(r.contact_id, r.name, r.day): r.count
                    for r in db.session.execute(select(*EventDay.__table__.c)).all()})


def from_events() -> Counter:
    return Counter((e.contact_id, e.name, e.occurred_at.date())
                   for e in db.session.execute(select(*Event.__table__.c)).all())


def local_midnight_utc(zone: str, days_back: int) -> datetime:
    """The UTC instant of a midnight in `zone`, days_back days before NOW's local day."""
    tz = ZoneInfo(zone)
    local_day = NOW.replace(tzinfo=timezone.utc).astimezone(tz).date() - timedelta(days=days_back)
    midnight = datetime.combine(local_day, datetime.min.time(), tzinfo=tz)
    return midnight.astimezone(timezone.utc).replace(tzinfo=None)


def make_contacts(n=5):
    account = Account(external_id="acc", name="Acme")
    db.session.add(account)
    db.session.flush()
    contacts = [Contact(external_id=f"c{i}", account_id=account.id, email=f"c{i}@example.com",
                        timezone=ZONES[i % len(ZONES)]) for i in range(n)]
    db.session.add_all(contacts)
    db.session.commit()
    return [(c.external_id, c.timezone) for c in contacts]


# One event item: which contact, name, a local midnight (days back, shift), external id.
event_items = st.tuples(st.integers(0, 4), st.sampled_from(NAMES), st.integers(0, 9),
                        st.sampled_from([timedelta(0), -US, US, timedelta(hours=-1),
                                         timedelta(hours=13)]),
                        st.none() | st.integers(0, 12))
steps = st.one_of(
    st.tuples(st.just("ingest"), st.lists(event_items, min_size=1, max_size=12)),
    st.tuples(st.just("ingest_bad"), st.lists(event_items, min_size=1, max_size=4)),
    st.tuples(st.just("delete_contact"), st.integers(0, 4)),
    st.tuples(st.just("orm_event"), event_items),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=st.lists(steps, min_size=1, max_size=8))
def test_rollup_equals_counts_from_events_after_random_writes(app, script):
    for model in (EventDay, Event, Contact, Account):
        db.session.execute(delete(model))
    db.session.commit()
    people = make_contacts()

    def item(i, name, back, shift, ext):
        ext_id, zone = people[i]
        at = local_midnight_utc(zone, back) + shift
        out = {"contact_external_id": ext_id, "name": name, "occurred_at": at.isoformat() + "Z"}
        if ext is not None:
            out["external_id"] = f"e{ext}"  # repeats across and within batches
        return out

    deleted = set()
    for kind, arg in script:
        if kind in ("ingest", "ingest_bad"):
            arg = [x for x in arg if x[0] not in deleted]  # an unknown contact fails the batch
            if not arg:
                continue
        if kind == "ingest":
            ingest("events", [item(*x) for x in arg], NOW)
            db.session.commit()
        elif kind == "ingest_bad":  # an invalid item: nothing of the batch is stored
            try:
                ingest("events", [item(*x) for x in arg] + [{"name": "x"}], NOW)
            except IngestError:
                db.session.rollback()
        elif kind == "delete_contact":
            deleted.add(arg)
            db.session.execute(delete(Contact).where(Contact.external_id == people[arg][0]))
            db.session.commit()
        else:  # an ORM write (the demo story, factories)
            i, name, back, shift, _ext = arg
            cid = db.session.scalar(select(Contact.id).where(Contact.external_id == people[i][0]))
            if cid is not None:
                db.session.add(Event(contact_id=cid, name=name, properties={},
                                     occurred_at=local_midnight_utc(people[i][1], back) + shift))
                db.session.commit()
        assert rollup() == from_events(), (kind, arg)

    event_days.rebuild(db.session.connection())
    db.session.commit()
    assert rollup() == from_events()


def test_resent_external_ids_add_nothing(app, make):
    contact = make.contact(external_id="ann")
    batch = [{"contact_external_id": "ann", "name": "login", "occurred_at": "2026-03-28T23:59:59.999999Z",
              "external_id": "x1"},
             {"contact_external_id": "ann", "name": "login", "occurred_at": "2026-03-29T00:00:00Z",
              "external_id": "x1"},  # the same id again in the batch: skipped
             {"contact_external_id": "ann", "name": "login", "occurred_at": "2026-03-29T00:00:00Z"}]
    assert ingest("events", batch, NOW)["created"] == 2
    assert ingest("events", batch[:2], NOW)["created"] == 0
    db.session.commit()
    days = {(r.day.isoformat(), r.count) for r in db.session.execute(select(*EventDay.__table__.c)).all()}
    assert days == {("2026-03-28", 1), ("2026-03-29", 1)}
    assert rollup() == from_events() and contact.id


def test_orm_deletes_and_moves_keep_the_rollup(app, make):
    contact = make.contact()
    first = make.event(contact, "login", occurred_at=datetime(2026, 3, 1, 23, 59, 59, 999999))
    make.event(contact, "login", occurred_at=datetime(2026, 3, 2, 0, 0))
    first.occurred_at = datetime(2026, 3, 2, 8, 0)
    db.session.commit()
    assert rollup() == from_events() == Counter({(contact.id, "login", datetime(2026, 3, 2).date()): 2})
    db.session.delete(first)
    db.session.commit()
    assert rollup() == from_events()


def test_demo_generator_and_rebuild_command(app):
    from devtools.demo import generate

    generate(db.session, accounts=5, contacts=40, events=2000, seed=3, now=NOW)
    generate(db.session, accounts=2, contacts=10, events=300, seed=4, now=NOW)  # appends
    assert rollup() == from_events() and sum(rollup().values()) == 2300
    db.session.execute(delete(EventDay).where(EventDay.count > 1))  # damage it
    db.session.commit()
    out = app.test_cli_runner().invoke(args=["nudge", "rebuild-rollups"])
    assert out.exit_code == 0 and "Event rollups rebuilt" in out.output
    assert rollup() == from_events()
