"""A plain-Python evaluator of the rule format, written straight from the
semantics in engine/rules/__init__.py's docstring and independent of the compiler
(it reads the raw rule JSON). The property test compares the two."""
from datetime import datetime, timedelta

MISSING = object()
ISO_TEMPLATE = "0000-00-00 00:00:00"
ATTRIBUTE_OP_TYPES = {
    "is_true": "boolean", "is_false": "boolean", "gt": "number", "gte": "number",
    "lt": "number", "lte": "number", "between": "number", "in": "text", "not_in": "text",
    "contains": "text", "starts_with": "text", "before": "time", "after": "time",
    "older_than_days": "time", "within_last_days": "time", "is_set": "any", "is_not_set": "any",
}
COLUMN_TYPES = {
    "arr": "number", "is_crm_contact": "boolean", "is_product_user": "boolean",
    "created_at": "time", "last_seen_at": "time", "unsubscribed_at": "time",
}


def ascii_lower(s):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def to_time(text):
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = (parsed - parsed.utcoffset()).replace(tzinfo=None)
    return parsed


def iso_norm(s):
    cut = s[:19].replace("T", " ")
    return cut + ISO_TEMPLATE[len(cut):]


def iso_shaped(s):
    return "".join("0" if c in "123456789" else c for c in s[:10]) == "0000-00-00"


class Reference:
    def __init__(self, accounts, contacts, events, now, inactive_after_days=30, list_members=()):
        self.accounts = {a["id"]: a for a in accounts}
        self.contacts = contacts
        self.events = events
        # {(list_id, contact_id)}: who is in which list now.
        self.list_members = {(m["list_id"], m["contact_id"]) for m in list_members}
        self.now = now
        self.inactive_after = inactive_after_days

    def matching_ids(self, rule) -> set:
        return {c["id"] for c in self.contacts if self.matches(rule, c)}

    def matches(self, rule, contact) -> bool:
        account = self.accounts[contact["account_id"]]
        if not self.user_type_ok(rule.get("user_types"), contact, account):
            return False
        body = {k: v for k, v in rule.items() if k != "user_types"}
        return self.node(body, contact, account) if body else True

    def user_type_ok(self, types, c, a):
        if types is None:
            return True
        cutoff = self.now - timedelta(days=self.inactive_after)
        own = {
            "product_user": c["is_product_user"] is True,
            "crm_contact": c["is_crm_contact"] is True,
            "inactive": c["last_seen_at"] is None or c["last_seen_at"] < cutoff,
            "churned_account": a["status"] == "churned",
        }
        return any(own[t] for t in types)

    def node(self, n, c, a):
        if "all" in n:
            return all(self.node(x, c, a) for x in n["all"])
        if "any" in n:
            return any(self.node(x, c, a) for x in n["any"])
        if "not" in n:
            return not self.node(n["not"], c, a)
        if "event" in n:
            return self.event(n, c)
        if "list" in n:
            member = (n["list"], c["id"]) in self.list_members
            return member if n["op"] == "member" else not member
        return self.field(n, c, a)

    # -- fields ---------------------------------------------------------------
    def field(self, n, c, a):
        entity, _, rest = n["field"].partition(".")
        row = c if entity == "contact" else a
        op, val = n["op"], n.get("value")
        if rest.startswith("attributes."):
            attrs = row["attributes"] if isinstance(row["attributes"], dict) else {}
            raw = attrs.get(rest[len("attributes."):], MISSING)
            typ = ATTRIBUTE_OP_TYPES.get(op) or ("number" if is_number(val) else "text")
            if typ == "any":
                unset = raw is MISSING or raw is None or raw == ""
                return not unset if op == "is_set" else unset
            if typ == "boolean":
                return raw is (op == "is_true")
            if typ == "number":
                return is_number(raw) and self.compare(op, val, raw)
            if typ == "text":
                return self.text(op, val, raw if isinstance(raw, str) else None)
            if not (isinstance(raw, str) and iso_shaped(raw)):
                return False
            return self.attr_time(op, val, iso_norm(raw))
        value = row[rest]
        typ = COLUMN_TYPES.get(rest, "text")
        if typ == "text":
            return self.text(op, val, value)
        if typ == "boolean":
            return value is not None and bool(value) is (op == "is_true")
        if typ == "number":
            return value is not None and self.compare(op, val, value)
        if op == "is_set":
            return value is not None
        if op == "is_not_set":
            return value is None
        return value is not None and self.time(op, val, value)

    def text(self, op, val, value):
        if op == "is_set":
            return value is not None and value != ""
        if op == "is_not_set":
            return value is None or value == ""
        if value is None:
            return False
        if op == "contains":
            return ascii_lower(val) in ascii_lower(value)
        if op == "starts_with":
            return ascii_lower(value).startswith(ascii_lower(val))
        return self.compare(op, val, value)

    @staticmethod
    def compare(op, val, value):
        if op == "eq":
            return value == val
        if op == "ne":
            return value != val
        if op == "in":
            return value in val
        if op == "not_in":
            return value not in val
        if op == "between":
            return val[0] <= value <= val[1]
        return {"gt": value > val, "gte": value >= val, "lt": value < val,
                "lte": value <= val}[op]

    def time(self, op, val, value):
        if op == "before":
            return value < to_time(val)
        if op == "after":
            return value > to_time(val)
        if op == "older_than_days":
            return value < self.now - timedelta(days=val)
        return self.now - timedelta(days=val) <= value <= self.now

    def attr_time(self, op, val, norm):
        fmt = lambda d: d.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
        if op == "before":
            return norm < fmt(to_time(val))
        if op == "after":
            return norm > fmt(to_time(val))
        if op == "older_than_days":
            return norm < fmt(self.now - timedelta(days=val))
        return fmt(self.now - timedelta(days=val)) <= norm <= fmt(self.now)

    # -- events ---------------------------------------------------------------
    def count(self, contact_id, name, start, end):
        return sum(1 for e in self.events if e["contact_id"] == contact_id and e["name"] == name
                   and (start is None or e["occurred_at"] > start) and e["occurred_at"] <= end)

    def event(self, n, c):
        days, now, v = n.get("within_days"), self.now, n["value"]
        start = now - timedelta(days=days) if days is not None else None
        cur = self.count(c["id"], n["event"], start, now)
        if n["op"] == "dropped_by_pct":
            prev = self.count(c["id"], n["event"], now - timedelta(days=2 * days), start)
            return prev > 0 and (prev - cur) * 100 >= prev * float(v)
        return {"count_eq": cur == v, "count_gt": cur > v, "count_gte": cur >= v,
                "count_lt": cur < v, "count_lte": cur <= v}[n["op"]]
