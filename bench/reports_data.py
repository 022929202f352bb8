"""The reports benchmark's data: a temporary SQLite database with 50 triggers and
90 days of history, loaded with executemany (see bench/reports.py)."""
import random
import time
from datetime import datetime, time as clock, timedelta, timezone

# History up to this hour; the pages' default ranges (last 30 / 90 days) then cover it.
NOW = datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
DAYS = 90
TRIGGERS = 50
LIST_TRIGGERS = 500
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
HTML = ("<p>Hi {first},</p><p>Your team at {account} created {n} reports this week. "
        "Here are three ideas for next week:</p><ul><li><a href=\"https://example.com/a\">"
        "Schedule a report</a></li><li><a href=\"https://example.com/b\">Share a dashboard</a>"
        "</li><li><a href=\"https://example.com/c\">Invite a colleague</a></li></ul>"
        "<p style=\"font-size:12px\"><a href=\"https://nudge.example.com/u/x\">Unsubscribe</a></p>")
TEXT = "Hi {first},\n\nYour team at {account} created {n} reports this week.\n"


def stamp(dt: datetime) -> str:
    """The text SQLAlchemy stores for a DateTime on SQLite (compared as text)."""
    return dt.isoformat(" ", "microseconds")


def build(app, args):
    from sqlalchemy import select, text

    from devtools.demo import generate
    from extensions import db
    from models import Contact, Staff

    started = time.perf_counter()
    with app.app_context():
        made = generate(accounts=args.accounts, contacts=args.contacts, events=args.rule_events,
                        seed=11, now=NOW)
        print(f"  demo data: {made['accounts']:,} accounts, {made['contacts']:,} contacts, "
              f"{made['events']:,} product events ({made['seconds']:.0f} s)")
        rng = random.Random(5)
        triggers = [_trigger(f"Trigger {i + 1:03d}", rng, history=i < TRIGGERS)
                    for i in range(LIST_TRIGGERS)]
        triggers[0].name = "Big announcement"
        db.session.add_all(triggers)
        staff = Staff(email="bench@example.com", role="admin")
        staff.set_password("bench-password-1")
        db.session.add(staff)
        db.session.commit()
        contacts = db.session.execute(select(Contact.id, Contact.account_id, Contact.email,
                                             Contact.first_name)).all()
        ids = [t.id for t in triggers[:TRIGGERS]]
        tz = {t.id: t.timezone for t in triggers[:TRIGGERS]}
        raw = db.session.connection().connection.driver_connection
        _load_history(raw, ids, tz, contacts, args, rng)
        db.session.commit()
        from engine.reports.rebuild import rebuild

        rebuild_started = time.perf_counter()
        rebuild(NOW)  # what `flask nudge rebuild-reports` does
        print(f"  report aggregates rebuilt from the events ({time.perf_counter() - rebuild_started:.0f} s)")
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    print(f"  built in {time.perf_counter() - started:.0f} s")


def _trigger(name, rng, history):
    from models import Trigger

    return Trigger(
        name=name, from_email="success@example.com", subject="{{ contact.first_name }}, this week",
        html="<p>Hi {{ contact.first_name }}</p>", kind="schedule",
        rule={"user_types": ["product_user"], "all": [
            {"field": "contact.role", "op": "eq", "value": rng.choice(["admin", "user", "owner"])}]},
        generate_at=clock(8, 0), send_at=clock(9, 0), timezone=rng.choice(TIMEZONES),
        priority=rng.randint(0, 10), status="active" if history else rng.choice(["draft", "inactive", "active"]),
        started_at=NOW - timedelta(days=DAYS + 5) if history else None)


def _load_history(raw, trigger_ids, tz, contacts, args, rng):
    """executemany straight into SQLite: runs, outbox rows, delivery events."""
    from engine.clock import local_date, local_instant

    cur = raw.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    indexes = cur.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
                          "AND tbl_name IN ('delivery_events', 'outbox_messages')").fetchall()
    for name, _sql in indexes:  # one index build after the load beats updating it per row
        cur.execute(f'DROP INDEX "{name}"')
    big_trigger, big_day = trigger_ids[0], local_date(NOW, tz[trigger_ids[0]]) - timedelta(days=10)
    per_event = 1 + 0.45 * 0.96 * 1.25 + 0.005  # outcome + opened (+ clicked) + unsubscribed
    # Slightly under the budget; the rest are re-opens of earlier messages (people do re-open).
    per_day = max(1, int(0.98 * (args.events - args.csv_rows) / (len(trigger_ids) * DAYS * per_event)))
    reopen_pool = []
    runs, outbox, events = [], [], []
    message_id, n_events, budget = 0, 0, args.events
    today = {t: local_date(NOW, tz[t]) for t in trigger_ids}
    plan = [(t, d) for d in range(DAYS, 0, -1) for t in trigger_ids]
    for t, days_ago in plan:
        day = today[t] - timedelta(days=days_ago)
        big = t == big_trigger and day == big_day
        generated = local_instant(day, clock(8, 0), tz[t])
        sent_at = local_instant(day, clock(9, 0), tz[t])
        recipients = rng.sample(contacts, args.csv_rows if big else min(per_day, len(contacts)))
        runs.append((t, day.isoformat(), stamp(generated), stamp(sent_at), len(recipients), len(recipients), 0))
        for c in recipients:
            if n_events >= budget:
                break
            message_id += 1
            failed = not big and rng.random() < 0.04
            at = sent_at + timedelta(seconds=rng.randint(0, 1800))
            outbox.append((message_id, t, c.id, c.account_id, day.isoformat(), c.email,
                           f"{c.first_name}, this week", HTML.format(first=c.first_name, account="Acme", n=7),
                           TEXT.format(first=c.first_name, account="Acme", n=7),
                           "failed" if failed else "sent", stamp(generated), stamp(sent_at),
                           stamp(generated + timedelta(minutes=20)), stamp(at),
                           None if failed else stamp(at), stamp(at) if failed else None,
                           "550 5.1.1 no such user" if failed else "250 OK", 1))
            events.append((message_id, t, c.id, "failed" if failed else "delivered", stamp(at),
                           "550 5.1.1 no such user" if failed else "250 OK"))
            n_events += 1
            if not big and not failed and rng.random() < 0.45 and n_events < budget:
                opened = at + timedelta(minutes=rng.randint(1, 3000))
                events.append((message_id, t, c.id, "opened", stamp(opened), None))
                n_events += 1
                if len(reopen_pool) < 200_000:
                    reopen_pool.append((message_id, t, c.id, opened))
                if rng.random() < 0.25 and n_events < budget:
                    events.append((message_id, t, c.id, "clicked", stamp(opened + timedelta(seconds=30)),
                                   "https://example.com/" + rng.choice("abc")))
                    n_events += 1
                if rng.random() < 0.005 and n_events < budget:
                    events.append((message_id, t, c.id, "unsubscribed", stamp(opened + timedelta(minutes=1)), None))
                    n_events += 1
        if len(outbox) >= 50_000:
            _flush(cur, runs, outbox, events)
    while n_events < budget:  # top up to exactly --events: re-opens of opened messages
        mid, t, contact_id, opened = rng.choice(reopen_pool)
        events.append((mid, t, contact_id, "opened", stamp(opened + timedelta(hours=rng.randint(1, 48))), None))
        n_events += 1
    _flush(cur, runs, outbox, events)
    print(f"  history: {len(trigger_ids)} triggers x {DAYS} days, {message_id:,} outbox rows, "
          f"{n_events:,} delivery events (one {args.csv_rows:,}-recipient day)")
    started = time.perf_counter()
    for _name, sql in indexes:
        cur.execute(sql)
    print(f"  indexes rebuilt ({time.perf_counter() - started:.0f} s)")


def _flush(cur, runs, outbox, events):
    cur.executemany("INSERT INTO trigger_runs (trigger_id, occurrence_key, generated_at, send_after,"
                    " candidates, created, suppressed) VALUES (?,?,?,?,?,?,?)", runs)
    cur.executemany(
        "INSERT INTO outbox_messages (id, trigger_id, contact_id, account_id, occurrence_key, to_email,"
        " subject, html, text, state, created_at, send_after, approved_at, updated_at, sent_at,"
        " failed_at, smtp_reply, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", outbox)
    cur.executemany("INSERT INTO delivery_events (message_id, trigger_id, contact_id, kind, at, detail)"
                    " VALUES (?,?,?,?,?,?)", events)
    runs.clear(), outbox.clear(), events.clear()
