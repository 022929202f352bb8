"""A small, realistic data set for the robustness tests: one row (or a few) of every
table, user-controlled strings that carry markup, and a way to fill any URL rule's
arguments from it.

build() returns a Dataset; snapshot() captures the rows an edit must never corrupt.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta

from engine import tracking
from engine.personas import refresh_persona
from extensions import db
from models import (ApiKey, Communication, DeliveryEvent, EmailTemplate, ImportJob, OutboxMessage,
                    Persona, SinkMessage, Staff, TickRun, Trigger, TriggerRun)
from models.base import utcnow
from models.delivery import KINDS as DELIVERY_KINDS
from models.outbox import STATES
from tests import factories

XSS = "<script>alert(1)</script>"
MISSING_ID = 987_654_321


@dataclass
class Dataset:
    ids: dict = field(default_factory=dict)          # url argument name -> id of an existing row
    endpoint_ids: dict = field(default_factory=dict)  # endpoint -> {argument: id} where it differs
    tokens: dict = field(default_factory=dict)        # tracking endpoint -> valid token
    xss_names: dict = field(default_factory=dict)     # what -> the stored markup-carrying string
    messages: dict = field(default_factory=dict)      # outbox state -> message id
    triggers: dict = field(default_factory=dict)      # kind -> trigger id


def build() -> Dataset:
    now = utcnow()
    data = Dataset()
    factories.staff(role="admin", email="owner@example.com")  # so the last-admin guard holds
    rich = factories.account(name=f"Acme {XSS}", arr=120000, plan="enterprise",
                             attributes={"region": "emea", "beta": True})
    churned = factories.account(name="Globex", status="churned", plan="free", arr=0)
    alice = factories.contact(account=rich, first_name=f"Alice {XSS}", last_name="Smith", role="admin",
                              email="alice@example.com", attributes={"beta": True})
    bob = factories.contact(account=rich, first_name="Bob", last_name="Jones", is_crm_contact=True,
                            email="bob@example.com", last_seen_at=now - timedelta(days=60))
    carol = factories.contact(account=churned, first_name="Carol", last_name="Ng",
                              email="carol@example.com", unsubscribed_at=now - timedelta(days=2))
    for contact, name in ((alice, "login"), (alice, "report_created"), (bob, "login"), (carol, "payment_failed")):
        factories.event(contact, name=name, occurred_at=now - timedelta(hours=3),
                        properties={"page": f"/x?{XSS}", "n": 3}, external_id=f"ev-{contact.id}-{name}")

    persona = factories.persona(name=f"Power {XSS}", description=f"desc {XSS}",
                                rule={"user_types": ["product_user", "crm_contact"],
                                      "all": [{"field": "account.arr", "op": "gt", "value": 1000}]})
    refresh_persona(persona.id, now)
    template = factories.email_template(name=f"Welcome {XSS}", subject=f"Hi {XSS} {{{{ contact.first_name }}}}")
    unused_template = factories.email_template(name="Unused template")

    triggers = {
        "schedule": factories.trigger(name=f"Daily {XSS}", description=f"about {XSS}",
                                      rule={"user_types": ["product_user"],
                                            "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]}),
        "persona_enter": factories.trigger(name="Entered power", kind="persona_enter", persona_id=persona.id,
                                           rule=None, template_id=template.id, subject=None, html=None),
        "persona_leave": factories.trigger(name="Left power", kind="persona_leave", persona_id=persona.id,
                                           rule=None, status="paused"),
        "event": factories.trigger(name="Payment failed", kind="event", event_name="payment_failed",
                                   rule=None, requires_approval=False, status="draft"),
    }
    data.triggers = {k: t.id for k, t in triggers.items()}
    schedule = triggers["schedule"]
    db.session.add(TriggerRun(trigger_id=schedule.id, occurrence_key=now.date().isoformat(),
                              candidates=3, created=2, suppressed=1))

    contacts = (alice, bob, carol)
    for n, state in enumerate(STATES):
        extra = {"sent_at": now - timedelta(hours=2)} if state in ("sent", "failed", "uncertain") else {}
        if state == "suppressed":
            extra["reason"] = "global delay (3 days)"
        if state == "approved":
            extra.update(approved_at=now, hold_until=now + timedelta(minutes=10))
        if state == "failed":
            extra.update(failed_at=now, smtp_reply=f"550 no such user {XSS}")
        msg = factories.outbox_message(trigger=schedule, contact=contacts[n % 3], state=state,
                                       subject=f"Subject {XSS}", **extra)
        data.messages[state] = msg.id
    sent_id = data.messages["sent"]
    sent = db.session.get(OutboxMessage, sent_id)
    for kind in DELIVERY_KINDS:
        db.session.add(DeliveryEvent(message_id=sent_id, trigger_id=schedule.id, contact_id=sent.contact_id,
                                     kind=kind, at=now - timedelta(hours=1), detail=f"detail {XSS}"))
    db.session.add(Communication(account_id=rich.id, trigger_id=schedule.id, day=date.today(),
                                 subject=f"Subject {XSS}"))
    done_job = ImportJob(kind="contacts", filename=f"people {XSS}.csv", csv_text="external_id,email\nx1,a@b.c\n",
                         mapping={"external_id": "external_id", "email": "email", "attributes": []},
                         status="done", total_rows=2, processed_rows=2, failed_rows=1,
                         errors=[{"line": 3, "message": f"=bad email {XSS}"}], finished_at=now)
    draft_job = ImportJob(kind="accounts", filename="accounts.csv", csv_text="external_id,name\na1,Acme\n",
                          mapping={"external_id": "external_id", "name": "name", "attributes": []},
                          status="draft", total_rows=1)
    sink = SinkMessage(mail_from="success@example.com", rcpt_to="alice@example.com", subject=f"Sink {XSS}",
                       raw=f"Subject: Sink\r\nFrom: a@example.com\r\nTo: b@example.com\r\n\r\nHello {XSS}\r\n")
    key, _raw = ApiKey.generate(f"Backend {XSS}")
    db.session.add_all([done_job, draft_job, sink, key,
                        TickRun(as_of=now, finished_at=now, summary={"generated": 2, "sent": 1})])
    db.session.commit()
    viewer = factories.staff(role="viewer", email="viewer-member@example.com", name=f"Vic {XSS}")

    data.ids = {"account_id": rich.id, "contact_id": alice.id, "persona_id": persona.id,
                "template_id": template.id, "trigger_id": schedule.id, "message_id": sent_id,
                "import_id": done_job.id, "key_id": key.id, "staff_id": viewer.id}
    data.endpoint_ids = {
        "settings.inbox_message": {"message_id": sink.id},
        "settings.map_import": {"import_id": draft_job.id},
        "settings.start_import": {"import_id": draft_job.id},
        "settings.discard_import": {"import_id": draft_job.id},
        "email_templates.delete": {"template_id": unused_template.id},
    }
    data.tokens = {"tracking.open_pixel": tracking.open_token(sent_id),
                   "tracking.click": tracking.click_token(sent_id, 0),
                   "tracking.unsubscribe_confirm": tracking.unsubscribe_token(sent_id),
                   "tracking.unsubscribe": tracking.unsubscribe_token(sent_id)}
    data.xss_names = {"account": rich.name, "contact": alice.first_name, "persona": persona.name,
                      "template": template.name, "template_subject": template.subject,
                      "trigger": schedule.name}
    return data


# Values for the converter-typed arguments no dataset row provides.
STATIC_ARGS = {"step": "message", "action": "approve", "filename": "app.css"}


def url_args(rule, data: Dataset, *, missing: bool = False) -> dict | None:
    """Arguments for a URL rule from the dataset (None when one cannot be filled).
    missing=True swaps every id for one no row has."""
    values = {}
    for name in rule.arguments:
        if name == "token":
            token = data.tokens.get(rule.endpoint)
            if token is None:
                return None
            values[name] = token
        elif name in STATIC_ARGS:
            values[name] = STATIC_ARGS[name]
        elif name in data.ids:
            values[name] = MISSING_ID if missing else data.endpoint_ids.get(rule.endpoint, {}).get(name, data.ids[name])
        else:
            return None
    return values


def snapshot() -> dict:
    """What a rejected edit must leave untouched: the editable fields of every row."""
    db.session.expire_all()

    def rows(model, *cols):
        return {r.id: tuple(getattr(r, c) for c in cols) for r in db.session.scalars(db.select(model))}

    return {
        "triggers": rows(Trigger, "name", "description", "from_email", "subject", "html", "text", "rule",
                         "kind", "persona_id", "event_name", "template_id", "priority", "global_delay_days",
                         "retrigger_delay_days", "generate_at", "send_at", "timezone", "requires_approval"),
        "personas": rows(Persona, "name", "description", "rule"),
        "templates": rows(EmailTemplate, "name", "subject", "html", "text"),
        "staff": rows(Staff, "email", "name", "role", "password_hash"),
        "keys": rows(ApiKey, "name", "key_hash", "revoked_at"),
    }


def unchanged(before: dict, after: dict) -> list[str]:
    """Rows present before whose fields differ now (rows may be added, e.g. by copy)."""
    problems = []
    for table, old in before.items():
        for row_id, values in old.items():
            new = after[table].get(row_id)
            if new is not None and new != values:
                problems.append(f"{table} #{row_id}: {values!r} -> {new!r}")
    return problems


__all__ = ["Dataset", "MISSING_ID", "XSS", "build", "snapshot", "unchanged", "url_args"]
