"""engine.triggers: the one validation (wizard + API), activation, stats, lifecycle."""
from datetime import datetime, time, timedelta

import pytest

from engine import triggers as T
from engine.reports.fold import fold_pending
from extensions import db
from models import DeliveryEvent, EmailTemplate, Event, OutboxMessage, Persona, Trigger

NOW = datetime(2026, 1, 5, 12, 0)
RULE = {"user_types": ["product_user"], "all": [{"field": "contact.role", "op": "eq", "value": "admin"}]}


def full(**kw):
    data = dict(T.DEFAULTS, name="Welcome", from_email="cs@example.com", subject="Hi {{ contact.first_name }}",
                html="<p>Hello {{ contact.first_name }}</p>", rule=RULE)
    data.update(kw)
    return data


def errors_for(data, **kw):
    return {e["field"]: e["message"] for e in T.validate_trigger(data, **kw)[1]}


def test_valid_trigger_is_clean(app):
    clean, errors = T.validate_trigger(full(generate_at="07:30", send_at="07:45", from_email="CS@Example.COM"))
    assert errors == []
    assert clean["generate_at"] == time(7, 30) and clean["send_at"] == time(7, 45)
    assert clean["from_email"] == "CS@example.com"


@pytest.mark.parametrize("field, value, message", [
    ("from_email", "not-an-address", "valid email"),
    ("bcc", "a@b", "valid email"),
    ("reply_to_email", "x@@y.io", "valid email"),
    ("subject", "Hi\r\nBcc: victim@example.com", "single line"),
    ("reply_to_name", "Ann\nBcc: x", "single line"),
    ("name", "Two\nlines", "single line"),
    ("name", "", "required"),
    ("kind", "hourly", "one of"),
    ("priority", "high", "whole number"),
    ("priority", True, "whole number"),
    ("global_delay_days", -1, "between 0"),
    ("priority", -3, "between 0"),  # issue 15: -3 was accepted while a -2 delay was refused
    ("retrigger_delay_days", 1.5, "whole number"),
    ("generate_at", "8am", "HH:MM"),
    ("send_at", "24:00", "HH:MM"),
    ("timezone", "Mars/Base", "IANA"),
    ("timezone", None, "IANA"),
    ("requires_approval", "yes", "true or false"),
    ("rule", ["all"], "rule object"),
    ("template_id", 999, "no such template"),
    ("persona_id", 999, "no such persona"),
    ("colour", "red", "unknown field"),
])
def test_bad_fields(app, field, value, message):
    errors = errors_for(full(**{field: value}))
    assert field in errors and message in errors[field], errors


def test_rule_errors_carry_the_node_path(app):
    errors = errors_for(full(rule={"all": [{"field": "account.arr", "op": "gt", "value": "lots"}]}))
    assert any(f.startswith("rule.all[0]") for f in errors), errors


def test_template_errors_report_the_line(app):
    errors = errors_for(full(html="<p>ok</p>\n<p>{{ contact.first_name </p>"))
    assert "html" in errors and "line 2" in errors["html"]
    errors = errors_for(full(subject="Hi {{ contact.nonexistent_thing }}"))
    assert "subject" in errors


def test_ssti_is_an_error_not_executed(app):
    errors = errors_for(full(html="{{ ''.__class__.__mro__ }}"))
    assert "html" in errors


def test_draft_may_be_incomplete_but_not_activated(app):
    draft = {**T.DEFAULTS, "name": "Draft only"}
    assert T.validate_trigger(draft)[1] == []
    errors = errors_for(draft, for_activation=True)
    assert {"from_email", "subject", "html", "rule"} <= set(errors)


def test_kind_specific_requirements(app):
    assert "persona_id" in errors_for(full(kind="persona_enter", rule=None))
    assert "event_name" in errors_for(full(kind="event"))
    persona = Persona(name="Admins", rule=RULE)
    db.session.add(persona)
    db.session.commit()
    assert errors_for(full(kind="persona_leave", persona_id=persona.id, rule=None)) == {}
    assert errors_for(full(kind="event", event_name="payment_failed", rule=None),
                      for_activation=True) == {}


def test_send_before_generate_is_refused_for_schedules(app):
    assert "send_at" in errors_for(full(generate_at="09:00", send_at="08:00"))
    assert errors_for(full(kind="event", event_name="x", generate_at="09:00", send_at="08:00")) == {}


def test_no_user_types_means_nobody_blocks_activation(app):
    errors = errors_for(full(rule={"user_types": [], "all": []}), for_activation=True)
    assert "nobody" in errors["rule.user_types"]


def test_no_reply_clears_reply_to(app):
    clean, errors = T.validate_trigger(full(no_reply=True, reply_to_email="r@example.com"))
    assert not errors and clean["reply_to_email"] is None


def test_template_supplies_the_body(app):
    tpl = EmailTemplate(name="Welcome tpl", subject="Hello {{ contact.first_name }}", html="<p>Hi</p>", text="")
    db.session.add(tpl)
    db.session.commit()
    assert errors_for(full(template_id=tpl.id, subject=None, html=None), for_activation=True) == {}
    tpl.html = "<p>{% if %}</p>"
    db.session.commit()
    assert "template_id" in errors_for(full(template_id=tpl.id, html=None))


def test_activation_problems_are_specific_messages(app, make):
    trg = make.trigger(status="draft", from_email=None, subject="", html="", rule=None)
    problems = T.activation_problems(trg)
    text = " | ".join(problems)
    assert "From email" in text and "Subject" in text and "body" in text and "Rule" in text
    assert T.activate(trg, NOW) == problems and trg.status == "draft"


def test_activate_sets_started_once_and_high_water_marks(app, make):
    c = make.contact()
    ev = make.event(c)
    trg = make.trigger(status="draft", kind="event", event_name="login", rule=None)
    assert T.activate(trg, NOW) == []
    assert (trg.status, trg.started_at, trg.last_event_id) == ("active", NOW, ev.id)
    T.deactivate(trg, NOW)
    assert trg.status == "inactive"
    T.activate(trg, NOW + timedelta(days=1))
    assert trg.started_at == NOW


def test_deactivate_cancels_waiting_unless_kept(app, make):
    trg = make.trigger()
    waiting = make.outbox_message(trg, state="pending_approval")
    approved = make.outbox_message(trg, state="approved")
    make.outbox_message(trg, state="sent")
    assert T.waiting_by_state(trg.id, NOW) == {"pending_approval": 1, "approved": 1}
    assert T.deactivate(trg, NOW) == 2
    db.session.commit()
    db.session.refresh(waiting)
    db.session.refresh(approved)
    assert (waiting.state, waiting.reason_code) == ("cancelled", "trigger_deactivated")
    assert approved.state == "cancelled" and not trg.keep_queued_when_inactive

    other = make.trigger()
    kept = make.outbox_message(other, state="pending_approval")
    assert T.deactivate(other, NOW, keep_waiting=True) == 0
    db.session.commit()
    db.session.refresh(kept)
    assert kept.state == "pending_approval" and other.keep_queued_when_inactive
    T.activate(other, NOW)
    assert not other.keep_queued_when_inactive  # a later deactivation asks again


def test_copy_is_a_draft(app, make):
    trg = make.trigger(name="Onboarding", started_at=NOW, priority=7)
    clone = T.copy_trigger(trg)
    db.session.commit()
    assert (clone.name, clone.status, clone.started_at, clone.priority) == ("Copy of Onboarding", "draft", None, 7)
    assert clone.id != trg.id and clone.rule == trg.rule


def test_delete_refused_while_waiting(app, make):
    trg = make.trigger()
    make.outbox_message(trg, state="approved")
    with pytest.raises(T.TriggerInUse) as exc:
        T.delete_trigger(trg, NOW)
    assert exc.value.waiting == 1
    assert T.delete_trigger(trg, NOW, cancel_waiting=True) == 1
    db.session.commit()
    assert db.session.get(Trigger, trg.id) is None
    assert OutboxMessage.query.count() == 0


def test_stats_are_set_based_and_honest(app, make):
    t1 = make.trigger(generate_at=time(8), send_at=time(9), timezone="UTC")
    t2 = make.trigger(kind="event", event_name="x")
    t3 = make.trigger(status="draft")
    a, b = make.contact(), make.contact()
    for contact, days_ago in ((a, 40), (a, 2), (b, 1)):
        sent_at = NOW - timedelta(days=days_ago)
        m = make.outbox_message(t1, contact, state="sent", sent_at=sent_at)
        db.session.add(DeliveryEvent(message_id=m.id, trigger_id=t1.id, contact_id=contact.id,
                                     kind="delivered", at=sent_at))
    make.outbox_message(t1, b, state="pending_approval")
    fold_pending(NOW)  # 30-day recipients come from the report aggregates
    stats = T.trigger_stats([t1.id, t2.id, t3.id], NOW)
    assert stats[t1.id] == {"last_send_at": NOW - timedelta(days=1),
                            "next_send_at": datetime(2026, 1, 6, 9), "recipients_30d": 2}
    assert stats[t2.id] == {"last_send_at": None, "next_send_at": "on event", "recipients_30d": 0}
    assert stats[t3.id]["next_send_at"] is None
    # Generated today but not sent yet: the next send is today's.
    assert T.trigger_stats([t1.id], datetime(2026, 1, 5, 8, 30))[t1.id]["next_send_at"] == datetime(2026, 1, 5, 9)


def test_to_json_round_trips_through_validation(app, make):
    trg = make.trigger(generate_at=time(7, 5))
    data = T.trigger_to_json(trg, NOW)
    assert data["generate_at"] == "07:05" and data["id"] == trg.id and data["status"] == "active"
    assert set(T.FIELDS) | set(T.READ_ONLY) == set(data)
    assert T.validate_trigger(data)[1] == []
