"""Webhook intake: 10,000 SES bounce notifications over SNS as 1,000 signed
requests of 10 (an SNS relay's batch) through the Flask test client, each
message's RSA signature verified (the certificate fetched once, then cached)
and each bounce recorded with its suppression (record_bounce).

    python -m bench.webhooks [--events 10000] [--batch 10]

Signing happens before the clock starts (it is the provider's cost). Counts
that nothing was lost: one bounce record, one "bounced" delivery event and one
bounced contact per notification. Runs on a temporary SQLite file, and on
PostgreSQL too when DATABASE_URL is set (a temporary database, dropped after).
Target: 10,000 events in < 30 s on SQLite.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from datetime import time as clock_time
from pathlib import Path

from bench.common import make_app, run_on_each_database

_TMP = Path(tempfile.mkdtemp(prefix="nudge-bench-webhooks-"))
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")
_PG_URL = os.environ.pop("DATABASE_URL", "")
TARGET_SECONDS = 30.0


def _seed(n: int) -> list[int]:
    """n contacts, each with one sent outbox message; their message ids."""
    from sqlalchemy import insert, select

    from extensions import db
    from models import Account, Contact, OutboxMessage, Trigger
    from models.base import utcnow

    now = utcnow()
    account = Account(external_id="acc-bench", name="Bench", arr=1000, plan="pro", status="active", attributes={})
    trigger = Trigger(name="Bench", from_email="hello@example.com", subject="Hi", html="<p>Hi</p>",
                      kind="schedule", rule={"user_types": ["product_user"], "all": []},
                      generate_at=clock_time(8), send_at=clock_time(9), timezone="UTC", status="active")
    db.session.add_all([account, trigger])
    db.session.flush()
    db.session.execute(insert(Contact), [
        {"account_id": account.id, "external_id": f"c-{i}", "email": f"user{i}@example.com",
         "first_name": "F", "last_name": "L", "role": "user", "is_product_user": True,
         "is_crm_contact": False, "attributes": {}, "created_at": now} for i in range(n)])
    contact_ids = db.session.scalars(select(Contact.id).order_by(Contact.id)).all()
    db.session.execute(insert(OutboxMessage), [
        {"trigger_id": trigger.id, "contact_id": cid, "account_id": account.id, "occurrence_key": "bench",
         "to_email": f"user{i}@example.com", "subject": "Hi", "state": "sent", "sent_at": now,
         "created_at": now, "updated_at": now} for i, cid in enumerate(contact_ids)])
    db.session.commit()
    return db.session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).all()


def run(label, url, args):
    from devtools.webhook_signing import TOPIC_ARN, SnsSigner, ses_bounce
    from engine.bounces.webhooks import ses as ses_engine
    from engine.sending.mime import message_id_for
    from extensions import db
    from models import Contact, DeliveryEvent
    from models.bounce import BounceRecord

    app = make_app(url)
    signer = SnsSigner()
    app.config["SES_SNS_TOPIC_ARNS"] = TOPIC_ARN
    app.extensions["webhook_fetch"] = signer.fetch
    ses_engine.clear_certificate_cache()
    with app.app_context():
        t0 = time.perf_counter()
        ids = _seed(args.events)
        seeded = time.perf_counter() - t0
        t0 = time.perf_counter()
        notes = [signer.notification(ses_bounce(message_id_for(mid, app.config), f"user{i}@example.com"),
                                     f"sns-{mid}") for i, mid in enumerate(ids)]
        bodies = [json.dumps(notes[i:i + args.batch]).encode() for i in range(0, len(notes), args.batch)]
        signed = time.perf_counter() - t0
    client = app.test_client()
    tenth = max(1, len(bodies) // 10)
    laps = []
    t0 = lap = time.perf_counter()
    for n, body in enumerate(bodies, 1):
        res = client.post("/webhooks/ses", data=body, content_type="text/plain")
        if res.status_code != 200 or res.json["recorded"] != len(json.loads(body)):
            sys.exit(f"{label}: HTTP {res.status_code} {res.get_data(as_text=True)[:300]}")
        if n % tenth == 0:
            laps.append(time.perf_counter() - lap)
            lap = time.perf_counter()
    elapsed = time.perf_counter() - t0
    with app.app_context():
        records = db.session.query(BounceRecord).count()
        events = db.session.query(DeliveryEvent).filter_by(kind="bounced").count()
        bounced = db.session.query(Contact).filter(Contact.email_bounced_at.is_not(None)).count()
        db.session.remove()
        db.engine.dispose()
    rate = args.events / elapsed
    ok = records == events == bounced == args.events
    verdict = "" if label != "SQLite" else (
        f"  target < {TARGET_SECONDS:.0f} s: {'met' if elapsed < TARGET_SECONDS else 'MISSED'}")
    print(f"{label}: {args.events:,} SES bounces in {len(bodies):,} requests of {args.batch}: "
          f"{elapsed:.2f} s ({rate:,.0f} events/s, {elapsed / len(bodies) * 1000:.1f} ms/request){verdict}")
    print(f"  stored: {records:,} bounce records, {events:,} bounced events, {bounced:,} contacts marked "
          f"bounced -- {'nothing lost' if ok else 'MISMATCH'}; certificate fetched {len(signer.fetched)}x; "
          f"(setup: seed {seeded:.1f} s, signing {signed:.1f} s, not timed)")
    print("  seconds per tenth of the requests: " + " ".join(f"{t:.1f}" for t in laps))
    if not ok:
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    run_on_each_database(run, args, f"sqlite:///{_TMP / 'webhooks.db'}", _PG_URL, "webhooks")


if __name__ == "__main__":
    main()
