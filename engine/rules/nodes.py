"""The rule AST (the parser is engine/rules/parser.py) and the format's limits."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_IN_VALUES = 1000
MAX_DEPTH = 8
MAX_CONDITIONS = 100
MAX_TEXT = 1000
MAX_DAYS = 36500
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")
GROUP_KEYS = ("all", "any", "not")

# Custom attributes have no declared type: the operator (and for eq/ne the
# value) decides which JSON values a condition can match.
ATTRIBUTE_OP_TYPES = {
    "is_true": "boolean", "is_false": "boolean",
    "gt": "number", "gte": "number", "lt": "number", "lte": "number", "between": "number",
    "in": "text", "not_in": "text", "contains": "text", "starts_with": "text",
    "before": "time", "after": "time", "older_than_days": "time", "within_last_days": "time",
    "is_set": "any", "is_not_set": "any",
}


class RuleError(ValueError):
    """A rule that cannot be used. .errors: [{"path", "message"}] (every problem found)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(f"{e['path'] or '(rule)'}: {e['message']}" for e in self.errors))


@dataclass(frozen=True)
class FieldRef:
    path: str            # "account.arr", "contact.attributes.beta"
    entity: str          # contact | account
    column: str | None   # model column, None for a custom attribute
    key: str | None      # custom attribute key
    type: str            # text | number | boolean | time | any


@dataclass
class FieldCond:
    path: str  # the JSON location of the node ("all[2]", "" for the root)
    field: FieldRef
    op: str
    value: object = None  # str | float | int | list | datetime | (lo, hi) | None


@dataclass
class EventCond:
    path: str
    event: str
    op: str
    value: float | int
    within_days: int | None


@dataclass
class ListCond:
    """{"list": <ContactList id>, "op": "member" | "not_member"}."""
    path: str
    list_id: int
    op: str
    name: str | None = None  # the list's name when the rule was checked (for the explainer)


@dataclass
class Group:
    path: str
    kind: str  # all | any
    children: list = field(default_factory=list)


@dataclass
class Not:
    path: str
    child: object


@dataclass
class Rule:
    user_types: tuple | None  # None = not restricted by type; () = nobody
    root: object              # Group | Not | FieldCond | EventCond | ListCond
    source: dict = field(default_factory=dict)

    def leaves(self):
        return [n for n in walk(self.root) if isinstance(n, LEAF_TYPES)]

    def event_names(self) -> list[str]:
        return list(dict.fromkeys(n.event for n in self.leaves() if isinstance(n, EventCond)))

    def list_ids(self) -> list[int]:
        return list(dict.fromkeys(n.list_id for n in self.leaves() if isinstance(n, ListCond)))

    def field_paths(self) -> list[str]:
        return list(dict.fromkeys(n.field.path for n in self.leaves() if isinstance(n, FieldCond)))


LEAF_TYPES = (FieldCond, EventCond, ListCond)


def walk(node):
    """Pre-order: a group before its children."""
    yield node
    if isinstance(node, Group):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Not):
        yield from walk(node.child)
