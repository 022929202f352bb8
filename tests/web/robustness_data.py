"""A small, realistic data set for the robustness tests: one row (or a few) of every
table, user-controlled strings that carry markup, and a way to fill any URL rule's
arguments from it; plus the request helpers the tests share.

build() returns a Dataset; snapshot() captures the rows an edit must never corrupt;
rule_urls() fills a URL rule; send()/fetch() turn an escaped exception into a 500.
"""
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from flask import current_app, url_for
from sqlalchemy import func, select

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
# Ids no row has: a plain one, one past PostgreSQL's integer, one past 64 bits.
MISSING_IDS = (True, 2**31, 2**64 + 1)


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
    communication = Communication(account_id=rich.id, trigger_id=schedule.id, day=date.today(),
                                  subject=f"Subject {XSS}")
    db.session.add(communication)
    done_job = ImportJob(kind="contacts", filename=f"people {XSS}.csv", csv_text="external_id,email\nx1,a@b.c\n",
                         mapping={"external_id": "external_id", "email": "email", "attributes": []},
                         status="done", total_rows=2, processed_rows=2, failed_rows=1,
                         errors=[{"line": 3, "message": f"=bad email {XSS}"}], finished_at=now)
    draft_job = ImportJob(kind="accounts", filename="accounts.csv", csv_text="external_id,name\na1,Acme\n",
                          mapping={"external_id": "external_id", "name": "name", "attributes": []},
                          status="draft", total_rows=1)
    sink = SinkMessage(mail_from="success@example.com", rcpt_to="alice@example.com", subject=f"Sink {XSS}",
                       raw=f"Subject: Sink {XSS}\r\nFrom: a@example.com\r\nTo: b@example.com\r\n"
                           f"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello {XSS}</p>\r\n")
    key, _raw = ApiKey.generate(f"Backend {XSS}")
    db.session.add_all([done_job, draft_job, sink, key,
                        TickRun(as_of=now, finished_at=now, summary={"generated": 2, "sent": 1})])
    db.session.commit()
    viewer = factories.staff(role="viewer", email="viewer-member@example.com", name=f"Vic {XSS}")
    from engine.contacts.lists import add_members, create_list

    vip = create_list(f"VIP {XSS}", actor=f"api: {XSS}", now=now)
    add_members(vip.id, [alice.id], source="api", actor=f"Backend {XSS}", now=now)
    db.session.commit()

    data.ids = {"account_id": rich.id, "contact_id": alice.id, "persona_id": persona.id,
                "template_id": template.id, "trigger_id": schedule.id, "message_id": sent_id,
                "import_id": done_job.id, "key_id": key.id, "staff_id": viewer.id,
                "communication_id": communication.id, "list_id": vip.id}
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
                   "tracking.unsubscribe": tracking.unsubscribe_token(sent_id),
                   "auth.reset_password": _reset_token(viewer)}
    data.xss_names = {"account": rich.name, "contact": alice.first_name, "persona": persona.name,
                      "template": template.name, "template_subject": template.subject,
                      "trigger": schedule.name}
    # Report pages fold new delivery events into the aggregates as they are read;
    # folded now, so "a GET changes no data" stays a strict check.
    from engine.reports.fold import fold_pending

    fold_pending(now)
    return data


# Values for the string arguments no dataset row provides; `any(...)` arguments take each choice.
STATIC_ARGS = {"step": ("message", "rule", "controls", "review"), "filename": ("app.css",)}


def url_args(rule, data: Dataset, *, missing=False) -> dict | None:
    """Arguments for a URL rule from the dataset (None when one cannot be filled).
    missing=True swaps every id for one no row has; an int swaps it for that number."""
    variants = url_arg_variants(rule, data, missing=missing)
    return variants[0] if variants else None


def url_arg_variants(rule, data: Dataset, *, missing=False) -> list[dict]:
    """Every combination of the rule's choice arguments (wizard steps, outbox actions)."""
    values = [{}]
    for name in sorted(rule.arguments):
        converter = rule._converters.get(name)
        if name == "token":
            choices = (data.tokens[rule.endpoint],) if rule.endpoint in data.tokens else ()
        elif hasattr(converter, "items"):
            choices = tuple(sorted(converter.items))
        elif name in STATIC_ARGS:
            choices = STATIC_ARGS[name]
        elif name in data.ids:
            real = data.endpoint_ids.get(rule.endpoint, {}).get(name, data.ids[name])
            choices = (real if missing is False else MISSING_ID if missing is True else missing,)
        else:
            return []
        if not choices:
            return []
        values = [{**v, name: c} for v in values for c in choices]
    return values


def snapshot() -> dict:
    """What a rejected edit must leave untouched: the editable fields of every row."""
    def rows(model, *cols):
        query = db.select(model.id, *(getattr(model, c) for c in cols))
        return {row[0]: tuple(row[1:]) for row in db.session.execute(query)}

    return {
        "triggers": rows(Trigger, *HEADER_FIELDS["triggers"], "name", "description", "html", "text", "rule", "kind",
                         "persona_id", "event_name", "template_id", "priority", "global_delay_days",
                         "retrigger_delay_days", "generate_at", "send_at", "timezone", "requires_approval"),
        "personas": rows(Persona, "name", "description", "rule"),
        "templates": rows(EmailTemplate, *HEADER_FIELDS["templates"], "name", "html", "text"),
        "staff": rows(Staff, *HEADER_FIELDS["staff"], "name", "role", "password_hash"),
        "keys": rows(ApiKey, "name", "key_hash", "revoked_at"),
    }


# Fields that end up in mail headers (a line break there is a header injection), first in
# each snapshot row; names are labels only and may be anything printable.
HEADER_FIELDS = {"triggers": ("from_email", "from_name", "bcc", "reply_to_name", "reply_to_email", "subject"),
                 "personas": (), "templates": ("subject",), "staff": ("email",), "keys": ()}


def line_breaks(snap: dict) -> list[str]:
    """Stored single-line values that hold a CR or LF (a header injection waiting to happen)."""
    found = []
    for table, fields in HEADER_FIELDS.items():
        for row_id, values in snap[table].items():
            for name, value in zip(fields, values):
                if isinstance(value, str) and ("\r" in value or "\n" in value):
                    found.append(f"{table} #{row_id}.{name} = {value[:40]!r}")
    return found


def unchanged(before: dict, after: dict) -> list[str]:
    """Rows present before whose fields differ now (rows may be added, e.g. by copy)."""
    problems = []
    for table, old in before.items():
        for row_id, values in old.items():
            new = after[table].get(row_id)
            if new is not None and new != values:
                problems.append(f"{table} #{row_id}: {values!r} -> {new!r}")
    return problems


# ----------------------------------------------------------------------------- requests and pages

# GET pages whose required query string the data set supplies.
QUERY = {"outbox.approve_all": lambda d: {"trigger_id": d.ids["trigger_id"]},
         "reports.recipients": lambda d: {"day": _today(), "metric": "delivered"},
         "rules.matches": lambda d: {"rule": json.dumps({"user_types": ["product_user"], "all": []})}}


def _today():
    from models.base import utcnow

    return utcnow().date().isoformat()



def rule_url(rule, data, *, missing=False, query=True):
    urls = rule_urls(rule, data, missing=missing, query=query)
    return urls[0] if urls else None


def _reset_token(member) -> str:
    from flask import current_app

    from engine.staff import reset
    from models.base import utcnow

    return reset.make_link(member, utcnow(), secret_key=current_app.config["SECRET_KEY"]).token


def rule_urls(rule, data, *, missing=False, query=True) -> list[str]:
    """The rule's URL for each wizard step / outbox action, filled from the data set."""
    urls = []
    for args in url_arg_variants(rule, data, missing=missing):
        if query and rule.endpoint in QUERY:
            args.update(QUERY[rule.endpoint](data))
        urls.append(link(rule.endpoint, **args))
    return urls


def link(endpoint, **args):
    with current_app.test_request_context():
        return url_for(endpoint, **args)


def send(client, method, url, **kw):
    """(status, error): an exception the app let escape counts as a 500 and is described."""
    resp, error = fetch(client, method, url, **kw)
    return (500 if resp is None else resp.status_code), error


def fetch(client, method, url, **kw):
    """(response or None, description of the exception the test client re-raised)."""
    try:
        return client.open(url, method=method, **kw), ""
    except Exception as exc:  # noqa: BLE001 -- the test client re-raises what would be a 500
        import traceback

        db.session.rollback()
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/work/main/" in f.filename
                  and "/.venv/" not in f.filename and "/tests/" not in f.filename]
        where = f" at {frames[-1].filename.split('/work/main/')[1]}:{frames[-1].lineno}" if frames else ""
        return None, f"{type(exc).__name__}: {str(exc)[:120]}{where}"


def has_id(rule) -> bool:
    return any(a.endswith("_id") for a in rule.arguments)


def row_counts() -> dict:
    tables = db.metadata.sorted_tables
    # One round trip: this runs after every request of the sweeps.
    row = db.session.execute(select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables))).one()
    counts = dict(zip((t.name for t in tables), row))
    counts["states"] = sorted(db.session.execute(select(OutboxMessage.id, OutboxMessage.state)).all())
    counts["trigger_status"] = sorted(db.session.execute(select(Trigger.id, Trigger.status)).all())
    return counts


# ----------------------------------------------------------------------------- links

class PageLinks(HTMLParser):
    """<a href> targets and POST forms (action + the fields they send) of a page."""

    def __init__(self):
        super().__init__()
        self.links, self.forms, self._form = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form" and (a.get("method") or "get").lower() == "post":
            self._form = {"action": a.get("action") or "", "fields": {}}
            self.forms.append(self._form)
        elif tag in ("input", "select", "textarea", "button") and self._form is not None and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                self._form["fields"].setdefault(a["name"], None)
            else:
                self._form["fields"][a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse_page(page_url: str, html: str) -> PageLinks:
    parser = PageLinks()
    parser.feed(html)
    parser.links = [urljoin(page_url, h) for h in parser.links]
    for form in parser.forms:
        form["action"] = urlsplit(urljoin(page_url, form["action"])).path
    return parser


def same_site(href: str) -> bool:
    parts = urlsplit(href)
    return not parts.netloc and parts.path.startswith("/") and not parts.path.startswith(("/static/", "/t/", "/u/"))
