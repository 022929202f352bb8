"""DSN intake throughput: 1,000 DSNs through the bounce listener over real SMTP.

    python -m bench.bounces [--dsns 1000] [--connections 1]

Each DSN (the corpus' Postfix hard bounce and delayed soft bounce, alternating,
each with its own Message-ID) goes to its message's VERP address in its own SMTP
transaction; the listener parses and records each in its own database
transaction. Counts the records afterwards: nothing may be lost. Runs on a
temporary SQLite file, and also on PostgreSQL when DATABASE_URL is set (a
throwaway database on that server). Target: 1,000 DSNs in < 10 s.
"""
import argparse
import os
import shutil
import smtplib
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from bench.common import make_app, run_on_each_database

_TMP = Path(tempfile.mkdtemp(prefix="nudge-bench-"))
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")
_PG_URL = os.environ.pop("DATABASE_URL", "")
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "bounces"
DOMAIN = "bounces.bench.example"
TARGET_SECONDS = 10.0


def _setup(app, n):
    from sqlalchemy import insert, select

    from extensions import db
    from models import Account, Contact, OutboxMessage, Trigger

    with app.app_context():
        db.session.add(Account(external_id="acc", name="Bench", status="active", attributes={}))
        db.session.add(Trigger(name="Bench", from_email="success@acme.io", subject="Hi", html="<p>Hi</p>",
                               kind="schedule", status="active", rule={"user_types": ["product_user"]}))
        db.session.commit()
        account_id = db.session.execute(select(Account.id)).scalar()
        trigger_id = db.session.execute(select(Trigger.id)).scalar()
        db.session.execute(insert(Contact), [
            {"external_id": f"c{i}", "account_id": account_id, "email": f"user{i}@example.net",
             "attributes": {}} for i in range(n)])
        ids = db.session.execute(select(Contact.id, Contact.email).order_by(Contact.id)).all()
        sent = datetime(2026, 12, 3, 9)
        db.session.execute(insert(OutboxMessage), [
            {"trigger_id": trigger_id, "contact_id": cid, "account_id": account_id,
             "occurrence_key": "2026-12-03", "to_email": email, "subject": "Hi", "state": "sent",
             "sent_at": sent} for cid, email in ids])
        db.session.commit()
        return db.session.execute(select(OutboxMessage.id, OutboxMessage.to_email)
                                  .order_by(OutboxMessage.id)).all()


def _dsns(app, messages):
    from engine.bounces import verp
    from engine.sending.mime import message_id_for

    templates = [(CORPUS / name).read_text() for name in
                 ("postfix_user_unknown.eml", "postfix_delayed_mailbox_full.eml")]
    out = []
    for n, (message_id, email) in enumerate(messages):
        address = verp.return_path(message_id, domain=DOMAIN, secret=app.config["SECRET_KEY"])
        text = (templates[n % 2].replace("{{VERP}}", address).replace("{{RCPT}}", email)
                .replace("{{MESSAGE_ID}}", message_id_for(message_id, app.config))
                .replace("@mail.sender-mta.example>", f".{n}@mail.sender-mta.example>", 1))
        out.append((address, text.replace("\n", "\r\n").encode()))
    return out


def _deliver(port, batch):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        for address, data in batch:
            refused = smtp.sendmail("", [address], data)
            if refused:
                sys.exit(f"refused: {refused}")


def run(label, url, args):
    from engine.bounces.listener import start_listener
    from extensions import db
    from models.bounce import BounceRecord

    app = make_app(url)
    app.config.update(BOUNCE_DOMAIN=DOMAIN)
    messages = _setup(app, args.dsns)
    dsns = _dsns(app, messages)
    controller = start_listener(app, "127.0.0.1", 0)
    try:
        k = args.connections
        began = time.perf_counter()
        with ThreadPoolExecutor(k) as pool:
            list(pool.map(lambda i: _deliver(controller.port, dsns[i::k]), range(k)))
        seconds = time.perf_counter() - began
    finally:
        controller.stop()
    with app.app_context():
        recorded = db.session.query(BounceRecord).count()
        db.session.remove()
        db.engine.dispose()
    status = "ok" if seconds < TARGET_SECONDS and recorded == args.dsns else "MISSED"
    print(f"{label}: {args.dsns:,} DSNs over {args.connections} SMTP connection(s) in "
          f"{seconds:.2f} s ({args.dsns / seconds:,.0f}/s); {recorded:,} recorded; "
          f"target < {TARGET_SECONDS:.0f} s: {status}")
    if recorded != args.dsns:
        sys.exit(f"lost DSNs: {args.dsns - recorded}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsns", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=1)
    args = parser.parse_args()
    try:
        run_on_each_database(run, args, f"sqlite:///{_TMP / 'bounces.db'}", _PG_URL, "bounces")
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
