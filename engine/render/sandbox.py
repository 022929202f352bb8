"""The hardened Jinja sandbox email templates run in (used by engine.render).

Every render runs under one budget.Budget (see budget.py): a count of operations, an
estimate of the bytes the template builds, and a thread-CPU-time backstop. The
template cannot switch it off; the sandbox's hooks spend from it:
  * `call` (every function/method/macro call), `getattr`, `getitem`, every `{% for %}`
    iteration (Hardening rewrites the AST), every filter (each allow-listed filter is
    wrapped: it pays for the size of its input, and what it builds is charged);
  * `**`, `*`, `+`, `%` are intercepted (call_binop): the size of `seq * n` and
    `a + b` is checked BEFORE it is built, for str, bytes, bytearray, list and tuple;
  * `|sum`, `|join`, `|list` are our own: they check sizes item by item before
    building; `str()` of a nested list is measured (without building it) before any
    output, `~` or text filter turns it into text;
  * methods that build big values from small arguments (zfill, ljust, center, format,
    to_bytes, ...) are not reachable on str, bytes, bytearray or int.
So no template takes more than about a second of CPU or ~50 MB, whatever its data.
Only an allow-list of filters exists; no globals but `range`. Dict keys are looked up
first, which also makes rendering plain-dict contexts faster than stock Jinja.
"""
import codecs
import math
from datetime import date, datetime

from jinja2 import ChainableUndefined, nodes
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join, do_replace, make_attrgetter
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_environment, pass_eval_context
from jinja2.visitor import NodeTransformer

from engine.render.budget import (
    ITEMS_PER_STEP, MAX_INT_BITS, MAX_ITEMS, MAX_OUTPUT, budgeted_iter, check_repeat, check_text, checked_add,
    current, length, text_size, too_big, work,
)

SAFE_FILTERS = {
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "filesizeformat",
    "first", "float", "forceescape", "groupby", "int", "items", "last", "length", "list",
    "lower", "map", "max", "min", "reject", "rejectattr", "reverse", "round", "select",
    "selectattr", "sort", "string", "striptags", "sum", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount",
}  # left out: output sizes set by arguments (center indent format batch slice wordwrap urlize
#    tojson), unescaped output (safe), attribute lookups by name (attr), random
TEXT_FILTERS = {  # turn their input into text (str() of a nested list can be huge)
    "capitalize", "e", "escape", "forceescape", "lower", "string", "striptags", "title", "trim",
    "truncate", "upper", "urlencode", "wordcount",
}
BUILDING_FILTERS = TEXT_FILTERS | {  # return a new value whose size is charged to the budget
    "dictsort", "groupby", "items", "reverse", "sort", "unique",
}
LAZY_FILTERS = {"map", "select", "reject", "selectattr", "rejectattr"}  # return generators
SORTING_FILTERS = {"sort", "unique", "groupby", "dictsort", "min", "max"}
BLOCKED_STR_METHODS = {
    "center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "format", "format_map",
    "translate", "maketrans",
}  # each can build a huge string (or bytes) from small arguments; filters cover the useful ones
BLOCKED_INT_METHODS = {"to_bytes"}  # (1).to_bytes(10**9) is a gigabyte
# str.encode / bytes.decode: linear codecs only (punycode and idna are quadratic).
SAFE_CODECS = {"utf-8", "ascii", "latin-1", "iso8859-1", "utf-16", "utf-16-le", "utf-16-be",
               "utf-32", "utf-32-le", "utf-32-be"}


def _check_codec(owner, name, args, kwargs):
    if name in ("encode", "decode") and isinstance(owner, (str, bytes, bytearray)):
        codec = args[0] if args else kwargs.get("encoding", "utf-8")
        try:
            known = codecs.lookup(str(codec)).name
        except LookupError:
            known = None
        if known not in SAFE_CODECS:
            raise SecurityError(f"the {str(codec)[:40]!r} codec is not allowed in email templates")


def _loop_budget(iterable, literal_bytes=0):
    """Wraps every {% for %} iterable: each iteration spends a step and pays for the
    literal text its body writes (which a {% set %} block or macro may collect)."""
    budget = current()
    for item in iterable:
        budget.spend()
        if literal_bytes:
            budget.allocate(literal_bytes)
        yield item


def _cap_length(value):
    """A `~` result or a slice: new, so its size is checked and charged."""
    work(value)
    return current().charge(value)


def _capped_range(*args):
    r = range(*args)
    if len(r) > MAX_ITEMS:
        too_big(f"range of {len(r):,} items")
    return r


def _finalize(value):
    """Every {{ … }} output: measured before str() turns it into text, and charged."""
    budget = current()
    budget.spend()
    if isinstance(value, str):
        budget.allocate(len(value))
        return value
    return check_text(value, "an output")


def _safe_list(value):
    if length(value) > MAX_ITEMS:
        too_big("a list")
    if isinstance(value, (list, tuple, range, str, bytes, bytearray, dict, set, frozenset)):
        work(value)
        return current().charge(list(value))
    return current().charge(list(budgeted_iter(value, MAX_ITEMS)))


@pass_environment
def _safe_sum(environment, iterable, attribute=None, start=0):
    func = make_attrgetter(environment, attribute) if attribute is not None else None
    total = start
    for item in budgeted_iter(iterable):
        total = checked_add(total, func(item) if func else item)
    return total


@pass_eval_context
def _safe_join(eval_ctx, value, d="", attribute=None):
    """|join: the joined size is added up item by item (str() of each measured, not built)."""
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    items, size, sep = [], 0, text_size(d)
    for item in budgeted_iter(value):
        size += text_size(item, MAX_OUTPUT - size) + (sep if items else 0)
        if size > MAX_OUTPUT:
            too_big("a joined text")
        items.append(item)
    current().allocate(size)
    return do_join(eval_ctx, items, d)


@pass_eval_context
def _safe_replace(eval_ctx, s, old, new, count=None):
    check_text(s)
    s_str, old_str, new_str = str(s), str(old), str(new)
    if old_str and len(s_str) + s_str.count(old_str) * max(len(new_str) - len(old_str), 0) > MAX_OUTPUT:
        too_big("a replaced text")
    if not old_str and len(s_str) * (len(new_str) + 1) > MAX_OUTPUT:
        too_big("a replaced text")
    work(s_str)
    return current().charge(do_replace(eval_ctx, s, old, new, count))


def _format_number(value, digits=0):
    try:
        return f"{float(value):,.{int(min(max(digits, 0), 6))}f}"
    except (TypeError, ValueError, OverflowError):
        return value


def _format_money(value, symbol="$"):
    formatted = _format_number(value)
    if formatted is value:
        return value
    return f"{check_text(symbol)}{formatted}"


def _format_date(value, fmt="%d %b %Y"):
    if isinstance(value, (date, datetime)) and len(str(fmt)) <= 64:
        return value.strftime(fmt)
    return value


def _budgeted(name, func):
    """An allow-listed filter that spends for its input and charges what it builds."""
    passes = getattr(func, "jinja_pass_arg", None)
    skip = 1 if passes is not None else 0
    text, builds = name in TEXT_FILTERS, name in BUILDING_FILTERS
    lazy, sorting = name in LAZY_FILTERS, name in SORTING_FILTERS

    def run(*args, **kwargs):
        value = args[skip] if len(args) > skip else None
        n = length(value)
        if sorting and n > 1:  # comparisons of nested items cost their size
            current().spend(n * math.ceil(math.log2(n)) * (1 + text_size(value) // max(n, 1))
                            // ITEMS_PER_STEP)
        work(value)
        if text:
            check_text(value)
        result = func(*args, **kwargs)
        if lazy:
            return budgeted_iter(result)
        return current().charge(result) if builds else result

    run.__name__ = f"budgeted_{name}"
    if passes is not None:
        run.jinja_pass_arg = passes
    return run


class Hardening(NodeTransformer):
    """Rewrites the parsed template: loops spend budget (and pay for their literal
    text), `~` operands are measured before they become text and its result is checked."""

    def visit_For(self, node):
        literal = sum(len(data.data) for child in node.body for data in child.find_all(nodes.TemplateData))
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_nudge_loop", [nodes.Const(literal)], [], None, None,
                                 lineno=node.lineno)
        return node

    def visit_Getitem(self, node):  # Jinja compiles x[a:b] without calling getitem
        node = self.generic_visit(node)
        if isinstance(node.arg, nodes.Slice):
            return nodes.Filter(node, "_nudge_cap", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node):
        node = self.generic_visit(node)
        node.nodes = [nodes.Filter(n, "_nudge_text", [], [], None, None, lineno=node.lineno)
                      for n in node.nodes]
        return nodes.Filter(node, "_nudge_cap", [], [], None, None, lineno=node.lineno)


class EmailSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, autoescape: bool):
        super().__init__(autoescape=autoescape, undefined=ChainableUndefined, auto_reload=False,
                         cache_size=0, finalize=_finalize)
        self.globals.clear()
        self.globals["range"] = _capped_range
        filters = {name: DEFAULT_FILTERS[name] for name in SAFE_FILTERS}
        filters.update(join=_safe_join, replace=_safe_replace, sum=_safe_sum, list=_safe_list,
                       number=_format_number, money=_format_money, date=_format_date)
        self.filters = {name: _budgeted(name, f) for name, f in filters.items()}
        self.filters.update(_nudge_loop=_loop_budget, _nudge_cap=_cap_length, _nudge_text=check_text)

    def call_binop(self, context, operator, left, right):
        if operator == "**":
            if isinstance(right, (int, float)) and isinstance(left, (int, float)):
                magnitude = math.log2(abs(left)) if abs(left) > 1 else 0
                if abs(right) > 1024 or magnitude * right > MAX_INT_BITS:
                    too_big("a power")
        elif operator == "*":
            check_repeat(left, right)
            check_repeat(right, left)
        elif operator == "+":
            return checked_add(left, right)
        elif operator == "%" and isinstance(left, (str, bytes, bytearray)):
            raise SecurityError("'%' string formatting is not allowed; use filters instead")
        current().spend()
        return current().charge(self.binop_table[operator](left, right))

    def is_safe_attribute(self, obj, attr, value):
        if isinstance(obj, (str, bytes, bytearray)) and attr in BLOCKED_STR_METHODS:
            return False
        if isinstance(obj, int) and attr in BLOCKED_INT_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value):
        return None  # str.format is blocked outright (is_safe_attribute)

    def unsafe_undefined(self, obj, attribute):
        raise SecurityError(f"access to {attribute!r} is not allowed in email templates")

    def getattr(self, obj, attribute):
        current().spend()
        # Contexts are plain dicts: look keys up first (fast, no exception) so
        # {{ contact.first_name }} costs the same as unsandboxed rendering.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        current().spend()
        return super().getitem(obj, argument)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        owner = getattr(__obj, "__self__", None)
        work(owner, *args)
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (budgeted_iter(args[0]), *args[1:])
        name = getattr(__obj, "__name__", None)
        if name == "strftime" and args and text_size(args[0]) > 64:
            too_big("a date format")
        _check_codec(owner, name, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(__obj, Macro) or isinstance(owner, (str, bytes, bytearray, int, float)):
            current().charge(result)  # macro output and values built by str/bytes methods
        return result


HTML_ENV = EmailSandbox(autoescape=True)
PLAIN_ENV = EmailSandbox(autoescape=False)
