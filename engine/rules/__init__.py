"""Rules: who a trigger or persona is for (DESIGN.md "Rule format").

rule JSON -> validated AST (parser.py, nodes.py) -> ONE set-based SQLAlchemy
select over contacts JOIN accounts (sql.py, custom attributes in attributes.py),
identical on SQLite and PostgreSQL; preview in preview_query.py, the why / why
not explainer in explain_query.py, fields in fields.py. Time conditions always
take an explicit `now`.

Semantics (the Python reference evaluator in tests/unit/rules_reference.py
implements the same definitions; the property test checks they agree):

* Root: an object with optional "user_types" and the conditions, written as
  {"all": [...]}, {"any": [...]}, {"not": {...}} or a single condition.
  No conditions at all ({} or {"all": []}) matches every contact;
  {"any": []} matches nobody.
* user_types: a contact qualifies if it is of ANY listed type
  (product_user = contact.is_product_user, crm_contact = contact.is_crm_contact,
  inactive = last_seen_at older than INACTIVE_AFTER_DAYS (config, default 30)
  or never seen, churned_account = account.status "churned").
  An EMPTY list means nobody (Natero). An ABSENT key (or null) means the rule
  is not restricted by type -- persona rules usually omit it; the rule
  builder always writes the key, so its "none checked" is nobody.
* Missing values (SQL NULL, a missing custom attribute, JSON null, or a custom
  attribute of another JSON type than the operator needs) make every
  comparison false, including ne / not_in / before / older_than_days; only
  is_not_set (and `not`) matches them. Conditions are two-valued, so
  {"not": c} is exactly the complement of c.
* Text: eq / ne / in / not_in are exact (case-sensitive); contains /
  starts_with ignore case (ASCII letters on SQLite); is_set means not
  null and not "".
* Custom attributes (contact.attributes.<key>): the type comes from the
  operator and value -- numbers only match JSON numbers, text only JSON
  strings, is_true / is_false only JSON true / false; time operators match
  ISO-8601 strings ("2026-01-05", "2026-01-05T09:30:00"), compared to the
  second, offsets ignored (store UTC).
* Time: before / after take an ISO date or datetime (absolute, UTC);
  older_than_days N means value < now - N days; within_last_days N means
  now - N days <= value <= now.
* Events: count_* counts the contact's events of that name with
  now - within_days days < occurred_at <= now (no within_days = all time up
  to now). dropped_by_pct P (within_days D required): previous window
  (now - 2D, now - D] has count prev > 0 and (prev - current) * 100 >= P * prev.
* Lists: {"list": <id>, "op": "member"} matches the contacts in that list now
  (models.ListMember), "not_member" the others; the list must exist (checked
  with the rule, so validating a rule with list conditions needs an app context).
* Limits: `in` lists <= 1000 values, nesting depth <= 8, <= 100 conditions.

Event conditions over 3 days or more (and all-time counts) compile to the daily
rollup (event_days: per contact, name and UTC day) for the whole days of their
windows and to raw events for the partial edge days, with the same results
(engine/rules/sql.py Compiler.window_counts_from_rollup; the property test runs
both paths against the reference).
"""
from __future__ import annotations

import json
from datetime import datetime

from engine.rules.nodes import MAX_CONDITIONS, MAX_DEPTH, MAX_IN_VALUES, Rule, RuleError
from engine.rules.parser import parse
from engine.rules.fields import USER_TYPE_LABELS, USER_TYPES, field_catalog
from engine.rules.lists import list_ids_used, list_names

__all__ = [
    "RuleError", "Rule", "parse_rule", "rule_warnings", "matching_contacts_select",
    "preview", "explain", "field_catalog", "USER_TYPES", "USER_TYPE_LABELS",
    "MAX_IN_VALUES", "MAX_DEPTH", "MAX_CONDITIONS", "rule_fields_used", "for_live_preview",
    "list_ids_used",
]

def parse_rule(rule) -> Rule:
    """Validate a rule (a dict, or JSON text) into a Rule AST.

    Raises RuleError listing EVERY problem, each with the path of the bad node
    (e.g. {"path": "all[2].value", "message": "expected a number"}).
    Malformed JSON text raises RuleError with path "".
    List conditions must name existing lists (one query; needs an app context
    when the rule has any): "all[2].list: no list with id 7".
    A Rule passes through unchanged.
    """
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, (str, bytes)):
        try:
            rule = json.loads(rule)
        except ValueError as exc:
            raise RuleError([{"path": "", "message": f"malformed JSON: {exc}"}]) from None
    return parse(rule, list_names)


def rule_warnings(rule) -> list[str]:
    """Problems that do not invalidate the rule, e.g. an event name no event has.

    Needs an app context (looks event names up in the database). An invalid
    rule returns [] -- call parse_rule for its errors.
    """
    from engine.rules.sql import unknown_event_names

    try:
        parsed = parse_rule(rule)
    except RuleError:
        return []
    return [f'no event named "{name}" has been received yet'
            for name in unknown_event_names(parsed.event_names())]


def rule_fields_used(rule) -> list[str]:
    """The field paths (in order, no duplicates) a rule's conditions use."""
    return parse_rule(rule).field_paths()


def matching_contacts_select(rule, now: datetime, *, inactive_after_days: int | None = None):
    """ONE set-based select of the contacts the rule matches as of `now`.

    Columns: contact_id, account_id (labels). contacts JOIN accounts; event
    conditions are aggregated subqueries. Usable as a subquery or in
    INSERT ... FROM SELECT. `inactive_after_days` defaults to the app config
    INACTIVE_AFTER_DAYS (30 outside an app context). Raises RuleError.
    """
    from engine.rules.sql import compile_select

    return compile_select(parse_rule(rule), now, inactive_after_days=inactive_after_days)


def preview(rule, now: datetime, limit: int = 20) -> dict:
    """Who the rule matches right now: the live preview and POST /api/v1/preview.

    Returns {"count": contacts, "accounts": distinct accounts,
      "held_back": {code: n} -- how many of the matches every trigger run holds
        back whatever its rule (engine/rules/suppression.py: "unsubscribed",
        "no_email"; each contact under its first code),
      "reachable": count minus those, "sample": [
      {"contact_id", "external_id", "email", "name", "account_name",
       "account_external_id", "fields": {"<field path>": value, ...}}]}
    -- the first `limit` (1..100) matches by contact id; "fields" holds the
    values of the fields the rule uses (JSON-safe: times as ISO strings).
    Raises RuleError for a bad rule, ValueError for a bad limit.
    """
    from engine.rules.preview_query import run_preview

    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
        raise ValueError("limit must be an integer from 1 to 100")
    return run_preview(parse_rule(rule), now, limit)


def explain(rule, contact_id: int, now: datetime) -> dict:
    """Why / why not: every node of the rule evaluated for one contact.

    Returns {"matches": bool, "nodes": [{"path", "depth", "label", "passed",
    "actual", "expected", "text"}]} in rule order ("text": the node as staff
    read it, with the builder's field names: "ARR: 32,000") (groups before their children;
    the user_types check first, path "user_types"). Leaf truth values come
    from the same SQL as matching_contacts_select, so they always agree.
    e.g. label "account.arr = 32,000 — needs > 50,000 ✗".
    Raises RuleError; LookupError when the contact does not exist.
    """
    from engine.rules.explain_query import explain_contact

    return explain_contact(parse_rule(rule), contact_id, now)


def for_live_preview(rule):
    """The builder's live preview leaves half-typed conditions out ("Role is ___").

    Returns (rule without its incomplete conditions, [their paths], errors):
    errors are the rule's validation errors outside the incomplete conditions
    ([] when the rest is a valid rule). Saving still parses the rule as written,
    so an incomplete condition is refused there. See engine/rules/incomplete.py.
    """
    from engine.rules.incomplete import is_within, without_incomplete

    stripped, ignored = without_incomplete(rule)
    try:
        parse_rule(rule)
        errors = []
    except RuleError as exc:
        errors = [e for e in exc.errors if not is_within(e.get("path", ""), ignored)]
    if not errors and ignored:
        try:
            parse_rule(stripped)
        except RuleError as exc:  # e.g. what is left nests differently: say what is wrong
            errors = exc.errors
    return stripped, ignored, errors
