"""The visual rule builder's model: rule JSON <-> the tree the builder renders.

Reuse it in any form (personas now, the trigger wizard later):

    from blueprints.rules.builder import builder_context, read_rule_field
    ctx = builder_context(rule_dict_or_json_text, prefix="rule-")      # in the view
    {% with rb=ctx %}{% include "rules/_builder.html" %}{% endwith %}  # in the form
    rule, errors = read_rule_field(request.form, prefix="rule-")      # on submit

The form then carries the rule as JSON in the field "<prefix>rule_json"
(the builder's JSON tab is that very textarea; static/rule_builder.js keeps it
in step with the visual builder). A visual tree is:

    {"user_types": [...], "main": Group, "account_enabled": bool, "account": [Cond]}
    Group = {"kind": "group", "mode": "all|any|none|notall", "children": [node]}
    Cond  = {"kind": "cond", "field": "contact.role" | "event:<name>" | "list", "op", "value",
             "within_days"}          (a "list" condition's value is the list id)

"none" is {"not": {"any": [...]}}, "notall" is {"not": {"all": [...]}}; a bare
{"not": condition} becomes a one-condition "none" group (same meaning). Plain
account.* conditions at the top of the rule's "all" form the "account rule"
section; on save they are appended to the same "all".
"""
import json
import re
import uuid

from engine.rules.fields import OPERATOR_LABELS, OPERATORS, USER_TYPE_LABELS, USER_TYPES, VALUELESS

GROUP_MODES = (("all", "All of"), ("any", "Any of"), ("none", "None of"), ("notall", "Not all of"))
DEFAULT_USER_TYPES = ["product_user", "crm_contact"]
DEFAULT_FIELD = {"user": "contact.role", "account": "account.arr"}
GROUP_ORDER = ("Contact", "Account", "Custom attributes", "Events", "Lists")
LIST_FIELD = "list"  # the builder's field for {"list": id, "op": "member" | "not_member"}


def empty_rule() -> dict:
    return {"user_types": list(DEFAULT_USER_TYPES), "all": []}


def rule_to_json_text(rule) -> str:
    return json.dumps(rule, indent=2, ensure_ascii=False, default=str)


def read_rule_field(form, prefix: str = ""):
    """(rule dict | None, errors [{path, message}]) from the submitted "<prefix>rule_json"."""
    from engine.rules import RuleError, parse_rule

    text = (form.get(f"{prefix}rule_json") or "").strip()
    if not text:
        return None, [{"path": "", "message": "the rule is empty"}]
    try:
        rule = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested beyond what json can read
        return None, [{"path": "", "message": f"malformed JSON: {exc}"}]
    try:
        parse_rule(rule)
    except RuleError as exc:
        return rule, exc.errors
    return rule, []


# ---------------------------------------------------------------- JSON -> tree

def _is_cond(node) -> bool:
    return isinstance(node, dict) and ("field" in node or "event" in node or "list" in node)


def _cond(node) -> dict:
    if "list" in node and "field" not in node and "event" not in node:
        return {"kind": "cond", "field": LIST_FIELD, "op": node.get("op"),
                "value": node.get("list"), "within_days": None}
    field = f"event:{node['event']}" if "event" in node else node.get("field")
    return {"kind": "cond", "field": field, "op": node.get("op"), "value": node.get("value"),
            "within_days": node.get("within_days")}


def _group(mode, children) -> dict:
    return {"kind": "group", "mode": mode, "children": [_node(c) for c in children]}


def _node(node) -> dict:
    if _is_cond(node):
        return _cond(node)
    if "all" in node:
        return _group("all", node["all"])
    if "any" in node:
        return _group("any", node["any"])
    if "not" not in node:  # e.g. {"op": "eq"}: no field, no group (would recurse forever below)
        raise ValueError("not a rule node")
    inner = node["not"]
    if isinstance(inner, dict) and "not" in inner:  # double negation
        return _node(inner["not"])
    if isinstance(inner, dict) and "all" in inner:
        return _group("notall", inner["all"])
    if isinstance(inner, dict) and "any" in inner:
        return _group("none", inner["any"])
    return _group("none", [inner])


def _is_account_cond(node) -> bool:
    return _is_cond(node) and str(node.get("field", "")).startswith("account.")


def rule_to_tree(rule: dict) -> dict:
    """A VALID rule (already parsed) as the builder's tree."""
    user_types = rule.get("user_types")
    tree = {"user_types": list(USER_TYPES) if user_types is None else list(user_types),
            "account_enabled": False, "account": []}
    if "all" in rule:
        top = list(rule["all"])
        account = [n for n in top if _is_account_cond(n)]
        rest = [n for n in top if not _is_account_cond(n)]
        tree["account"] = [_cond(n) for n in account]
        tree["account_enabled"] = bool(account)
        if len(rest) == 1 and not _is_cond(rest[0]):
            tree["main"] = _node(rest[0])
        else:
            tree["main"] = _group("all", rest)
    elif "any" in rule or "not" in rule:
        tree["main"] = _node({k: rule[k] for k in ("any", "not") if k in rule})
    elif _is_cond(rule):
        tree["main"] = _group("all", [rule])
    else:
        tree["main"] = _group("all", [])
    if tree["main"]["kind"] == "cond":
        tree["main"] = {"kind": "group", "mode": "all", "children": [tree["main"]]}
    return tree


# ------------------------------------------------------------- view models

def catalog_index(catalog) -> dict:
    return {item["path"]: item for item in catalog}


def grouped_catalog(catalog, section: str = "user") -> list:
    """[(group label, [items])] in builder order; the account section offers account fields only."""
    groups = {}
    for item in catalog:
        if section == "account" and not item["path"].startswith("account."):
            continue
        groups.setdefault(item["group"], []).append(item)
    return [(g, groups[g]) for g in GROUP_ORDER if g in groups]


def _field_info(field: str, op: str | None, index: dict) -> dict:
    """The catalog entry for a field, or one made up for a field the data does not show yet."""
    if field in index:
        return index[field]
    if field.startswith("event:"):
        name = field[6:]
        return {"path": field, "event": name, "label": name or "Other event…", "group": "Events",
                "type": "event", "operators": list(OPERATORS["event"]), "missing": bool(name)}
    entity, _, key = field.partition(".attributes.")
    if key:
        ops = [o for t in ("text", "number", "boolean", "time") for o in OPERATORS[t]]
        return {"path": field, "label": f"{entity.title()}: {key}", "group": "Custom attributes",
                "type": _type_of_op(op), "operators": list(dict.fromkeys(ops)), "missing": True}
    return {"path": field, "label": field, "group": "Contact", "type": "text",
            "operators": list(OPERATORS["text"]), "missing": True}


def _type_of_op(op) -> str:
    for typ in ("number", "boolean", "time", "text"):
        if op in OPERATORS[typ]:
            return "number" if op in ("gt", "gte", "lt", "lte", "between") else typ
    return "text"


def value_kind(typ: str, op: str, choices) -> str:
    """Which value inputs a (type, operator) pair needs."""
    if op in VALUELESS:
        return "none"
    if typ == "event":
        return "event_drop" if op == "dropped_by_pct" else "event_count"
    if typ == "list":
        return "list_pick"
    if op == "between":
        return "between"
    if op in ("older_than_days", "within_last_days"):
        return "days"
    if op in ("before", "after"):
        return "date"
    if op in ("in", "not_in"):
        return "checks" if choices else "list"
    if typ == "number" or op in ("gt", "gte", "lt", "lte"):
        return "number"
    return "text"


def condition_view(cond: dict, index: dict, section: str = "user") -> dict:
    """Everything one condition row needs to render."""
    field = cond.get("field") or DEFAULT_FIELD[section]
    info = _field_info(field, cond.get("op"), index)
    typ = info["type"]
    if typ != "event" and cond.get("op") in ("gt", "gte", "lt", "lte", "between"):
        typ = "number" if info.get("missing") else typ
    ops = info["operators"]
    op = cond.get("op") if cond.get("op") in ops else ops[0]
    choices = info.get("choices") or []
    value = cond.get("value")
    view = {"kind": "cond", "uid": uuid.uuid4().hex[:8], "field": field, "info": info, "type": typ, "op": op,
            "ops": [(o, OPERATOR_LABELS.get(o, o)) for o in ops],
            "value_kind": value_kind(typ, op, choices), "choices": choices,
            "value": value, "within_days": cond.get("within_days"),
            "event_name": info.get("event") if typ == "event" else None}
    if view["value_kind"] == "between":
        pair = value if isinstance(value, list) else [None, None]
        view["low"], view["high"] = (list(pair) + [None, None])[:2]
    if view["value_kind"] in ("list", "checks"):
        items = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
        view["items"] = [str(v) for v in items]
        view["list_text"] = ", ".join(view["items"])
        view["check_choices"] = list(dict.fromkeys([str(c) for c in choices] + view["items"]))
    if view["value_kind"] == "list_pick":
        view.update(_list_pick(value, info.get("lists") or []))
    if view["value_kind"] == "date":
        text = "" if value is None else str(value)
        view["date_input"] = "date" if len(text) in (0, 10) else "text"
        view["value"] = text
    return view


def _list_pick(value, lists) -> dict:
    """The list picker's state: the chosen id (also one no longer in `lists`) and its name."""
    try:
        chosen = int(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        chosen = None
    names = {item["id"]: item["name"] for item in lists}
    return {"lists": lists, "value": chosen,
            "list_name": names.get(chosen, f"list #{chosen} (deleted)") if chosen else None,
            "list_known": chosen in names}


def tree_view(tree: dict, index: dict) -> dict:
    """Attach row view models to every node of a tree."""
    def walk(node):
        if node["kind"] == "cond":
            return condition_view(node, index, "user")
        return {"kind": "group", "mode": node["mode"], "children": [walk(c) for c in node["children"]]}

    return {"user_types": tree["user_types"], "main": walk(tree["main"]),
            "account_enabled": tree["account_enabled"],
            "account": [condition_view(c, index, "account") for c in tree["account"]]}


def _tree_or_none(data):
    """The tree of a rule that may not validate (e.g. a value still missing), or None
    when its shape is beyond the visual builder (then it opens on the JSON tab)."""
    try:
        tree = rule_to_tree(data)
        _check_shape(tree["main"])
        for cond in tree["account"]:
            _check_shape(cond)
        return tree
    except (TypeError, KeyError, AttributeError, ValueError, RecursionError):
        return None


def _check_shape(node):
    if node["kind"] == "group":
        for child in node["children"]:
            _check_shape(child)
    elif not isinstance(node.get("field"), str) or not isinstance(node.get("op"), (str, type(None))):
        raise ValueError("not a condition")


_STEP = re.compile(r"^(all|any)\[(\d+)\]$")


def _node_at(rule, path: str):
    """The condition a parser error path points into ("all[1].value" -> all[1]), or None."""
    node = rule
    for token in path.split(".") if path else []:
        m = _STEP.match(token)
        try:
            if m:
                node = node[m.group(1)][int(m.group(2))]
            elif token == "not":
                node = node["not"]
            else:
                break  # value / op / field / within_days: an attribute of this condition
        except (KeyError, IndexError, TypeError):
            return None
    return node if _is_cond(node) else None


def _list_shown(list_id):
    """A list condition's list as an error names it: its name, or its id when unknown."""
    from engine.rules.lists import list_names

    if not isinstance(list_id, int) or isinstance(list_id, bool) or not 0 < list_id < 2**63:
        return None
    return list_names([list_id]).get(list_id, f"#{list_id}")


def readable_errors(rule, errors) -> list[str]:
    """Each rule error as staff read it, naming the condition as the builder shows it:
    "Role is …: a value is required" (the path stays in the JSON tab)."""
    from engine.rules.fields import field_label
    from engine.rules.incomplete import is_incomplete

    out = []
    for e in errors or []:
        node = _node_at(rule, e.get("path") or "") if isinstance(rule, dict) else None
        if node is None:
            out.append(e["message"][:1].upper() + e["message"][1:])
            continue
        what = (f"Event “{node.get('event') or '…'}”" if "event" in node
                else "List" if "list" in node and "field" not in node
                else field_label(str(node.get("field") or "…")))
        op = OPERATOR_LABELS.get(node.get("op"), node.get("op") or "…")
        shown = _list_shown(node.get("list")) if what == "List" else node.get("value")
        shown = "…" if shown in (None, "", []) else (", ".join(map(str, shown)) if isinstance(shown, list) else str(shown))
        text = f"“{what} {op} {shown}”: {e['message']}"
        if what == "List":  # "In list Webinar — March" reads as the builder's row does
            said = {"member": "In list", "not_member": "Not in list"}.get(node.get("op"), "List")
            text = f"“{said} {shown}”: {e['message']}"
        if is_incomplete(node):
            text = f"{text} — this condition is not finished"
        out.append(text)
    return list(dict.fromkeys(out))


def builder_context(rule=None, prefix: str = "", errors=None, *, json_text: str | None = None) -> dict:
    """Template context for rules/_builder.html.

    `rule` is a dict or JSON text (None -> a new, empty rule). A rule that is
    not valid JSON or does not validate opens on the JSON tab with its errors.
    """
    from engine.rules import RuleError, field_catalog, parse_rule

    if rule is None and json_text is None:
        rule = empty_rule()
    if json_text is None:
        json_text = rule if isinstance(rule, str) else rule_to_json_text(rule)
    errors = list(errors or [])
    submitted_errors = list(errors)  # from a refused save: named in the visual builder too
    tree = None
    try:
        data = json.loads(json_text)
    except (ValueError, RecursionError) as exc:
        data = None
        errors = errors or [{"path": "", "message": f"malformed JSON: {exc}"}]
    if data is not None:
        try:
            parse_rule(data)
        except RuleError as exc:
            errors = errors or exc.errors
        tree = _tree_or_none(data)
    catalog = field_catalog()
    index = catalog_index(catalog)
    uid = prefix or "rb-"
    return {
        "prefix": prefix,
        "id": f"{uid}builder",
        "field_name": f"{prefix}rule_json",
        "json_id": f"{uid}rule-json",
        "json_text": json_text,
        "errors": errors,
        "mode": "visual" if tree is not None else "json",
        "readable_errors": readable_errors(data, submitted_errors) if submitted_errors else [],
        "tree": tree_view(tree, index) if tree is not None else None,
        "catalog_user": grouped_catalog(catalog, "user"),
        "catalog_account": grouped_catalog(catalog, "account"),
        "user_type_labels": [(t, USER_TYPE_LABELS[t]) for t in USER_TYPES],
        "group_modes": GROUP_MODES,
    }
