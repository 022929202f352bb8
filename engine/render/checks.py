"""Save-time checks of an email template's Jinja AST (used by engine.render).

Finds, with their line numbers: variables that do not exist (`{{ contact.first_nme }}`,
`{{ acount.name }}`), attributes starting with an underscore (the classic sandbox
escape `''.__class__.__mro__`) and tags that make no sense without a loader
(include/import/extends). Anything below `contact.attributes`, `account.attributes`
or `event.properties` is custom data and is accepted as written.
"""
import difflib

from jinja2 import nodes

# What each top-level object offers; `None` = a plain value with no fields to check.
ROOT_FIELDS: dict[str, frozenset | None] = {
    "contact": frozenset({
        "external_id", "email", "first_name", "last_name", "full_name", "role", "timezone",
        "created_at", "last_seen_at", "is_product_user", "is_crm_contact", "attributes",
    }),
    "account": frozenset({
        "external_id", "name", "arr", "plan", "status", "created_at", "attributes",
    }),
    # Set for event triggers (the event that fired); empty for other kinds.
    "event": frozenset({"name", "occurred_at", "properties"}),
    "unsubscribe_url": None,
    "now": None,
}
# Names Jinja itself provides inside loops, macros and call blocks.
JINJA_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "range", "true", "false", "none"})
UNSUPPORTED_TAGS = {
    nodes.Extends: "{% extends %}", nodes.Include: "{% include %}",
    nodes.Import: "{% import %}", nodes.FromImport: "{% from … import %}",
}


def _declared_names(ast: nodes.Template) -> set[str]:
    """Every name the template itself assigns (loop targets, set, macros, with).

    Scoping is deliberately loose: a name assigned anywhere counts as declared
    everywhere, so no valid template is ever refused.
    """
    declared: set[str] = set()
    for name in ast.find_all(nodes.Name):
        if name.ctx in ("store", "param"):
            declared.add(name.name)
    for macro in ast.find_all(nodes.Macro):
        declared.add(macro.name)
    return declared


def _const_key(node) -> str | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def check_ast(ast: nodes.Template) -> list[tuple[int | None, str]]:
    """[(line, message)] for every problem in a parsed template, in source order."""
    problems: list[tuple[int | None, str]] = []
    declared = _declared_names(ast)

    for node_type, label in UNSUPPORTED_TAGS.items():
        for node in ast.find_all(node_type):
            problems.append((node.lineno, f"{label} is not supported in email templates"))

    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        key = node.attr if isinstance(node, nodes.Getattr) else _const_key(node.arg)
        custom_data = isinstance(node.node, nodes.Getattr) and node.node.attr in ("attributes", "properties")
        if key is not None and key.startswith("_") and not (isinstance(node, nodes.Getitem) and custom_data):
            problems.append((node.lineno, f"'{key}' is not allowed: names starting with '_' are blocked"))
            continue
        base = node.node
        if key is None or not isinstance(base, nodes.Name) or base.name in declared:
            continue
        fields = ROOT_FIELDS.get(base.name)
        if fields is not None and key not in fields:
            problems.append((node.lineno, f"unknown variable '{base.name}.{key}'"
                             + _suggest(f"{base.name}.{key}", {f"{base.name}.{f}" for f in fields})))

    for attr in ast.find_all(nodes.Filter):
        if attr.name == "attr":  # |attr("__class__") is the other spelling of .__class__
            for arg in attr.args:
                key = _const_key(arg)
                if key and key.startswith("_"):
                    problems.append((attr.lineno, f"'{key}' is not allowed: names starting with '_' are blocked"))

    known = set(ROOT_FIELDS) | JINJA_NAMES | declared
    for name in ast.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in known:
            problems.append((name.lineno, f"unknown variable '{name.name}'" + _suggest(name.name, ROOT_FIELDS)))

    seen = set()
    unique = []
    for problem in sorted(problems, key=lambda p: (p[0] or 0, p[1])):
        if problem not in seen:
            seen.add(problem)
            unique.append(problem)
    return unique
