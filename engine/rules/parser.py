"""Rule JSON -> validated AST (engine/rules/nodes.py). Collects every error with
the path of its node ("all[2].value: expected a number")."""
from __future__ import annotations

import math
from datetime import datetime, timezone

from engine.rules.nodes import (
    ATTRIBUTE_KEY, ATTRIBUTE_OP_TYPES, GROUP_KEYS, MAX_CONDITIONS, MAX_DAYS, MAX_DEPTH,
    MAX_IN_VALUES, MAX_TEXT, EventCond, FieldCond, FieldRef, Group, ListCond, Not, Rule,
    RuleError,
)
from engine.rules.fields import COLUMNS, OPERATORS, USER_TYPES, VALUELESS

MAX_NUMBER = 2**63 - 1  # BIGINT: the widest integer both databases compare with
MAX_COUNT = 2**31 - 1  # an event count is compared as an INTEGER
RANGE = f"from {-MAX_NUMBER - 1} to {MAX_NUMBER}"
LEAF_KEYS = ("field", "event", "list")  # what makes an object a condition
LIST_OPS = ("member", "not_member")


def _join(path, key):
    return f"{path}.{key}" if path else key


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _in_range(v):
    """Within what every database column and cast a rule compares with can hold
    (BIGINT on PostgreSQL, INTEGER on SQLite): 10**40, 2**63 or 1e300 would fail in
    the query -- every time the trigger or persona runs -- so they are refused here."""
    return -MAX_NUMBER - 1 <= v <= MAX_NUMBER  # False for NaN


def _is_int(v):
    return _is_number(v) and float(v).is_integer()


def parse_time(value) -> datetime | None:
    """ISO date or datetime -> naive UTC; None if it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().upper())  # "t" and "z" are ISO 8601 too
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


class _Parser:
    def __init__(self):
        self.errors = []
        self.leaf_count = 0
        self.lists: list[ListCond] = []

    def err(self, path, message):
        self.errors.append({"path": path, "message": message})

    def node(self, obj, path, depth):
        if not isinstance(obj, dict):
            self.err(path, "expected an object (a condition, or a group: all / any / not)")
            return None
        groups = [k for k in GROUP_KEYS if k in obj]
        if groups:
            if len(groups) > 1 or any(k in obj for k in LEAF_KEYS):
                self.err(path, "a node is either one group (all / any / not) or one condition")
                return None
            for extra in sorted(set(obj) - {groups[0]}):
                self.err(_join(path, extra), "unknown key")
            return self.group(groups[0], obj[groups[0]], path, depth)
        kinds = [k for k in LEAF_KEYS if k in obj]
        if len(kinds) > 1:
            self.err(path, 'a condition has one of "field", "event" or "list", not several')
            return None
        if "field" in obj:
            return self.field_cond(obj, path)
        if "event" in obj:
            return self.event_cond(obj, path)
        if "list" in obj:
            return self.list_cond(obj, path)
        self.err(path, 'expected a condition ("field", "event" or "list") or a group '
                       '(all / any / not)')
        return None

    def group(self, kind, body, path, depth):
        here = _join(path, kind)
        if depth >= MAX_DEPTH:
            self.err(here, f"nested too deeply (at most {MAX_DEPTH} levels of groups)")
            return None
        if kind == "not":
            child = self.node(body, here, depth + 1)
            return Not(path, child) if child is not None else None
        if not isinstance(body, list):
            self.err(here, "expected a list of conditions")
            return None
        children = [self.node(item, f"{here}[{i}]", depth + 1) for i, item in enumerate(body)]
        return Group(path, kind, [c for c in children if c is not None])

    def _keys(self, obj, path, allowed):
        for extra in sorted(set(obj) - set(allowed)):
            self.err(_join(path, extra), "unknown key")

    def field_cond(self, obj, path):
        self.leaf_count += 1
        self._keys(obj, path, ("field", "op", "value"))
        ref = self.field_ref(obj.get("field"), _join(path, "field"))
        op = obj.get("op")
        op_path = _join(path, "op")
        if not isinstance(op, str) or not op:
            self.err(op_path, "expected an operator")
            return None
        if ref is None:
            return None
        typ = ref.type
        if ref.column is None:  # custom attribute: type from operator and value
            typ = ATTRIBUTE_OP_TYPES.get(op)
            if op in ("eq", "ne"):
                v = obj.get("value")
                typ = "number" if _is_number(v) else "text" if isinstance(v, str) else None
                if typ is None:
                    self.err(_join(path, "value"), "expected a text or a number")
                    return None
            if typ is None:
                self.err(op_path, f'unknown operator "{op}"')
                return None
            ref = FieldRef(ref.path, ref.entity, None, ref.key, typ)
        elif op not in OPERATORS[typ]:
            self.err(op_path, f'operator "{op}" does not apply to {typ} field {ref.path} '
                              f'(use one of: {", ".join(OPERATORS[typ])})')
            return None
        value = self.value(typ, op, obj.get("value"), _join(path, "value"), "value" in obj)
        if value is _BAD:
            return None
        return FieldCond(path, ref, op, value)

    def field_ref(self, name, path):
        if not isinstance(name, str) or not name:
            self.err(path, "expected a field name such as contact.role")
            return None
        entity, _, rest = name.partition(".")
        if entity in ("contact", "account") and rest.startswith("attributes."):
            key = rest[len("attributes."):]
            if not ATTRIBUTE_KEY.match(key):
                self.err(path, "custom attribute keys use letters, digits, _ and - (max 64)")
                return None
            return FieldRef(name, entity, None, key, "any")
        if (entity, rest) not in COLUMNS:
            self.err(path, f'unknown field "{name}"')
            return None
        return FieldRef(name, entity, rest, None, COLUMNS[(entity, rest)][0])

    def value(self, typ, op, v, path, present):
        if op in VALUELESS:
            return None  # ignored (the builder may send "" for these)
        if not present or v is None:
            self.err(path, "a value is required")
            return _BAD
        if typ == "text":
            if op in ("in", "not_in"):
                return self.text_list(v, path)
            if not isinstance(v, str):
                self.err(path, "expected a text")
                return _BAD
            if len(v) > MAX_TEXT:
                self.err(path, f"text too long (at most {MAX_TEXT} characters)")
                return _BAD
            if op in ("contains", "starts_with") and v == "":
                self.err(path, "expected a non-empty text")
                return _BAD
            return v
        if typ == "number":
            if op == "between":
                if not (isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)):
                    self.err(path, "expected [low, high] numbers")
                    return _BAD
                if not all(_in_range(x) for x in v):
                    self.err(path, f"numbers must be {RANGE}")
                    return _BAD
                if v[0] > v[1]:
                    self.err(path, "low must not be greater than high")
                    return _BAD
                return (v[0], v[1])
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                self.err(path, "expected a number")
                return _BAD
            if not _in_range(v):  # also infinity (JSON 1e400) and NaN
                self.err(path, f"the number must be {RANGE}")
                return _BAD
            return v
        if typ == "time":
            if op in ("before", "after"):
                parsed = parse_time(v)
                if parsed is None:
                    self.err(path, "expected a date or date-time (ISO 8601, e.g. 2026-01-05)")
                    return _BAD
                return parsed
            return self.days(v, path, minimum=0)
        self.err(path, "unexpected value")
        return _BAD

    def text_list(self, v, path):
        if not isinstance(v, list) or not v:
            self.err(path, "expected a non-empty list of texts")
            return _BAD
        if len(v) > MAX_IN_VALUES:
            self.err(path, f"too many values ({len(v)}; at most {MAX_IN_VALUES})")
            return _BAD
        bad = [i for i, x in enumerate(v) if not isinstance(x, str) or len(x) > MAX_TEXT]
        for i in bad[:5]:
            self.err(f"{path}[{i}]", "expected a text")
        return _BAD if bad else list(dict.fromkeys(v))

    def days(self, v, path, minimum):
        if not _is_int(v) or not minimum <= v <= MAX_DAYS:
            self.err(path, f"expected a whole number of days from {minimum} to {MAX_DAYS}")
            return _BAD
        return int(v)

    def event_cond(self, obj, path):
        self.leaf_count += 1
        self._keys(obj, path, ("event", "op", "value", "within_days"))
        name, op, v = obj.get("event"), obj.get("op"), obj.get("value")
        ok = True
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            self.err(_join(path, "event"), "expected an event name (at most 128 characters)")
            ok = False
        if op not in OPERATORS["event"]:
            self.err(_join(path, "op"), f'expected one of: {", ".join(OPERATORS["event"])}')
            return None
        vpath = _join(path, "value")
        if op == "dropped_by_pct":
            if not _is_number(v) or not 0 <= v <= 100:
                self.err(vpath, "expected a percentage from 0 to 100")
                ok = False
        elif not _is_int(v) or v < 0:
            self.err(vpath, "expected a whole number of events (0 or more)")
            ok = False
        elif v > MAX_COUNT:  # counts are compared as INTEGER: PostgreSQL refuses more
            self.err(vpath, f"the number of events must be from 0 to {MAX_COUNT}")
            ok = False
        within = obj.get("within_days")
        wpath = _join(path, "within_days")
        if within is None:
            if op == "dropped_by_pct":
                self.err(wpath, "dropped_by_pct needs within_days (the window length)")
                ok = False
        elif self.days(within, wpath, minimum=1) is _BAD:
            ok = False
        if not ok:
            return None
        value = v if op == "dropped_by_pct" else int(v)
        return EventCond(path, name, op, value, int(within) if within is not None else None)


    def list_cond(self, obj, path):
        """{"list": id, "op": "member" | "not_member"}; whether the list exists is
        checked once for the whole rule (parse's list_names)."""
        self.leaf_count += 1
        self._keys(obj, path, ("list", "op"))
        list_id, op = obj.get("list"), obj.get("op")
        ok = True
        if list_id is None:
            self.err(_join(path, "list"), "choose a list")
            ok = False
        elif not (isinstance(list_id, int) and not isinstance(list_id, bool)
                and 0 < list_id <= MAX_NUMBER):
            self.err(_join(path, "list"), "expected the id of a list (a whole number)")
            ok = False
        if op not in LIST_OPS:
            self.err(_join(path, "op"), f'expected one of: {", ".join(LIST_OPS)}')
            ok = False
        if not ok:
            return None
        node = ListCond(path, list_id, op)
        self.lists.append(node)
        return node

    def check_lists(self, list_names):
        """One look-up for every list the rule names; an unknown id is an error at
        the node's "list" key ("all[2].list")."""
        if not self.lists or list_names is None:
            return
        names = list_names(sorted({n.list_id for n in self.lists}))
        for n in self.lists:
            if n.list_id in names:
                n.name = names[n.list_id]
            else:
                self.err(_join(n.path, "list"), f"no list with id {n.list_id}")


_BAD = object()


def parse(rule, list_names=None) -> Rule:
    """list_names(ids) -> {id: name} of the lists that exist (engine/rules/lists.py);
    None skips the existence check (only for callers that check it themselves)."""
    p = _Parser()
    if not isinstance(rule, dict):
        raise RuleError([{"path": "", "message": "expected a JSON object"}])
    user_types = rule.get("user_types")
    if user_types is not None:
        if not isinstance(user_types, list):
            p.err("user_types", "expected a list of user types")
        else:
            for i, t in enumerate(user_types):
                if t not in USER_TYPES:
                    p.err(f"user_types[{i}]", f'unknown user type (use: {", ".join(USER_TYPES)})')
            user_types = tuple(dict.fromkeys(t for t in user_types if t in USER_TYPES))
    body = {k: v for k, v in rule.items() if k != "user_types"}
    if not body:
        root = Group("", "all", [])
    elif any(k in body for k in GROUP_KEYS + LEAF_KEYS):
        root = p.node(body, "", 0)
    else:
        for k in sorted(body):
            p.err(k, "unknown key")
        root = None
    p.check_lists(list_names)
    if p.leaf_count > MAX_CONDITIONS:
        p.err("", f"too many conditions ({p.leaf_count}; at most {MAX_CONDITIONS})")
    if p.errors:
        raise RuleError(p.errors)
    return Rule(user_types if isinstance(user_types, tuple) else None, root, rule)
