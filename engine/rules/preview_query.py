"""The live preview: count, distinct accounts and the first rows of a rule.

ONE statement per preview: the matches are computed once (a CTE used twice is
materialised by SQLite and PostgreSQL) and feed both the totals and the first
page; display columns and per-row event counts are read for that page only.

The live preview runs on every keystroke, so the built statement is cached
per (rule, limit, inactive threshold) with every `now`-derived instant as a
named parameter; a later call only recomputes those values.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, null, select, true

from engine.rules.nodes import EventCond, FieldCond, Rule
from engine.rules.fields import column_for
from engine.rules.attributes import ISO_SECONDS
from engine.rules.sql import Compiler, inactive_days
from engine.rules.suppression import CONTACT_SUPPRESSIONS, held_back_columns

CACHE_SIZE = 256
_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


def event_field_label(n: EventCond, previous=False) -> str:
    if n.within_days is None:
        return f"{n.event} (all time)"
    return f"{n.event} ({'previous' if previous else 'last'} {n.within_days} days)"


def event_count_columns(comp: Compiler, n: EventCond, contact_id_col):
    """Correlated counts (current[, previous window]) for a few known contacts
    (sample rows, the explainer) -- never used to select contacts."""
    cur, prev, where = comp.event_counts(n)
    where = [*where, comp.Event.contact_id == contact_id_col]
    if prev is None:
        return [select(cur).where(*where).scalar_subquery()]
    return [select(func.coalesce(cur, 0)).where(*where).scalar_subquery(),
            select(func.coalesce(prev, 0)).where(*where).scalar_subquery()]


def json_safe(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def field_value(row_attrs, ref, row_value):
    if ref.column is not None:
        return row_value
    attrs = row_attrs if isinstance(row_attrs, dict) else {}
    return attrs.get(ref.key)


class _Built:
    """A preview statement plus what is needed to re-run and read it."""

    def __init__(self, rule: Rule, now: datetime, limit: int, inactive: int):
        comp = Compiler(now, inactive_after_days=inactive, now_params=True)
        C, A = comp.Contact, comp.Account
        contacts, accounts = comp.tables
        matched = comp.base(C.id.label("cid"), C.account_id.label("aid"),
                            C.unsubscribed_at.label("unsub"), C.email.label("email"),
                            C.email_bounced_at.label("bounced")).where(
            comp.where(rule)).cte("matched")
        # The contacts a run would hold back whatever the trigger (unsubscribed, ...),
        # counted in the same pass: the preview says how many of the matches get it.
        totals = select(func.count().label("n"),
                        func.count(func.distinct(matched.c.aid)).label("accounts"),
                        *held_back_columns(matched.c.unsub, matched.c.email, matched.c.bounced)
                        ).subquery("totals")
        self.held_codes = CONTACT_SUPPRESSIONS
        page = select(matched.c.cid).order_by(matched.c.cid).limit(limit).subquery("page")
        self.refs = list({n.field.path: n.field for n in rule.leaves()
                          if isinstance(n, FieldCond)}.values())
        self.events = [n for n in rule.leaves() if isinstance(n, EventCond)]
        # Custom-attribute JSON is read (and parsed) only when the rule uses it.
        attr_entities = {r.entity for r in self.refs if r.column is None}
        cols = [C.id, C.external_id, C.email, C.first_name, C.last_name, A.name, A.external_id,
                C.attributes if "contact" in attr_entities else null(),
                A.attributes if "account" in attr_entities else null()]
        cols += [column_for(r.entity, r.column) for r in self.refs if r.column is not None]
        cols += [c for n in self.events for c in event_count_columns(comp, n, C.id)]
        self.statement = (
            select(*totals.c, *cols).select_from(totals)
            .outerjoin(page, true()).outerjoin(contacts, C.id == page.c.cid)
            .outerjoin(accounts, A.id == C.account_id).order_by(page.c.cid))
        self.now_values = comp.now_values

    def params(self, now: datetime) -> dict:
        out = {}
        for key, days_back, as_text in self.now_values:
            value = now - timedelta(days=days_back)
            out[key] = value.strftime(ISO_SECONDS) if as_text else value
        return out


def _built(rule: Rule, now: datetime, limit: int) -> _Built:
    inactive = inactive_days()
    if not rule.source:  # a Rule not made by parse_rule: nothing stable to key on
        return _Built(rule, now, limit, inactive)
    key = (json.dumps(rule.source, sort_keys=True, default=str), limit, inactive)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    built = _Built(rule, now, limit, inactive)
    with _lock:
        _cache[key] = built
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return built


def run_preview(rule: Rule, now: datetime, limit: int) -> dict:
    from extensions import db

    built = _built(rule, now, limit)
    # Core execution on the session's connection: the ORM result machinery adds
    # nothing for plain column rows.
    result = db.session.connection().execute(built.statement, built.params(now)).all()
    count, accounts = result[0][0], result[0][1]
    k = 2 + len(built.held_codes)
    held_back = {code: int(n or 0) for code, n in zip(built.held_codes, result[0][2:k])}
    sample = []
    for row in result:
        if row[k] is None:  # no matches: the one totals row
            continue
        (cid, ext, email, first, last, acc_name, acc_ext, c_attrs, a_attrs) = row[k:k + 9]
        rest = iter(row[k + 9:])
        fields = {}
        for r in built.refs:
            raw = next(rest) if r.column is not None else None
            attrs = c_attrs if r.entity == "contact" else a_attrs
            fields[r.path] = json_safe(field_value(attrs, r, raw))
        for n in built.events:
            fields[event_field_label(n)] = int(next(rest) or 0)
            if n.op == "dropped_by_pct":
                fields[event_field_label(n, previous=True)] = int(next(rest) or 0)
        sample.append({
            "contact_id": cid, "external_id": ext, "email": email,
            "name": " ".join(p for p in (first, last) if p) or email,
            "account_name": acc_name, "account_external_id": acc_ext, "fields": fields,
        })
    held = sum(held_back.values())
    return {"count": int(count), "accounts": int(accounts), "sample": sample,
            "held_back": held_back, "reachable": int(count) - held}
