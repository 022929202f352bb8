"""One transaction rule (engine/__init__.py): engine functions leave their writes
in the caller's session -- a rollback undoes them -- and the orchestrators (views,
jobs, tick steps) commit, ringing the doorbell only after their commit."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine import outbox, tracking
from engine.contacts.ingest import ingest
from engine.personas import refresh_all_personas, refresh_persona, refresh_personas_for_contacts
from engine.render.messages import render_pending
from engine.reports.fold import fold_pending
from engine.reports.rebuild import rebuild
from engine.triggers import deactivate, delete_trigger
from engine.triggers.generate import generate_step, run_schedule
from extensions import db
from models import (Account, Contact, DeliveryEvent, OutboxMessage, PersonaMember, PersonaTransition,
                    ReportDay, Trigger)

NOW = datetime(2026, 1, 5, 8, 0, 30)
LINK_HTML = '<p><a href="https://example.com/docs">Docs</a></p>'


def committed():
    """What other connections see: the committed state of everything these calls touch."""
    with db.engine.connect() as conn:
        return {
            "outbox": conn.execute(select(OutboxMessage.id, OutboxMessage.state, OutboxMessage.reason_code,
                                          OutboxMessage.subject).order_by(OutboxMessage.id)).all(),
            "events": conn.execute(select(DeliveryEvent.kind, DeliveryEvent.counted)
                                   .order_by(DeliveryEvent.id)).all(),
            "unsubscribed": conn.scalar(select(func.count()).where(Contact.unsubscribed_at.is_not(None))),
            "accounts": conn.scalar(select(func.count()).select_from(Account)),
            "members": conn.scalar(select(func.count()).select_from(PersonaMember)),
            "transitions": conn.scalar(select(func.count()).select_from(PersonaTransition)),
            "report_days": conn.scalar(select(func.count()).select_from(ReportDay)),
            "triggers": conn.execute(select(Trigger.id, Trigger.status).order_by(Trigger.id)).all(),
        }


@pytest.fixture
def world(make):
    """Committed rows in every state the engine functions below act on."""
    staff = make.staff(role="approver")
    ann = make.contact(role="admin")
    trigger = make.trigger(name="Weekly", generate_at=datetime(2026, 1, 5, 8).time())
    other = make.trigger(name="Other")
    msg = {state: make.outbox_message(trigger=other, contact=ann, state=state).id
           for state in ("pending_approval", "uncertain")}
    msg["approved"] = make.outbox_message(trigger=other, contact=ann, state="approved",
                                          approved_by_id=staff.id, approved_at=NOW,
                                          hold_until=NOW + timedelta(minutes=10)).id
    msg["sent"] = make.outbox_message(trigger=other, contact=ann, state="sent", html=LINK_HTML).id
    msg["unrendered"] = make.outbox_message(trigger=other, contact=ann, subject=None, html=None,
                                            text=None).id
    db.session.add(DeliveryEvent(message_id=msg["sent"], trigger_id=other.id, contact_id=ann.id,
                                 kind="delivered", at=NOW))
    db.session.commit()
    persona = make.persona(rule={"user_types": ["product_user"],
                                 "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]})
    return {"staff": staff.id, "ann": ann.id, "trigger": trigger.id, "other": other.id,
            "persona": persona.id, **msg}


CALLS = {
    "approve": lambda w: outbox.approve([w["pending_approval"]], w["staff"], NOW),
    "approve_all_for_trigger": lambda w: outbox.approve_all_for_trigger(w["other"], w["staff"], NOW),
    "unapprove": lambda w: outbox.unapprove([w["approved"]], NOW + timedelta(minutes=1)),
    "reject": lambda w: outbox.reject([w["pending_approval"]], w["staff"], NOW),
    "cancel_waiting_for_trigger": lambda w: outbox.cancel_waiting_for_trigger(w["other"], NOW),
    "resend_uncertain": lambda w: outbox.resend_uncertain([w["uncertain"]], w["staff"], NOW),
    "dismiss_uncertain": lambda w: outbox.dismiss_uncertain([w["uncertain"]], w["staff"], NOW),
    "suppress_for_unsubscribe": lambda w: outbox.suppress_for_unsubscribe(w["ann"], NOW),
    "record_open": lambda w: tracking.record_open(w["sent"], NOW),
    "record_click": lambda w: tracking.record_click(w["sent"], 0, NOW),
    "unsubscribe": lambda w: tracking.unsubscribe(w["sent"], NOW),
    "ingest": lambda w: ingest("accounts", [{"external_id": "new", "name": "New"}], NOW),
    "refresh_persona": lambda w: refresh_persona(w["persona"], NOW),
    "refresh_all_personas": lambda w: refresh_all_personas(NOW),
    "refresh_personas_for_contacts": lambda w: refresh_personas_for_contacts([w["ann"]], NOW),
    "fold_pending": lambda w: fold_pending(NOW),
    "rebuild": lambda w: rebuild(NOW),
    "render_pending": lambda w: render_pending(NOW),
    "run_schedule": lambda w: run_schedule(db.session.get(Trigger, w["trigger"]), NOW),
    "deactivate": lambda w: deactivate(db.session.get(Trigger, w["other"]), NOW),
    "delete_trigger": lambda w: delete_trigger(db.session.get(Trigger, w["trigger"]), NOW),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_engine_functions_leave_the_commit_to_their_caller(app, world, name):
    before = committed()
    CALLS[name](world)
    db.session.flush()
    assert committed() == before, f"{name} committed"
    db.session.rollback()
    assert committed() == before


@pytest.mark.parametrize("name", sorted(CALLS))
def test_once_committed_the_call_shows(app, world, name):
    """The calls above are not no-ops: committed by the caller, their writes show."""
    before = committed()
    CALLS[name](world)
    db.session.commit()
    assert committed() != before, f"{name} changed nothing"


class CommitCheckingDoorbell:
    """Records each send ring with how many approved rows another connection sees then."""

    def __init__(self):
        self.rings = []

    def send(self, messages, at, now, *, as_of=None):
        with db.engine.connect() as conn:
            visible = conn.scalar(select(func.count()).where(OutboxMessage.state == "approved",
                                                             OutboxMessage.approved_at == now))
        self.rings.append((messages, visible))
        return 1

    def __getattr__(self, name):  # the other rings are not under test here
        return lambda *a, **kw: None


def test_the_approve_view_commits_before_it_rings(app, login, make, monkeypatch):
    bell = CommitCheckingDoorbell()
    monkeypatch.setitem(app.extensions, "doorbell", bell)
    client = login("approver")
    ids = [make.outbox_message().id for _ in range(3)]
    resp = client.post("/outbox/approve", data={"ids": ids, "tab": "waiting"})
    assert resp.status_code == 302
    assert bell.rings == [(3, 3)]  # rung once, when all three were committed


def test_generate_step_commits_its_runs_and_rings_auto_sends_after(app, make, monkeypatch):
    bell = CommitCheckingDoorbell()
    monkeypatch.setitem(app.extensions, "doorbell", bell)
    make.contact()
    trigger = make.trigger(requires_approval=False)
    summary = generate_step(NOW)
    assert summary[str(trigger.id)]["created"] == 1
    db.session.rollback()
    assert [s for _, s, _, _ in committed()["outbox"]] == ["approved"]
    assert bell.rings == [(1, 1)]


def test_the_tracking_and_ingest_views_commit(app, client, api, make):
    sent = make.outbox_message(state="sent", html=LINK_HTML)
    assert client.get(tracking.click_url(sent.id, 0, "")).status_code == 302
    assert client.post(tracking.unsubscribe_url(sent.id, "")).status_code == 200
    assert api.post("/api/v1/accounts", json={"accounts": [{"external_id": "x", "name": "X"}]}).status_code == 200
    db.session.rollback()
    state = committed()
    assert [k for k, _ in state["events"]] == ["opened", "clicked", "unsubscribed"]
    assert state["unsubscribed"] == 1
    assert state["accounts"] == 2


def test_jobs_commit_what_they_call(app, make):
    from workers.jobs import refresh_persona_job, render_outbox_job

    make.contact(role="admin")
    persona = make.persona()
    unrendered = make.outbox_message(subject=None, html=None, text=None)
    assert refresh_persona_job(persona.id, now_iso=NOW.isoformat())["entered"] == 2
    assert render_outbox_job(unrendered.trigger_id) == {"rendered": 1, "failed": 0}
    db.session.rollback()
    state = committed()
    assert state["members"] == 2 and state["transitions"] == 2
    assert state["outbox"][0][3] is not None  # the subject was rendered and committed
