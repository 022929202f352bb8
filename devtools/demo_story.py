"""A lived-in demo: templates, personas, triggers and three weeks of history,
made by running the real engine day by day (generate, approve, send over SMTP
to a throwaway in-process server, opens and clicks through engine.tracking).

Called by `flask nudge seed-demo` after devtools.demo.generate(); deterministic
for a seed. Today's run is left waiting for approval so the outbox has work.
"""
import random
import socket
from contextlib import contextmanager
from datetime import datetime, time, timedelta

from sqlalchemy import select

from engine import outbox

from engine import tracking

from engine import triggers as trigger_engine
from engine.personas import refresh_all_personas
from engine.sending.loop import send_due
from extensions import db
from models import EmailTemplate, OutboxMessage, Persona, Staff, Trigger

TZ = "America/New_York"
TEMPLATES = [
    ("Re-engagement", "{{ contact.first_name }}, your {{ account.name }} dashboards miss you",
     "<h2>Hi {{ contact.first_name }},</h2><p>It has been a while since you last looked at "
     "{{ account.name }}'s dashboards. Three new reports are waiting.</p>"
     "<p><a href=\"https://app.example.com/dashboards\">Open your dashboards</a></p>"
     "<p style=\"color:#888;font-size:12px\"><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>"),
    ("Feature promo: reports", "Build your first report in 2 minutes",
     "<h2>Hi {{ contact.first_name }},</h2><p>Teams like {{ account.name }} save hours every week "
     "with scheduled reports.</p><p><a href=\"https://app.example.com/reports/new\">Create a report</a> · "
     "<a href=\"https://docs.example.com/reports\">Read the guide</a></p>"
     "<p style=\"color:#888;font-size:12px\"><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>"),
    ("Payment problem", "Action needed: update the card for {{ account.name }}",
     "<p>Hi {{ contact.first_name }},</p><p>Your latest payment for {{ account.name }} did not go "
     "through. <a href=\"https://app.example.com/billing\">Update your billing details</a> to keep "
     "your workspace running.</p><p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>"),
]
PERSONAS = [
    ("Power users", "Daily logins in the last two weeks.",
     {"user_types": ["product_user"],
      "all": [{"event": "login", "op": "count_gte", "value": 8, "within_days": 14}]}),
    ("Dormant admins at big accounts", "Admins not seen for 14 days at accounts above $50k ARR.",
     {"user_types": ["product_user", "crm_contact"],
      "all": [{"field": "contact.role", "op": "in", "value": ["admin", "owner"]},
              {"field": "contact.last_seen_at", "op": "older_than_days", "value": 14},
              {"field": "account.arr", "op": "gt", "value": 50000}]}),
]


def _triggers(templates, personas):
    return [
        dict(name="Re-engage dormant admins", kind="schedule", persona_id=personas[1].id,
             template_id=templates[0].id, priority=3, global_delay_days=3, retrigger_delay_days=14,
             requires_approval=True, description="Admins at big accounts who went quiet."),
        dict(name="No report after 10 days", kind="schedule", template_id=templates[1].id, priority=2,
             global_delay_days=3, never_retrigger=True, requires_approval=False,
             description="Signed up 10+ days ago and never created a report.",
             rule={"user_types": ["product_user"],
                   "all": [{"field": "contact.created_at", "op": "older_than_days", "value": 10},
                           {"field": "contact.created_at", "op": "within_last_days", "value": 45},
                           {"event": "report_created", "op": "count_eq", "value": 0, "within_days": 90}]}),
        dict(name="Welcome, power user", kind="persona_enter", persona_id=personas[0].id, priority=1,
             subject="You're one of our power users, {{ contact.first_name }}",
             html="<p>Hi {{ contact.first_name }}, thanks for making {{ account.name }} a daily habit. "
                  "<a href=\"https://app.example.com/shortcuts\">Here are 5 shortcuts</a> you'll love.</p>"
                  "<p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>",
             requires_approval=False, description="Sent when someone joins the Power users persona."),
        dict(name="Payment failed — help", kind="event", event_name="payment_failed",
             template_id=templates[2].id, priority=5, requires_approval=True,
             description="Reach billing contacts as soon as a payment fails."),
    ]


@contextmanager
def _throwaway_smtp(app):
    """An SMTP server that accepts and forgets, so history goes through the real send path."""
    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 OK (demo history)"

    with socket.socket() as probe:  # a free port (aiosmtpd cannot start on port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: app.config.get(k) for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
    try:
        yield
    finally:
        app.config.update(saved)
        controller.stop()


def seed_story(app, now: datetime, days: int = 14, seed: int = 7, log=print) -> dict:
    rng = random.Random(seed)
    admin = db.session.scalars(select(Staff).where(Staff.role == "admin").order_by(Staff.id)).first()
    templates = [EmailTemplate(name=n, subject=s, html=h, text="") for n, s, h in TEMPLATES]
    personas = [Persona(name=n, description=d, rule=r) for n, d, r in PERSONAS]
    db.session.add_all(templates + personas)
    db.session.commit()
    start = now - timedelta(days=days)
    refresh_all_personas(start)
    made = []
    for spec in _triggers(templates, personas):
        trigger = Trigger(from_email="success@nudge-demo.example", reply_to_name="Customer Success",
                          reply_to_email="success@nudge-demo.example", timezone=TZ,
                          generate_at=time(8, 0), send_at=time(9, 0), status="draft", **spec)
        db.session.add(trigger)
        db.session.flush()
        problems = trigger_engine.activate(trigger, start)
        if problems:
            raise RuntimeError(f"demo trigger {trigger.name!r} cannot activate: {problems}")
        made.append(trigger)
    db.session.add(Trigger(name="Exports dropped by half", kind="schedule", status="draft", timezone=TZ,
                           from_email="success@nudge-demo.example", template_id=templates[0].id,
                           rule={"user_types": ["product_user"], "all": [
                               {"event": "export_run", "op": "dropped_by_pct", "value": 50, "within_days": 7}]},
                           description="Draft: usage of exports dropped week over week."))
    db.session.commit()
    from engine.triggers.generate import generate_step

    with _throwaway_smtp(app):
        for offset in range(days, -1, -1):
            # 15:05 UTC is past 09:00 in New York all year, so the day's run can send.
            day_now = min(now, (now - timedelta(days=offset)).replace(hour=15, minute=5, second=0, microsecond=0))
            if offset:
                refresh_all_personas(day_now - timedelta(hours=1))
                db.session.commit()  # engine functions leave committing to their caller
            generate_step(day_now)
            if offset == 0:
                _todays_payment_failures(rng, now)
                break  # today's emails wait for a person to approve them
            waiting = db.session.scalars(select(OutboxMessage.id).where(
                OutboxMessage.state == "pending_approval")).all()
            outbox.approve(waiting, admin.id if admin else None, day_now)
            db.session.commit()
            send_due(clock=lambda t=day_now + timedelta(minutes=20): t, budget_seconds=120)
            _engagement(rng, day_now)
    from engine.reports.fold import fold_pending

    fold_pending(now)  # as the ticks of those days would have
    db.session.commit()
    from devtools.demo_lists import seed_lists

    seed_lists(rng, now, days)
    return {"triggers": len(made), "messages": db.session.scalar(
        select(db.func.count()).select_from(OutboxMessage))}


def _todays_payment_failures(rng, now):
    """A few payment failures this morning, so the outbox has emails waiting for approval."""
    from engine.triggers.generate import generate_step
    from models import Contact, Event

    owners = db.session.scalars(select(Contact.id).where(Contact.role.in_(("owner", "admin")))
                                .order_by(Contact.id).limit(400)).all()
    for contact_id in rng.sample(owners, min(7, len(owners))):
        db.session.add(Event(contact_id=contact_id, name="payment_failed", properties={"amount": 499},
                             occurred_at=now - timedelta(minutes=rng.randint(5, 300))))
    db.session.commit()
    generate_step(now)


def _engagement(rng, day_now):
    """Opens, clicks and the odd unsubscribe for the day's sent emails, via engine.tracking."""
    sent = db.session.execute(select(OutboxMessage.id, OutboxMessage.html).where(
        OutboxMessage.state == "sent", OutboxMessage.sent_at >= day_now - timedelta(hours=1))).all()
    for message_id, html in sent:
        if rng.random() < 0.48:
            at = day_now + timedelta(minutes=rng.randint(30, 600))
            tracking.record_open(message_id, at)
            targets = [i for i, url in enumerate(tracking.links(html or "")) if "/u/" not in url]
            if targets and rng.random() < 0.35:
                tracking.record_click(message_id, rng.choice(targets), at + timedelta(minutes=2))
        if rng.random() < 0.012:
            tracking.unsubscribe(message_id, day_now + timedelta(hours=3))
    db.session.commit()
