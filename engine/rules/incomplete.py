"""Half-typed conditions ("Role is ___"): found in the rule JSON, so the live
preview can leave them out (and say so) while saving still refuses them.

A condition is incomplete when its field, event name or list is not chosen yet, or
its operator needs a value and the value is not there yet: missing / null, an
empty list, a range with an empty end, or "" for an operator other than
eq / ne (an exact match on "" is a complete, if rare, condition; the builder
sends null for an empty box). Paths are the parser's ("all[1].any[0]"), taken
on the rule as written, so they name the builder's rows.
"""
from __future__ import annotations

from engine.rules.fields import VALUELESS
from engine.rules.nodes import GROUP_KEYS


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def is_incomplete(node) -> bool:
    """True for a condition (a dict with "field", "event" or "list") that is half-typed."""
    if not isinstance(node, dict) or any(k in node for k in GROUP_KEYS):
        return False
    if "list" in node and "field" not in node and "event" not in node:
        # The builder sends null until a list is picked; a bad id is the parser's error.
        return node.get("list") is None or _blank(node.get("op"))
    if "field" not in node and "event" not in node:
        return False
    if "field" in node and _blank(node.get("field")):
        return True
    if "event" in node and _blank(node.get("event")):
        return True
    op = node.get("op")
    if _blank(op):
        return True
    if op in VALUELESS:
        return False
    v = node.get("value")
    if v is None or v == []:
        return True
    if isinstance(v, list):
        return any(x is None or (isinstance(x, str) and x.strip() == "") for x in v)
    return isinstance(v, str) and v.strip() == "" and op not in ("eq", "ne")


def _join(path, key):
    return f"{path}.{key}" if path else key


def _strip(node, path, ignored):
    """node without its incomplete conditions (None when nothing is left)."""
    if not isinstance(node, dict):
        return node
    if is_incomplete(node):
        ignored.append(path)
        return None
    for kind in ("all", "any"):
        if kind in node and isinstance(node[kind], list) and len(node) == 1:
            here = _join(path, kind)
            kept = [c for c in (_strip(child, f"{here}[{i}]", ignored)
                                for i, child in enumerate(node[kind])) if c is not None]
            if not kept and node[kind]:
                return None  # every condition of the group is half-typed: ignore the group
            return {kind: kept}
    if "not" in node and len(node) == 1:
        inner = _strip(node["not"], _join(path, "not"), ignored)
        return None if inner is None else {"not": inner}
    return node


def without_incomplete(rule):
    """(rule without its incomplete conditions, [paths of the ones left out]).

    Anything that is not a rule object comes back unchanged (the parser reports
    it). A group emptied by the removal is dropped, so "Any of: Role is ___"
    does not turn into "any of nothing" (nobody)."""
    if not isinstance(rule, dict):
        return rule, []
    ignored: list[str] = []
    body = {k: v for k, v in rule.items() if k != "user_types"}
    kept = _strip(body, "", ignored) if body else body
    out = {"user_types": rule["user_types"]} if "user_types" in rule else {}
    if kept is None:
        out["all"] = []
    else:
        out.update(kept)
    return out, ignored


def is_within(error_path: str, paths) -> bool:
    """Whether a parser error's path lies inside one of these condition paths."""
    return any(error_path == p or error_path.startswith(p + ".") or error_path.startswith(p + "[")
               for p in paths)
