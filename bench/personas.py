"""Persona refresh at scale: engine.personas.refresh_persona on 100k contacts.

    python -m bench.personas [--accounts 5000] [--contacts 100000] [--events 1000000] [--skip-sqlite]

Data from devtools.demo.generate (seed-demo's generator). For three persona rules
(everyone of two user types; role + days since seen + account ARR; an event
count in a window) it times, in the same run:
  evaluate  SELECT count(*) over the rule's compiled select (the baseline: the
            least any refresh has to do)
  first     the first refresh (everyone enters: INSERT ... SELECT of every member)
  steady    a refresh with nothing changed
  churn     a refresh after 5% of contacts changed role
  contacts  a refresh restricted to 1,000 contacts (what runs after an events batch)
Runs on a temporary SQLite database, and also on PostgreSQL when DATABASE_URL is
set (in a temporary database created on that server and dropped afterwards).
Target: every refresh < 5 s for 100k contacts.
"""
import argparse
import os
import tempfile
from datetime import datetime
from pathlib import Path

from bench.common import make_app, run_on_each_database, timed

_TMP = Path(tempfile.mkdtemp(prefix="nudge-bench-personas-"))
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")
_PG_URL = os.environ.pop("DATABASE_URL", "")

NOW = datetime(2026, 3, 2, 12, 0)
TARGET_SECONDS = 5.0
RULES = {
    "user types only": {"user_types": ["product_user", "crm_contact"], "all": []},
    "role+seen+ARR": {"user_types": ["product_user", "crm_contact"], "all": [
        {"field": "contact.role", "op": "in", "value": ["admin", "owner", "manager"]},
        {"field": "contact.last_seen_at", "op": "older_than_days", "value": 7},
        {"field": "account.arr", "op": "gt", "value": 20000}]},
    "event count": {"user_types": ["product_user"], "all": [
        {"event": "report_created", "op": "count_eq", "value": 0, "within_days": 30}]},
}


def run(label, url, args):
    from sqlalchemy import func, select, text

    from devtools.demo import generate
    from engine.personas import refresh_persona
    from engine.rules import matching_contacts_select
    from extensions import db
    from models import Persona

    app = make_app(url)
    with app.app_context():
        seconds, made = timed(lambda: generate(accounts=args.accounts, contacts=args.contacts,
                                               events=args.events, seed=11, now=NOW))
        db.session.execute(text("ANALYZE"))  # fresh statistics, as a running system has
        db.session.commit()
        print(f"\n{label}: {made['contacts']:,} contacts, {made['accounts']:,} accounts, "
              f"{made['events']:,} events (generated in {seconds:.1f} s)")
        print(f"  {'rule':16} {'members':>8} {'evaluate':>9} {'first':>7} {'steady':>7} "
              f"{'churn':>7} {'contacts':>9} {'first/eval':>10}")
        worst = 0.0
        sample = [i for (i,) in db.session.execute(
            select(text("id")).select_from(text("contacts")).order_by(text("id")).limit(1000))]
        for name, rule in RULES.items():
            persona = Persona(name=name, rule=rule)
            db.session.add(persona)
            db.session.commit()
            pid = persona.id
            evaluate, count = timed(lambda: db.session.scalar(
                select(func.count()).select_from(matching_contacts_select(rule, NOW).subquery())))
            first, _ = timed(lambda: refresh_persona(pid, NOW))
            steady, again = timed(lambda: refresh_persona(pid, NOW))
            assert again == {"entered": 0, "left": 0}, again
            # 5% of contacts change role (admin <-> user), then the diff has work to do.
            db.session.execute(text(
                "UPDATE contacts SET role = CASE WHEN role = 'admin' THEN 'user' ELSE 'admin' END "
                "WHERE id % 20 = 0"))
            db.session.commit()
            churn, _ = timed(lambda: refresh_persona(pid, NOW))
            restricted, _ = timed(lambda: refresh_persona(pid, NOW, sample))
            worst = max(worst, first, steady, churn, restricted)
            print(f"  {name:16} {count:8,} {evaluate:8.2f}s {first:6.2f}s {steady:6.2f}s "
                  f"{churn:6.2f}s {restricted:8.3f}s {first / max(evaluate, 1e-6):9.1f}x")
        verdict = "met" if worst < TARGET_SECONDS else "NOT met"
        print(f"  slowest refresh {worst:.2f} s -> target < {TARGET_SECONDS:.0f} s {verdict}")
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    run_on_each_database(run, args, f"sqlite:///{_TMP / 'personas.db'}", _PG_URL, "personas",
                         sqlite=not args.skip_sqlite)


if __name__ == "__main__":
    main()
