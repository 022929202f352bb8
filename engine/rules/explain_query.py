"""Why / why not: a rule evaluated node by node for one contact.

Leaf truth values are computed by the SAME compiled SQL expressions as
matching_contacts_select (event subqueries narrowed to the one contact), so
the explanation can never disagree with the preview.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from engine.rules.nodes import LEAF_TYPES, EventCond, FieldCond, ListCond, Not, Rule, walk
from engine.rules.fields import OPERATOR_LABELS, USER_TYPE_LABELS, column_for, field_label
from engine.rules.attributes import nonnull_case
from engine.rules.preview_query import event_count_columns, field_value
from engine.rules.sql import Compiler

MARK = {True: "✓", False: "✗"}
SHORT_TYPE = {"product_user": "product user", "crm_contact": "CRM contact",
              "inactive": "inactive", "churned_account": "churned account"}


def fmt_number(v) -> str:
    if isinstance(v, Decimal):
        v = int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.2f}".rstrip("0").rstrip(".")


# Rules hold UTC instants, written as staff type them in the builder; say the zone.
RULE_TIME = "%Y-%m-%d %H:%M UTC"


def fmt_value(v, now=None) -> str:
    if v is None:
        return "(not set)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, Decimal)):
        return fmt_number(v)
    if isinstance(v, datetime):
        text = v.strftime(RULE_TIME)
        if now is not None:
            days = (now - v) / timedelta(days=1)
            n = f"{abs(days):.0f}"
            text += f" ({n} day{'' if n == '1' else 's'} {'ago' if days >= 0 else 'from now'})"
        return text
    if isinstance(v, str):
        return v if v else '""'
    return str(v)


def expected_text(n: FieldCond) -> str:
    op, v = n.op, n.value
    if op in ("is_set", "is_not_set", "is_true", "is_false"):
        return OPERATOR_LABELS[op]
    if op in ("in", "not_in"):
        shown = ", ".join(v[:10]) + (f", … ({len(v)} values)" if len(v) > 10 else "")
        return f"{OPERATOR_LABELS[op]} {shown}"
    if op in ("contains", "starts_with"):
        return f'{OPERATOR_LABELS[op]} "{v}"'
    if op == "between":
        return f"between {fmt_number(v[0])} and {fmt_number(v[1])}"
    if op in ("before", "after"):
        return f"{op} {v.strftime(RULE_TIME)}"
    if op == "older_than_days":
        return f"more than {v} days ago"
    if op == "within_last_days":
        return f"within the last {v} days"
    symbol = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}[op]
    return f"{symbol} {fmt_number(v) if not isinstance(v, str) else v}"


def event_texts(n: EventCond, cur, prev):
    window = f"in the last {n.within_days} days" if n.within_days else "ever"
    if n.op == "dropped_by_pct":
        change = f"{(cur - prev) * 100 / prev:+.0f}%" if prev else "no earlier events"
        actual = f"{cur} vs {prev} in the {n.within_days} days before ({change})"
        return f"{n.event} {window}", actual, f"a drop of at least {fmt_number(n.value)}%"
    symbol = {"count_eq": "=", "count_gt": ">", "count_gte": "≥", "count_lt": "<",
              "count_lte": "≤"}[n.op]
    return f"{n.event} {window}", f"{cur}", f"{symbol} {n.value}"


def list_texts(n: ListCond, passed: bool):
    """(subject, actual, expected, shown): "In list Webinar — March: yes". The name is
    hostile text: the page escapes it."""
    name = n.name if n.name is not None else f"#{n.list_id}"
    in_list = passed if n.op == "member" else not passed
    subject = f"In list {name}"
    actual = "yes" if in_list else "no"
    expected = "to be in the list" if n.op == "member" else "not to be in the list"
    return subject, actual, expected, f"{subject}: {actual}"


def _user_types_node(types, facts, passed, now):
    is_product, is_crm, last_seen, status, inactive_days = facts
    own = [label for flag, label in ((is_product, "product user"), (is_crm, "CRM contact")) if flag]
    seen = "never seen" if last_seen is None else f"last seen {fmt_value(last_seen, now)}"
    actual = (", ".join(own) or "neither product user nor CRM contact") + \
        f"; {seen} (inactive after {inactive_days} days); account {status}"
    if types is None:
        expected = "any user type (not restricted)"
    elif not types:
        expected = "no user type checked — nobody qualifies"
    else:
        expected = "any of: " + ", ".join(SHORT_TYPE[t] for t in types)
    return {"path": "user_types", "depth": 0, "label": f"User type — {actual} — needs "
            f"{expected} {MARK[passed]}", "passed": passed, "actual": actual,
            "expected": expected, "text": f"User type — {actual}"}


def explain_contact(rule: Rule, contact_id: int, now: datetime) -> dict:
    from extensions import db

    comp = Compiler(now, only_contact=contact_id)
    C, A = comp.Contact, comp.Account
    leaves = rule.leaves()
    cols = [nonnull_case(comp.where(rule)), nonnull_case(comp.user_types(rule.user_types)),
            C.is_product_user, C.is_crm_contact, C.last_seen_at, A.status,
            C.attributes, A.attributes]
    for leaf in leaves:
        cols.append(nonnull_case(comp.node(leaf)))
        if isinstance(leaf, EventCond):
            cols.extend(event_count_columns(comp, leaf, C.id))
        elif isinstance(leaf, FieldCond) and leaf.field.column is not None:
            cols.append(column_for(leaf.field.entity, leaf.field.column))
    row = db.session.execute(comp.base(*cols).where(C.id == contact_id)).first()
    if row is None:
        raise LookupError(f"no contact with id {contact_id}")
    row = list(row)
    matches, types_ok = bool(row.pop(0)), bool(row.pop(0))
    facts = row[:4] + [comp.inactive_after]
    c_attrs, a_attrs = row[4], row[5]
    rest = row[6:]
    leaf_results = {}
    for leaf in leaves:
        passed = bool(rest.pop(0))
        if isinstance(leaf, EventCond):
            cur = int(rest.pop(0) or 0)
            prev = int(rest.pop(0) or 0) if leaf.op == "dropped_by_pct" else None
            subject, actual, expected = event_texts(leaf, cur, prev)
            shown = f"Event “{leaf.event}” {subject[len(leaf.event) + 1:]}: {actual}"
        elif isinstance(leaf, ListCond):  # membership is the leaf's own truth value
            subject, actual, expected, shown = list_texts(leaf, passed)
        else:
            raw = rest.pop(0) if leaf.field.column is not None else None
            value = field_value(c_attrs if leaf.field.entity == "contact" else a_attrs,
                                leaf.field, raw)
            relative = leaf.op in ("older_than_days", "within_last_days")
            subject = leaf.field.path
            actual = fmt_value(value, now if relative and isinstance(value, datetime) else None)
            expected = expected_text(leaf)
            shown = f"{field_label(subject)}: {actual}"
        leaf_results[id(leaf)] = (passed, f"{subject} = {actual} — needs {expected} "
                                          f"{MARK[passed]}", actual, expected, shown)
    nodes = [_user_types_node(rule.user_types, facts, types_ok, now)]
    _emit(rule.root, 0, leaf_results, nodes)
    return {"matches": matches, "nodes": nodes}


def _emit(node, depth, leaf_results, out) -> bool:
    """Append node (and its children) to out in rule order; return its truth."""
    if isinstance(node, LEAF_TYPES):
        passed, label, actual, expected, shown = leaf_results[id(node)]
        out.append({"path": node.path, "depth": depth, "label": label, "passed": passed,
                    "actual": actual, "expected": expected, "text": shown})
        return passed
    slot = len(out)
    out.append(None)  # the group's own line comes before its children
    if isinstance(node, Not):
        inner = _emit(node.child, depth + 1, leaf_results, out)
        passed = not inner
        label, expected, actual = "None of this", "the condition below to be false", \
            "it is true" if inner else "it is false"
    else:
        results = [_emit(c, depth + 1, leaf_results, out) for c in node.children]
        passed = all(results) if node.kind == "all" else any(results)
        n_true = sum(results)
        actual = f"{n_true} of {len(results)} true"
        expected = ("all" if node.kind == "all" else "at least one") + " to be true"
        label = "All of these" if node.kind == "all" else "Any of these"
        if not results:
            actual = "no conditions"
    out[slot] = {"path": node.path, "depth": depth, "label": f"{label} — {actual} — needs "
                 f"{expected} {MARK[passed]}", "passed": passed, "actual": actual,
                 "expected": expected, "text": f"{label} — {actual}"}
    return passed


__all__ = ["explain_contact", "fmt_value", "USER_TYPE_LABELS", "walk"]
