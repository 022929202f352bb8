"""Issue 15 defects 10 and 11 in the engine: half-typed conditions are left out of
the live preview (and only there); the preview counts the matches every run holds
back with the same definition the tick uses."""
from datetime import datetime, timedelta

from engine.rules import RuleError, for_live_preview, parse_rule, preview
from engine.rules.incomplete import is_incomplete, without_incomplete
from engine.rules.suppression import held_back_counts
from engine.triggers import generate as gen
from extensions import db
from models import Contact, OutboxMessage

NOW = datetime(2026, 1, 10, 12, 0, 0)
ROLE_BLANK = {"field": "contact.role", "op": "eq", "value": None}


def test_what_counts_as_incomplete():
    assert is_incomplete(ROLE_BLANK)
    assert is_incomplete({"field": "contact.role", "op": "eq"})
    assert is_incomplete({"field": "contact.role", "op": "in", "value": []})
    assert is_incomplete({"field": "account.arr", "op": "between", "value": [1, None]})
    assert is_incomplete({"field": "contact.role", "op": "contains", "value": " "})
    assert is_incomplete({"event": "", "op": "count_gt", "value": 1})
    assert is_incomplete({"field": "", "op": "eq", "value": "x"})
    # Complete: a valueless operator, an exact match on "" (valid in the API), a group.
    assert not is_incomplete({"field": "contact.role", "op": "is_set"})
    assert not is_incomplete({"field": "contact.role", "op": "eq", "value": ""})
    assert not is_incomplete({"all": [ROLE_BLANK]})


def test_without_incomplete_keeps_the_rest_and_names_paths():
    rule = {"user_types": ["product_user"], "all": [
        ROLE_BLANK, {"field": "account.arr", "op": "gt", "value": 5},
        {"any": [{"field": "contact.role", "op": "in", "value": []}]},
        {"not": {"any": [{"field": "contact.role", "op": "eq", "value": "x"}, ROLE_BLANK]}}]}
    stripped, ignored = without_incomplete(rule)
    assert ignored == ["all[0]", "all[2].any[0]", "all[3].not.any[1]"]
    assert stripped == {"user_types": ["product_user"], "all": [
        {"field": "account.arr", "op": "gt", "value": 5},
        {"not": {"any": [{"field": "contact.role", "op": "eq", "value": "x"}]}}]}
    # Only half-typed conditions: everyone of the checked types, not "nobody".
    assert without_incomplete({"user_types": [], "any": [ROLE_BLANK]}) == (
        {"user_types": [], "all": []}, ["any[0]"])


def test_for_live_preview_keeps_other_errors_at_their_paths():
    _, ignored, errors = for_live_preview({"all": [
        ROLE_BLANK, {"field": "account.arr", "op": "gt", "value": "lots"}]})
    assert ignored == ["all[0]"]
    assert errors == [{"path": "all[1].value", "message": "expected a number"}]
    # Saving parses the rule as written: the incomplete condition is refused.
    try:
        parse_rule({"all": [ROLE_BLANK]})
    except RuleError as exc:
        assert exc.errors == [{"path": "all[0].value", "message": "a value is required"}]
    else:
        raise AssertionError("an incomplete rule must not validate")


def test_preview_counts_held_back_like_the_tick(app, make):
    acc = make.account()
    make.contact(acc, role="admin")
    make.contact(acc, role="admin", unsubscribed_at=NOW - timedelta(days=2))
    make.contact(acc, role="admin", unsubscribed_at=NOW - timedelta(days=2), email="")
    nomail = make.contact(acc, role="admin")
    db.session.execute(db.update(Contact).where(Contact.id == nomail.id).values(email=""))
    make.contact(acc, role="user", unsubscribed_at=NOW)
    make.contact(acc, role="admin", email_bounced_at=NOW - timedelta(days=1))
    db.session.commit()
    rule = {"field": "contact.role", "op": "eq", "value": "admin"}
    result = preview(rule, NOW, 20)
    assert result["count"] == 5
    assert result["held_back"] == {"unsubscribed": 2, "bounced": 1, "no_email": 1}
    assert result["reachable"] == 1
    assert held_back_counts(db.select(Contact.id.label("contact_id"))) == {
        "unsubscribed": 3, "bounced": 1, "no_email": 1}
    # The tick holds back exactly those (same definition, engine/rules/suppression.py).
    trigger = make.trigger(rule=rule, status="active", kind="schedule")
    db.session.commit()
    gen.generate(trigger, gen.schedule_candidates(trigger, NOW, "2026-01-10"), NOW,
                 occurrence_key="2026-01-10")
    states = db.session.execute(db.select(OutboxMessage.reason_code, db.func.count())
                                .where(OutboxMessage.trigger_id == trigger.id)
                                .group_by(OutboxMessage.reason_code)).all()
    assert dict(states) == {None: 1, "unsubscribed": 2, "bounced": 1, "no_email": 1}


def test_explainer_speaks_builder_labels_and_singular_days(app, make):
    from engine.rules import explain

    c = make.contact(role="user", last_seen_at=NOW - timedelta(days=1), attributes={"nps": 3})
    db.session.commit()
    result = explain({"all": [{"field": "contact.role", "op": "eq", "value": "admin"},
                              {"field": "contact.attributes.nps", "op": "gt", "value": 5},
                              {"field": "contact.last_seen_at", "op": "within_last_days", "value": 7}]},
                     c.id, NOW)
    texts = [n["text"] for n in result["nodes"]]
    assert texts[2:] == ["Role: user", "Contact: nps: 3", "Last seen: 2026-01-09 12:00 UTC (1 day ago)"]
