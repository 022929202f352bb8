"""Demo data: a believable SaaS customer base, generated deterministically and fast.

`generate(bind, accounts=, contacts=, events=, seed=, now=)` writes accounts, contacts and
their product events. Rows are plain tuples built with `random.Random(seed)` (no ORM
objects) and written in bulk by engine/db/bulk_load.py (psycopg COPY on PostgreSQL, chunked
executemany on SQLite). The bench scripts reuse it to build large data sets.
"""
import json
import random
import time
from bisect import bisect_right
from datetime import datetime, timedelta
from itertools import accumulate

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from engine.contacts.changes import record_created_from
from engine.contacts.event_days import add_from_events
from engine.db.bulk_load import load
from devtools.demo_words import (
    ACTIVITY_LEVELS, COMPANY_FIRST, EVENTS_PER_ACTIVE_DAY, COMPANY_SECOND, COMPANY_SUFFIX, CSM_OWNERS, DOMAIN_TLDS,
    EVENT_PROPERTIES, EVENT_WEIGHTS, FIRST_NAMES, INDUSTRIES, LAST_NAMES, OWNER_TITLES, PLANS,
    REGIONS, ROLES, UTC_OFFSETS,
)
from models.base import utcnow

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "nudge-demo"
CHURN_SHARE = 0.08          # accounts that have churned
DECLINING_SHARE = 0.10      # active accounts whose usage is falling off
INACTIVE_SHARE = 0.22       # product users of active accounts not seen for > 30 days
UNSUBSCRIBED_SHARE = 0.03
PAYMENT_FAILED_SHARE = 0.04  # paying accounts with a recent failed payment
PAID_SHARE = 1 - PLANS["free"][0]
EVENT_DAYS = 90
DAY = 86_400.0

ACCOUNT_COLUMNS = ("id", "external_id", "name", "arr", "plan", "status", "attributes", "created_at")
CONTACT_COLUMNS = (
    "id", "external_id", "account_id", "email", "first_name", "last_name", "role",
    "is_crm_contact", "is_product_user", "timezone", "created_at", "last_seen_at",
    "unsubscribed_at", "attributes",
)
EVENT_COLUMNS = ("contact_id", "name", "occurred_at", "properties", "received_at")
_EPOCH = datetime(1970, 1, 1)


def generate(bind=None, *, accounts=500, contacts=5000, events=100_000, seed=42, now=None, log=None):
    """Create `accounts` accounts, `contacts` contacts and `events` events and commit.

    bind: an Engine, a Connection or a Session (default: the Flask-SQLAlchemy session).
    now: naive UTC "current time" the data is relative to (default: the real now).
    log: optional callable(str) for progress lines.
    Returns {"accounts", "contacts", "events", "seconds"} with the rows actually written
    (events can fall short only when no contact was active in the last 90 days).
    """
    if bind is None:
        from extensions import db

        bind = db.session
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            result = _generate(conn, accounts, contacts, events, seed, now, log)
            conn.commit()
        return result
    conn = bind if isinstance(bind, Connection) else bind.connection()
    result = _generate(conn, accounts, contacts, events, seed, now, log)
    bind.commit()
    return result


def _generate(conn, n_accounts, n_contacts, n_events, seed, now, log):
    started = time.perf_counter()
    rng = random.Random(seed)
    now = (now or utcnow()).replace(microsecond=0, tzinfo=None)
    now_ts = (now - _EPOCH).total_seconds()
    n_contacts = n_contacts if n_accounts else 0
    first_account = _max_id(conn, "accounts") + 1
    first_contact = _max_id(conn, "contacts") + 1

    accts = _make_accounts(rng, n_accounts, first_account, now_ts)
    load(conn, "accounts", ACCOUNT_COLUMNS, (_account_row(a, now_ts) for a in accts), len(accts), log)
    people = _make_contacts(rng, accts, n_contacts, first_contact)
    load(conn, "contacts", CONTACT_COLUMNS, (_contact_row(c, now_ts) for c in people), len(people), log)
    # The change feed: every generated contact was created, now (one INSERT ... SELECT).
    record_created_from(conn, first_contact, source="demo", actor=None, at=now)
    written = load(conn, "events", EVENT_COLUMNS, _event_rows(rng, accts, people, n_events, now_ts),
                   n_events, log)
    add_from_events(conn, min_contact_id=first_contact)  # every event written is of a new contact
    if conn.dialect.name == "postgresql":
        for table in ("accounts", "contacts"):
            # Explicit ids were written: move the sequence past them.
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT MAX(id) FROM {table}))"))
        conn.execute(text("ANALYZE accounts, contacts, events, event_days"))  # plan with the new sizes
    return {"accounts": len(accts), "contacts": len(people), "events": written,
            "seconds": round(time.perf_counter() - started, 2)}


def _max_id(conn, table):
    return conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar() or 0


def _stamp(ts):
    """Seconds since the epoch -> the naive-UTC text both databases store and compare."""
    return (_EPOCH + timedelta(seconds=int(ts))).isoformat(" ", "microseconds")


def _allocate(rng, total, weights):
    """Split `total` into integer parts proportional to `weights`, summing exactly to total."""
    if not weights or total <= 0:
        return [0] * len(weights)
    whole = float(sum(weights)) or 1.0
    counts = [int(total * w / whole) for w in weights]
    rest = total - sum(counts)
    if rest:
        for i in rng.choices(range(len(weights)), weights=weights, k=rest):
            counts[i] += 1
    return counts


def _pick(table):
    keys = list(table)
    return keys, list(accumulate(table[k][0] for k in keys))


def _company(rng, used_names, used_domains):
    for attempt in range(50):
        stem = rng.choice(COMPANY_FIRST) + rng.choice(COMPANY_SECOND)
        name = stem + rng.choice(COMPANY_SUFFIX)
        if attempt > 20:  # the word lists are running out: number the stem
            stem, name = f"{stem}{attempt}", f"{stem}{attempt}{rng.choice(COMPANY_SUFFIX)}"
        if name not in used_names:
            break
    used_names.add(name)
    domain, n = f"{stem.lower()}.{rng.choice(DOMAIN_TLDS)}", 1
    while domain in used_domains:
        n += 1
        domain = f"{stem.lower()}{n}.{rng.choice(DOMAIN_TLDS)}"
    used_domains.add(domain)
    return name, domain


def _make_accounts(rng, n, first_id, now_ts):
    plans, plan_cw = _pick(PLANS)
    regions, region_cw = _pick(REGIONS)
    names, domains, out = set(), set(), []
    for i in range(n):
        name, domain = _company(rng, names, domains)
        plan = rng.choices(plans, cum_weights=plan_cw)[0]
        region = rng.choices(regions, cum_weights=region_cw)[0]
        _share, lo, hi, size = PLANS[plan]
        arr = round(lo * (hi / lo) ** rng.random(), -2) if hi else 0  # log-uniform in the band
        churned = hi > 0 and rng.random() < CHURN_SHARE / PAID_SHARE  # free plans do not churn
        created_ago = rng.uniform(90, 730) if churned else rng.uniform(3, 730)
        churned_ago = rng.uniform(10, min(created_ago - 45, 300)) if churned else 0.0
        declining = not churned and created_ago > 45 and rng.random() < DECLINING_SHARE
        health = rng.randint(5, 30) if churned else rng.randint(20, 50) if declining else rng.randint(55, 98)
        attrs = {"industry": rng.choice(INDUSTRIES), "region": region, "health_score": health,
                 "employees": int(size * rng.uniform(8, 60)), "csm": rng.choice(CSM_OWNERS)}
        if churned:
            attrs["churn_reason"] = rng.choice(("budget", "switched vendor", "low adoption",
                                                "company closed", "missing features"))
            attrs["churned_on"] = _stamp(now_ts - churned_ago * DAY)[:10]
        out.append({"id": first_id + i, "name": name, "domain": domain, "plan": plan, "arr": arr,
                    "region": region, "churned": churned, "created_ago": created_ago,
                    "churned_ago": churned_ago, "declining": declining, "attributes": attrs,
                    "weight": size * rng.uniform(0.5, 1.5)})
    return out


def _account_row(a, now_ts):
    return (a["id"], f"acct_{a['id']:05d}", a["name"], a["arr"], a["plan"],
            "churned" if a["churned"] else "active", json.dumps(a["attributes"]),
            _stamp(now_ts - a["created_ago"] * DAY))


def _make_contacts(rng, accts, total, first_id):
    base = [1] * len(accts) if total >= len(accts) else [0] * len(accts)
    extra = _allocate(rng, total - sum(base), [a["weight"] for a in accts])
    roles, role_cw = _pick(ROLES)
    levels = [w for _s, w in ACTIVITY_LEVELS]
    level_cw = list(accumulate(s for s, _w in ACTIVITY_LEVELS))
    seats_max = {"free": 3, "starter": 10, "pro": 40, "enterprise": 300}
    out, next_id = [], first_id
    for acct, count in zip(accts, (b + e for b, e in zip(base, extra))):
        emails = set()
        _s, tzs, langs = REGIONS[acct["region"]]
        alive_ago = acct["churned_ago"]  # nobody joins or is seen after the churn
        for k in range(count):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if k == 0:
                role, crm, product, title = "owner", True, rng.random() < 0.7, rng.choice(OWNER_TITLES)
                created_ago = max(acct["created_ago"] - rng.uniform(0, 0.5), alive_ago)
            else:
                role = rng.choices(roles, cum_weights=role_cw)[0]
                _sh, crm_p, prod_p, titles = ROLES[role]
                crm, product, title = rng.random() < crm_p, rng.random() < prod_p, rng.choice(titles)
                span = acct["created_ago"] - alive_ago
                created_ago = alive_ago + span * rng.random() ** 0.6
            product = product or not crm  # everyone is at least one kind of contact
            tz = rng.choice(tzs)
            seen_ago = _last_seen_ago(rng, acct, created_ago) if product else None
            unsub_ago = rng.uniform(0, created_ago) if rng.random() < UNSUBSCRIBED_SHARE else None
            attrs = {"beta": rng.random() < (0.2 if acct["plan"] in ("pro", "enterprise") else 0.06),
                     "seats_used": rng.randint(1, seats_max[acct["plan"]]), "title": title,
                     "language": rng.choice(langs)}
            out.append({"id": next_id, "account": acct, "email": _email(rng, first, last, acct, emails),
                        "first": first, "last": last, "role": role, "crm": crm, "product": product,
                        "tz": tz, "utc_offset": UTC_OFFSETS[tz], "created_ago": created_ago,
                        "seen_ago": seen_ago, "unsub_ago": unsub_ago, "attributes": attrs,
                        "level": levels[min(len(levels) - 1, bisect_right(level_cw, rng.random()))]})
            next_id += 1
    return out


def _last_seen_ago(rng, acct, created_ago):
    """Days since the contact was last seen: recent for most, > 30 days for the inactive."""
    if acct["churned"]:
        return min(created_ago, acct["churned_ago"] + rng.uniform(0, 30))
    inactive = INACTIVE_SHARE * (2 if acct["declining"] else 1)
    if created_ago > 31 and rng.random() < inactive:
        return rng.uniform(31, min(created_ago, 400))
    recent = rng.expovariate(1 / (6 if acct["declining"] else 2.5))
    return min(recent, 29.9, created_ago)


def _email(rng, first, last, acct, taken):
    f, l_ = first.lower(), "".join(ch for ch in last.lower() if ch.isalpha())
    pattern = rng.random()
    local = (f"{f}.{l_}" if pattern < 0.6 else f"{f[0]}{l_}" if pattern < 0.8
             else f"{f}_{l_}" if pattern < 0.9 else f)
    candidate, n = local, 1
    while candidate in taken:
        n += 1
        candidate = f"{local}{n}"
    taken.add(candidate)
    return f"{candidate}@{acct['domain']}"


def _contact_row(c, now_ts):
    at = lambda ago: None if ago is None else _stamp(now_ts - ago * DAY)  # noqa: E731
    return (c["id"], f"user_{c['id']:06d}", c["account"]["id"], c["email"], c["first"], c["last"],
            c["role"], c["crm"], c["product"], c["tz"], at(c["created_ago"]), at(c["seen_ago"]),
            at(c["unsub_ago"]), json.dumps(c["attributes"]))


def _event_rows(rng, accts, people, total, now_ts):
    """Yield event rows contact by contact (ascending ids keep the index inserts cheap)."""
    billing = {}  # contact index -> failed payments, for a few paying accounts' owners
    owner_index, i = {}, 0
    for idx, c in enumerate(people):
        owner_index.setdefault(c["account"]["id"], idx)
    for a in accts:
        if a["plan"] != "free" and not a["churned"] and a["id"] in owner_index and i < total:
            if rng.random() < PAYMENT_FAILED_SHARE:
                n = min(rng.randint(1, 2), total - i)
                billing[owner_index[a["id"]]] = n
                i += n
    windows = []  # (index, newest_ago, oldest_ago) for contacts active in the last 90 days
    for idx, c in enumerate(people):
        if c["seen_ago"] is not None and c["seen_ago"] < EVENT_DAYS:
            windows.append((idx, c["seen_ago"], min(c["created_ago"], EVENT_DAYS)))
    weights = [people[idx]["level"] * max(old - new, 0.5) for idx, new, old in windows]
    counts = dict(zip((w[0] for w in windows), _allocate(rng, total - i, weights)))
    names = [n for n, _w in EVENT_WEIGHTS]
    name_cw = list(accumulate(w for _n, w in EVENT_WEIGHTS))
    props = EVENT_PROPERTIES
    spans = {idx: (new, old) for idx, new, old in windows}
    for idx, c in enumerate(people):
        n, cid = counts.get(idx, 0), c["id"]
        if n:
            newest, oldest = spans[idx]
            hi, lo = now_ts - newest * DAY, now_ts - oldest * DAY
            span, declining, shift = hi - lo, c["account"]["declining"], c["utc_offset"] * 3600.0
            # The most recent event is the login that set last_seen_at.
            stamp = _stamp(hi)
            yield (cid, "login", stamp, props["login"][0], stamp)
            # The days the contact used the product (sessions of a few events each),
            # drawn like single events used to be: declining accounts denser further
            # back, quiet weekends.
            active_days = []
            for _d in range(max(1, min(round((n - 1) / EVENTS_PER_ACTIVE_DAY), int(span // DAY) + 1))):
                u = rng.random()
                ts = hi - span * (u ** 0.5 if declining else u)
                if (int((ts + shift) // DAY) + 3) % 7 >= 5 and rng.random() < 0.6:
                    u = rng.random()
                    ts = hi - span * (u ** 0.5 if declining else u)
                active_days.append(ts)
            for name in rng.choices(names, cum_weights=name_cw, k=n - 1):
                ts = rng.choice(active_days)
                if rng.random() < 0.8:  # most work happens in local office hours
                    office = (ts + shift) // DAY * DAY - shift + rng.uniform(28_800, 66_600)
                    ts = office if lo <= office <= hi else ts
                else:
                    ts = min(hi, max(lo, ts + rng.uniform(-7200, 7200)))
                stamp = _stamp(ts)
                yield (cid, name, stamp, rng.choice(props[name]), stamp)
        for _ in range(billing.get(idx, 0)):
            stamp = _stamp(now_ts - rng.uniform(0.2, 25) * DAY)
            yield (cid, "payment_failed", stamp, rng.choice(props["payment_failed"]), stamp)


def ensure_demo_admin(password=DEMO_PASSWORD):
    """The demo admin login: (staff, created, password_works). Never resets a changed password."""
    from extensions import db
    from models import Staff

    staff = Staff.query.filter_by(email=DEMO_EMAIL).first()
    if staff is None:
        staff = Staff(email=DEMO_EMAIL, name="Demo Admin", role="admin")
        staff.set_password(password)
        db.session.add(staff)
        db.session.commit()
        return staff, True, True
    return staff, False, staff.check_password(password)
