"""A field_updated trigger over the change feed vs a bare INSERT ... SELECT.

    python -m bench.feed_trigger [--contacts 50000] [--changes 100000] [--rounds 3]

Data: --contacts contacts in 1,000 accounts, --changes feed rows of
contact.attributes.plan changing trial -> pro (spread over the contacts, so some
contacts change twice in one run: the second is held back by the trigger's
once-per-24-hours control), plus as many rows of other kinds and fields that
the trigger must skip. All recorded 15 minutes before the run (settled).

Timed (best of --rounds, each on the same data):
  baseline  a bare INSERT ... SELECT of the same feed rows into the outbox (the
            kind / field / value filter joined to contacts, the columns the
            trigger writes), no controls: the least any generator has to do
  trigger   engine.triggers.generate.run_changes + commit: the feed scope, the
            "already fired" check, the frequency controls (once per 24 hours),
            one INSERT ... SELECT (rendering is a later step, as in bench.tick)
Runs on a temporary SQLite database, and also on PostgreSQL when DATABASE_URL is
set (a temporary database on that server, dropped afterwards).
Target: trigger <= 2x the baseline's time.
"""
import argparse
import os
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import best_of, make_app, run_on_each_database

_TMP = Path(tempfile.mkdtemp(prefix="nudge-bench-feed-"))
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")
_PG_URL = os.environ.pop("DATABASE_URL", "")

NOW = datetime(2026, 3, 2, 9, 0)
FIELD = "contact.attributes.plan"
TARGET_RATIO = 2.0


def seed(contacts: int, changes: int) -> int:
    """Accounts, contacts and the feed, in bulk; returns the feed's row count."""
    from sqlalchemy import insert

    from engine.contacts.changes import encode_value
    from extensions import db
    from models import Account, Contact, ContactChange

    at = NOW - timedelta(minutes=15)
    db.session.execute(insert(Account), [
        {"id": i, "external_id": f"acc-{i}", "name": f"Account {i}", "arr": 1000, "plan": "pro",
         "status": "active", "attributes": {}, "created_at": at} for i in range(1, 1001)])
    db.session.execute(insert(Contact), [
        {"id": i, "account_id": 1 + i % 1000, "external_id": f"con-{i}", "email": f"user{i}@example.com",
         "first_name": f"First{i}", "role": "user", "is_product_user": True, "is_crm_contact": False,
         "attributes": {"plan": "pro"}, "created_at": at} for i in range(1, contacts + 1)])
    trial, pro = encode_value("trial"), encode_value("pro")
    rows = []
    for i in range(changes):
        contact_id = 1 + (i * 7919) % contacts  # spread, some contacts twice
        rows.append({"contact_id": contact_id, "kind": "field", "field": FIELD, "old_value": trial,
                     "new_value": pro, "source": "api", "at": at})
        noise = {"contact_id": contact_id, "source": "api", "at": at}
        if i % 3 == 0:
            rows.append(dict(noise, kind="field", field="contact.role", old_value='"user"',
                             new_value='"admin"'))
        elif i % 3 == 1:
            rows.append(dict(noise, kind="field", field=FIELD, old_value=pro, new_value=trial))
        else:
            rows.append(dict(noise, kind="created"))
    for start in range(0, len(rows), 20_000):
        db.session.execute(insert(ContactChange), rows[start:start + 20_000])
    db.session.commit()
    return len(rows)


def add_trigger():
    from engine.contacts.changes import encode_value
    from extensions import db
    from models import Trigger

    trigger = Trigger(name="Welcome to pro", from_email="success@example.com", subject="Welcome",
                      html="<p>Welcome to pro</p>", kind="field_updated", field=FIELD,
                      from_value=encode_value("trial"), to_value=encode_value("pro"),
                      once_per_24h=True, status="active", started_at=NOW - timedelta(days=1),
                      timezone="UTC", rule=None)
    spare = Trigger(name="Baseline rows", kind="schedule", status="inactive", timezone="UTC")
    db.session.add_all([trigger, spare])
    db.session.commit()
    return trigger.id, spare.id


def baseline(trigger_id):
    """The same feed rows inserted into the outbox with no controls."""
    from sqlalchemy import String, cast, func, insert, literal, select

    from engine.contacts.changes import encode_value
    from extensions import db
    from models import Contact, ContactChange as CC, OutboxMessage

    src = (select(literal(trigger_id), CC.contact_id, Contact.account_id, cast(CC.id, String(64)),
                  Contact.email, literal("pending_approval"), literal(NOW), literal(NOW), literal(0))
           .join(Contact, Contact.id == CC.contact_id)
           .where(CC.kind == "field", CC.field == FIELD, CC.old_value == encode_value("trial"),
                  CC.new_value == encode_value("pro"), CC.at >= NOW - timedelta(days=1)))
    cols = ["trigger_id", "contact_id", "account_id", "occurrence_key", "to_email", "state",
            "created_at", "updated_at", "attempts"]
    db.session.execute(insert(OutboxMessage).from_select(cols, src))
    db.session.commit()
    return db.session.scalar(select(func.count()).where(OutboxMessage.trigger_id == trigger_id))


def run_trigger(trigger_id):
    from engine.triggers.generate import run_changes
    from extensions import db
    from models import Trigger

    counts = run_changes(db.session.get(Trigger, trigger_id), NOW)
    db.session.commit()
    return counts


def forget(trigger_id):
    from sqlalchemy import text

    from extensions import db

    db.session.execute(text("DELETE FROM outbox_messages WHERE trigger_id = :t"), {"t": trigger_id})
    db.session.execute(text("UPDATE triggers SET last_change_id = 0 WHERE id = :t"), {"t": trigger_id})
    db.session.commit()


def run(label, url, args):
    from sqlalchemy import text

    from extensions import db

    app = make_app(url)
    with app.app_context():
        started = time.perf_counter()
        feed_rows = seed(args.contacts, args.changes)
        trigger_id, spare_id = add_trigger()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"\n{label}: {args.contacts:,} contacts, {feed_rows:,} feed rows "
              f"({args.changes:,} of them trial -> pro; seeded in {time.perf_counter() - started:.1f} s)")
        base_s, base_rows = best_of(args.rounds, lambda: baseline(spare_id), lambda: forget(spare_id))
        trig_s, counts = best_of(args.rounds, lambda: run_trigger(trigger_id), lambda: forget(trigger_id))
        ratio = trig_s / base_s
        print(f"  baseline INSERT...SELECT {base_rows:8,} rows {base_s:7.2f} s")
        print(f"  field_updated trigger    {counts['candidates']:8,} rows {trig_s:7.2f} s "
              f"({counts['created']:,} to approve, {counts['suppressed']:,} held back once per 24 h)")
        print(f"  ratio {ratio:.2f}x the bare time -> target <= {TARGET_RATIO}x "
              f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}")
        db.session.remove()
        db.engine.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run_on_each_database(run, args, f"sqlite:///{_TMP / 'bench.db'}", _PG_URL, "feed")


if __name__ == "__main__":
    main()
