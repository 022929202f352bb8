"""Rule AST -> ONE set-based SQLAlchemy select over contacts JOIN accounts.

NULLs: a comparison on a missing value must be false, also under `not`.
Under an even number of `not`s a bare comparison already behaves so (SQL's
NULL is not true, and AND / OR are monotone), and it keeps the planner's row
estimates honest; under an odd number the compiler adds explicit IS NOT NULL
guards, so the negation of "NULL > 5" is true, as in the Python reference.
JSON-attribute conditions are always guarded by their (never NULL) kind.

Event conditions are `contact IN (grouped subquery over events)` -- one scan
of the (name, occurred_at, contact_id) index per condition instead of one
lookup per contact; the operators that include a count of 0 use NOT IN.
Windows of ROLLUP_MIN_DAYS days or more (and all-time counts) read the daily
rollup (event_days) for their whole UTC days and raw events only for the
partial edge days -- exact, see Compiler.event_from_rollup.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import (
    Date, DateTime, String, and_, bindparam, case, false, func, literal, literal_column, not_,
    or_, select, true, union_all,
)

from engine.rules.nodes import EventCond, FieldCond, Group, ListCond, Not, Rule
from engine.rules.fields import column_for
from engine.rules.attributes import (
    ISO_SECONDS, ascii_lower, attr, iso_normalized, iso_shaped, text_contains,
)

DEFAULT_INACTIVE_AFTER_DAYS = 30
# Event conditions read the daily rollup when this is on (tests switch it off to
# prove both compile paths agree) and the window spans at least this many days:
# a 1-2 day window is mostly its two partial edge days, read from raw events anyway.
EVENT_ROLLUPS = True
ROLLUP_MIN_DAYS = 3
MICROSECOND = timedelta(microseconds=1)


def inactive_days(value=None) -> int:
    if value is not None:
        return int(value)
    try:
        from flask import current_app

        return int(current_app.config.get("INACTIVE_AFTER_DAYS", DEFAULT_INACTIVE_AFTER_DAYS))
    except RuntimeError:  # outside an app context
        return DEFAULT_INACTIVE_AFTER_DAYS


class Compiler:
    """Compiles one rule as of `now`. only_contact narrows the event
    subqueries to one contact (the explainer), without changing the logic."""

    def __init__(self, now: datetime, *, inactive_after_days=None, only_contact=None,
                 now_params=False, event_rollups=None):
        from models import Account, Contact, Event, EventDay

        self.now = now
        # now_params: every instant derived from `now` becomes a named parameter
        # (listed in now_values) so a built statement can be reused at a later now.
        self.now_params = now_params
        self.now_values = []  # (parameter key, days before now, as ISO text?)
        self.now_derived = []  # (parameter key, function of now -> value): rollup bounds
        self.event_rollups = EVENT_ROLLUPS if event_rollups is None else event_rollups
        self.EventDay = EventDay.__table__.c
        self.inactive_after = inactive_days(inactive_after_days)
        self.only_contact = only_contact
        # Core table columns, not ORM attributes: building the statement on
        # every keystroke of the live preview is measurably cheaper this way.
        self.tables = (Contact.__table__, Account.__table__)
        self.Contact, self.Account, self.Event = (
            Contact.__table__.c, Account.__table__.c, Event.__table__.c)
        self.negated = False  # inside an odd number of `not`s

    def at(self, days_back, as_text=False):
        """now - days_back days (ISO text for custom attributes when as_text)."""
        value = self.now - timedelta(days=days_back)
        if as_text:
            value = value.strftime(ISO_SECONDS)
        if not self.now_params:
            return value
        key = f"rule_now_{len(self.now_values)}"
        self.now_values.append((key, days_back, as_text))
        return bindparam(key, value, type_=String() if as_text else DateTime())

    # -- user types ---------------------------------------------------------
    def user_types(self, types):
        if types is None:
            return true()
        C, A = self.Contact, self.Account
        cutoff = self.at(self.inactive_after)
        checks = {
            "product_user": C.is_product_user.is_(True),
            "crm_contact": C.is_crm_contact.is_(True),
            "inactive": or_(C.last_seen_at.is_(None), C.last_seen_at < cutoff),
            "churned_account": A.status == "churned",
        }
        return or_(false(), *(checks[t] for t in types))

    # -- tree ---------------------------------------------------------------
    def node(self, node):
        if isinstance(node, Group):
            parts = [self.node(c) for c in node.children]
            if node.kind == "all":
                return and_(true(), *parts)
            return or_(false(), *parts)
        if isinstance(node, Not):
            self.negated = not self.negated
            try:
                return not_(self.node(node.child))
            finally:
                self.negated = not self.negated
        if isinstance(node, EventCond):
            return self.event(node)
        if isinstance(node, ListCond):
            return list_membership(node, self.Contact.id)
        return self.field(node)

    # -- fields -------------------------------------------------------------
    def field(self, n: FieldCond):
        ref = n.field
        if ref.column is not None:
            col = column_for(ref.entity, ref.column)
            # A bare `col > v` is NULL for a NULL col: fine unless negated (see top).
            present = col.is_not(None) if self.negated else None
            return self.typed(ref.type, n.op, n.value, col, present)
        model = self.Contact if ref.entity == "contact" else self.Account
        kind, text, number = attr(model.attributes, ref.key)
        if ref.type == "any":
            unset = or_(kind.in_(("null", "missing")), and_(kind == "string", text == ""))
            return not_(unset) if n.op == "is_set" else unset
        if ref.type == "boolean":
            return kind == ("true" if n.op == "is_true" else "false")
        if ref.type == "number":
            return self.typed("number", n.op, n.value, number, kind == "number")
        if ref.type == "time":
            guard = and_(kind == "string", iso_shaped(text))
            return self.attr_time(n.op, n.value, iso_normalized(text), guard)
        return self.typed("text", n.op, n.value, text, kind == "string")

    def typed(self, typ, op, v, col, present):
        """A comparison on `col`, false whenever `present` is false; present
        None means "no guard needed" (a plain column, not negated)."""
        if op in ("is_set", "is_not_set"):
            is_set = col.is_not(None) if present is None else present
            if typ == "text":
                is_set = and_(is_set, col != "")
            return is_set if op == "is_set" else not_(is_set)
        if typ == "boolean":
            cmp = col.is_(op == "is_true")  # IS never yields NULL
        elif typ == "time":
            cmp = self.time_cmp(op, v, col)
        else:
            cmp = _compare(op, v, col)
        return cmp if present is None else and_(present, cmp)

    def time_cmp(self, op, v, col):
        if op == "before":
            return col < v
        if op == "after":
            return col > v
        if op == "older_than_days":
            return col < self.at(v)
        return and_(col >= self.at(v), col <= self.at(0))

    def attr_time(self, op, v, norm, guard):
        if op in ("before", "after"):
            text = v.strftime(ISO_SECONDS)
            cmp = norm < text if op == "before" else norm > text
        elif op == "older_than_days":
            cmp = norm < self.at(v, as_text=True)
        else:
            cmp = and_(norm >= self.at(v, as_text=True), norm <= self.at(0, as_text=True))
        return and_(guard, cmp)

    # -- events -------------------------------------------------------------
    def event_counts(self, n: EventCond):
        """(current count, previous-window count) aggregate expressions + the
        WHERE of the events scanned, for a grouped subquery."""
        E = self.Event
        cond = [E.name == n.event, E.occurred_at <= self.at(0)]
        if self.only_contact is not None:
            cond.append(E.contact_id == self.only_contact)
        if n.within_days is None:
            return func.count(), None, cond
        since = self.at(n.within_days)
        if n.op != "dropped_by_pct":
            return func.count(), None, cond + [E.occurred_at > since]
        prev_start = self.at(2 * n.within_days)
        prev = func.sum(case((E.occurred_at <= since, 1), else_=0))
        return func.count() - prev, prev, cond + [E.occurred_at > prev_start]

    def event(self, n: EventCond):
        if self.uses_rollup(n):
            return self.event_from_rollup(n)
        E = self.Event
        cur, prev, where = self.event_counts(n)
        cid = self.Contact.id

        def having(h):
            sub = select(E.contact_id).where(*where).group_by(E.contact_id).having(h)
            return cid.in_(sub)

        v = n.value
        if n.op == "dropped_by_pct":
            # Aggregate once per contact in a subquery, then compare: repeating
            # sum(...) in HAVING would be computed again per use on SQLite.
            counts = select(E.contact_id.label("cid"), func.count().label("n"),
                            prev.label("prev")).where(*where).group_by(E.contact_id).subquery()
            c_prev, c_cur = counts.c.prev, counts.c.n - counts.c.prev
            return cid.in_(select(counts.c.cid).where(
                c_prev > 0, (c_prev - c_cur) * 100 >= c_prev * float(v)))
        return count_condition(n.op, v, cur, having)

    # -- events from the daily rollup ---------------------------------------
    def uses_rollup(self, n: EventCond) -> bool:
        return self.event_rollups and (n.within_days is None or n.within_days >= ROLLUP_MIN_DAYS)

    def derived(self, fn, type_):
        """A value computed from `now` (a parameter recomputed at a later now when
        now_params is on, like at())."""
        if not self.now_params:
            return fn(self.now)
        key = f"rule_now_d{len(self.now_derived)}"
        self.now_derived.append((key, fn))
        return bindparam(key, fn(self.now), type_=type_)

    def window_counts_from_rollup(self, n: EventCond):
        """A subquery (cid, w1[, w2]) of per-contact event counts in the windows
        (b0, b1] [and (b1, b2]] -- b_j = now - (m - j) * within_days, m windows,
        b0 = the beginning of time for an all-time count -- read from the rollup.

        Every boundary b has the same time of day (the windows are whole days
        long), so every boundary's UTC day is split the same way: when b is in
        the first half of its day that day is counted with the window after b and
        the events of [day start, b] are moved, from raw events, to the window
        before; otherwise the day counts with the window before b and the events
        of (b, next day start) move to the window after. Exact for any `now`
        (also a cached statement's later one), and at most half a day of raw
        events per boundary; the window before b0 / after now is not counted,
        so only the moves into and out of b0's and now's days remain."""
        E, R = self.Event, self.EventDay
        dropped = n.op == "dropped_by_pct"
        m = 2 if dropped else 1
        if n.within_days is None:  # all time up to now: only the boundary now
            days_back = [None, 0]
        else:
            days_back = [(m - j) * n.within_days for j in range(m + 1)]
        # Chosen once, from this `now`: a later now keeps the (still exact) split.
        into_next = self.now.time() < time(12)
        shift = 0 if into_next else 1  # day of the boundary counted with the window after it?

        def bound(j):  # b_j as a function of now
            return lambda now, k=days_back[j]: now - timedelta(days=k)

        def day_of(j, plus):
            return self.derived(lambda now, b=bound(j): b(now).date() + timedelta(days=plus), Date())

        def contact_filter(col):
            return [] if self.only_contact is None else [col == self.only_contact]

        zero = literal_column("0")
        parts = []
        for j in range(1, m + 1):  # whole days of window j
            cols = [R.contact_id.label("cid")] + [
                (R["count"] if w == j else zero).label(f"w{w}") for w in range(1, m + 1)]
            where = [R.name == n.event, R.day <= day_of(j, shift - 1)]
            if days_back[j - 1] is not None:
                where.append(R.day >= day_of(j - 1, shift))
            parts.append(select(*cols).where(*where, *contact_filter(R.contact_id)))
        sign = 1 if into_next else -1
        for j in range(m + 1):  # the events moved across boundary j
            if days_back[j] is None:
                continue
            b = bound(j)
            if into_next:  # [day start, b]
                lo = lambda now, b=b: datetime.combine(b(now).date(), time())
                hi = b
            else:  # (b, next day start), as a closed range of microsecond stamps
                lo = lambda now, b=b: b(now) + MICROSECOND
                hi = lambda now, b=b: (datetime.combine(b(now).date(), time())
                                       + timedelta(days=1) - MICROSECOND)
            delta = {j: sign, j + 1: -sign}
            cols = [E.contact_id.label("cid")] + [
                literal_column(str(delta.get(w, 0))).label(f"w{w}") for w in range(1, m + 1)]
            parts.append(select(*cols).where(
                E.name == n.event, E.occurred_at >= self.derived(lo, DateTime()),
                E.occurred_at <= self.derived(hi, DateTime()), *contact_filter(E.contact_id)))
        rows = union_all(*parts).subquery()
        return select(rows.c.cid, *(func.sum(rows.c[f"w{w}"]).label(f"w{w}")
                                    for w in range(1, m + 1))).group_by(rows.c.cid).subquery()

    def event_from_rollup(self, n: EventCond):
        """The same truth as event(), with counts from window_counts_from_rollup. A
        contact can have a group with count 0 there (a day's rollup minus its
        moved events): every operator below only selects groups with count > 0,
        or negates such a set, so that changes nothing."""
        counts = self.window_counts_from_rollup(n)
        cid, v = self.Contact.id, n.value
        if n.op == "dropped_by_pct":
            c_prev, c_cur = counts.c.w1, counts.c.w2
            return cid.in_(select(counts.c.cid).where(
                c_prev > 0, (c_prev - c_cur) * 100 >= c_prev * float(v)))
        cur = counts.c.w1

        def having(h):
            return cid.in_(select(counts.c.cid).where(h))

        return count_condition(n.op, v, cur, having)

    # -- whole rule ---------------------------------------------------------
    def where(self, rule: Rule):
        return and_(self.user_types(rule.user_types), self.node(rule.root))

    def base(self, *columns):
        contacts, accounts = self.tables
        return select(*columns).select_from(
            contacts.join(accounts, accounts.c.id == contacts.c.account_id))


def _compare(op, v, col):
    if op == "eq":
        return col == v
    if op == "ne":
        return col != v
    if op == "gt":
        return col > v
    if op == "gte":
        return col >= v
    if op == "lt":
        return col < v
    if op == "lte":
        return col <= v
    if op == "between":
        return and_(col >= v[0], col <= v[1])
    if op in ("in", "not_in"):
        # One bound parameter per value: no "expanding" IN, whose per-execution
        # rewrite of the SQL text costs more than these queries on small data.
        values = [literal(x, String()) for x in v]
        return col.in_(values) if op == "in" else col.not_in(values)
    if op == "contains":
        return text_contains(ascii_lower(col), _ascii_lower(v))
    if op == "starts_with":
        return func.substr(ascii_lower(col), 1, len(v)) == _ascii_lower(v)
    raise ValueError(f"unsupported operator {op}")


def _ascii_lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def count_condition(op: str, v, cur, having):
    """A count_* operator over a per-contact count `cur` of a grouped set, where
    having(h) = "contact in the groups where h". Contacts without events in the
    window have count 0 and no group: each operator is IN / NOT IN of a group set
    that never needs count 0."""
    if op == "count_gte":
        return true() if v <= 0 else having(cur >= v)
    if op == "count_gt":
        return having(cur > v)
    if op == "count_lte":
        return not_(having(cur > v))
    if op == "count_lt":
        return false() if v <= 0 else not_(having(cur >= v))
    return not_(having(cur >= 1)) if v == 0 else having(cur == v)


def list_membership(n: ListCond, contact_id):
    """{"list": id, "op": "member" | "not_member"} as [NOT] EXISTS on list_members:
    a semi- / anti-join on the (list_id, contact_id) primary key. EXISTS is never
    NULL, so it needs no guard under `not`."""
    from models import ListMember

    members = ListMember.__table__.c
    member = select(literal(1)).where(
        members.list_id == n.list_id, members.contact_id == contact_id).exists()
    return member if n.op == "member" else not_(member)


def compile_select(rule: Rule, now: datetime, *, inactive_after_days=None, event_rollups=None):
    comp = Compiler(now, inactive_after_days=inactive_after_days, event_rollups=event_rollups)
    C = comp.Contact
    return comp.base(C.id.label("contact_id"), C.account_id.label("account_id")).where(
        comp.where(rule))


def unknown_event_names(names) -> list[str]:
    """The names no stored event has. One index seek per name (a rule has at most
    100 conditions), instead of grouping every event of the names it uses."""
    from extensions import db
    from models import Event

    return [name for name in dict.fromkeys(names) if db.session.execute(
        select(Event.id).where(Event.name == name).limit(1)).first() is None]
