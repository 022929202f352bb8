"""The hardened Jinja sandbox email templates run in (used by engine.render).

On top of ImmutableSandboxedEnvironment: '_' attributes and size-taking str
methods raise SecurityError; `**`, `*`, `+`, `%` are intercepted so huge
numbers/strings cannot be built; `range` and list/str sizes are capped; every
loop iteration and call spends from a per-render budget (Hardening rewrites the
AST so loops and `~` go through checks); only an allow-list of filters exists;
no globals but `range`. Dict keys are looked up first, which also makes
rendering plain-dict contexts faster than stock Jinja.
"""
import math
from datetime import date, datetime

from jinja2 import ChainableUndefined, nodes
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join, do_replace
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context, pass_eval_context
from jinja2.visitor import NodeTransformer

MAX_OUTPUT = 1_000_000  # characters per rendered part
MAX_ITEMS = 10_000  # list/range length built inside a template
MAX_STEPS = 200_000  # loop iterations + calls per rendered part
MAX_INT_BITS = 256
SAFE_FILTERS = {
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "filesizeformat",
    "first", "float", "forceescape", "groupby", "int", "items", "last", "length", "list",
    "lower", "map", "max", "min", "reject", "rejectattr", "reverse", "round", "select",
    "selectattr", "sort", "string", "striptags", "sum", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount",
}  # left out: output sizes set by arguments (center indent format batch slice wordwrap urlize
#    tojson), unescaped output (safe), attribute lookups by name (attr), random
BLOCKED_STR_METHODS = {
    "center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "format", "format_map",
    "translate", "maketrans",
}  # each can build a huge string from small arguments; filters cover the useful ones


def too_big(what: str):
    raise SecurityError(f"{what} is too large for an email template")


def _check_size(value):
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        too_big("a number")
    if isinstance(value, str) and len(value) > MAX_OUTPUT:
        too_big("a text")
    if isinstance(value, (list, tuple)) and len(value) > MAX_ITEMS:
        too_big("a list")
    return value


def _spend(context, n: int = 1):
    left = getattr(context, "_nudge_steps", MAX_STEPS) - n
    if left < 0:
        raise SecurityError("the template runs too many loop iterations or calls")
    context._nudge_steps = left


@pass_context
def _loop_budget(context, iterable):
    """Wraps every {% for %} iterable: each iteration spends from the budget."""
    for item in iterable:
        _spend(context)
        yield item


def _cap_length(value):
    return _check_size(value)


def _capped_range(*args):
    r = range(*args)
    if len(r) > MAX_ITEMS:
        too_big(f"range of {len(r):,} items")
    return r


@pass_eval_context
def _safe_join(eval_ctx, value, d="", attribute=None):
    return _check_size(do_join(eval_ctx, value, d, attribute))


@pass_eval_context
def _safe_replace(eval_ctx, s, old, new, count=None):
    s_str, old_str, new_str = str(s), str(old), str(new)
    if old_str and len(s_str) + s_str.count(old_str) * max(len(new_str) - len(old_str), 0) > MAX_OUTPUT:
        too_big("a replaced text")
    if not old_str and len(s_str) * (len(new_str) + 1) > MAX_OUTPUT:
        too_big("a replaced text")
    return do_replace(eval_ctx, s, old, new, count)


def _format_number(value, digits=0):
    try:
        return f"{float(value):,.{int(min(max(digits, 0), 6))}f}"
    except (TypeError, ValueError):
        return value


def _format_money(value, symbol="$"):
    formatted = _format_number(value)
    return f"{symbol}{formatted}" if formatted is not value else value


def _format_date(value, fmt="%d %b %Y"):
    if isinstance(value, (date, datetime)) and len(str(fmt)) <= 64:
        return value.strftime(fmt)
    return value


class Hardening(NodeTransformer):
    """Rewrites the parsed template: loops spend budget, `~` results are size-checked."""

    def visit_For(self, node):
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_nudge_loop", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node):
        node = self.generic_visit(node)
        return nodes.Filter(node, "_nudge_cap", [], [], None, None, lineno=node.lineno)


class EmailSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, autoescape: bool):
        super().__init__(autoescape=autoescape, undefined=ChainableUndefined, auto_reload=False,
                         cache_size=0)
        self.globals.clear()
        self.globals["range"] = _capped_range
        self.filters = {name: DEFAULT_FILTERS[name] for name in SAFE_FILTERS}
        self.filters.update(join=_safe_join, replace=_safe_replace, number=_format_number,
                            money=_format_money, date=_format_date,
                            _nudge_loop=_loop_budget, _nudge_cap=_cap_length)

    def call_binop(self, context, operator, left, right):
        if operator == "**":
            if isinstance(right, (int, float)) and isinstance(left, (int, float)):
                magnitude = math.log2(abs(left)) if abs(left) > 1 else 0
                if abs(right) > 1024 or magnitude * right > MAX_INT_BITS:
                    too_big("a power")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    limit = MAX_OUTPUT if isinstance(seq, str) else MAX_ITEMS
                    if len(seq) * times > limit:
                        too_big("a repeated text or list")
        elif operator == "%" and isinstance(left, str):
            raise SecurityError("'%' string formatting is not allowed; use filters instead")
        return _check_size(self.binop_table[operator](left, right))

    def is_safe_attribute(self, obj, attr, value):
        if isinstance(obj, str) and attr in BLOCKED_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value):
        return None  # str.format is blocked outright (is_safe_attribute)

    def unsafe_undefined(self, obj, attribute):
        raise SecurityError(f"access to {attribute!r} is not allowed in email templates")

    def getattr(self, obj, attribute):
        # Contexts are plain dicts: look keys up first (fast, no exception) so
        # {{ contact.first_name }} costs the same as unsandboxed rendering.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        _spend(__context)
        return super().call(__context, __obj, *args, **kwargs)


HTML_ENV = EmailSandbox(autoescape=True)
PLAIN_ENV = EmailSandbox(autoescape=False)
