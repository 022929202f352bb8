"""Sandboxed Jinja rendering of email subject/html/text.

Compile once per template (compile_email / compile_for_trigger), render many
times with plain-dict contexts (build_context). Hardening beyond Jinja's
ImmutableSandboxedEnvironment, because templates are data typed into a web form:
- save time: syntax errors, unknown variables and '_' attributes, with lines;
- render time: '_' attributes raise SecurityError; `**`, `*`, `+`, `%` are
  intercepted so huge numbers/strings cannot be built; `range` is capped; every
  loop iteration and call spends from a per-render budget; output is capped;
- no globals beyond `range`, no config, no include/import.
A failure for one recipient raises RenderError; the engine fails that message only.
"""
import math
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join, do_replace
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context, pass_eval_context
from jinja2.visitor import NodeTransformer

from engine.html_text import html_to_text
from engine.render_context import VARIABLES, build_context, variable_catalog  # noqa: F401  (re-exported)
from engine.render_checks import check_ast

MAX_SOURCE = 256_000  # characters per field at save time
MAX_OUTPUT = 1_000_000  # characters per rendered part
MAX_ITEMS = 10_000  # list/range length built inside a template
MAX_STEPS = 200_000  # loop iterations + calls per rendered part
MAX_INT_BITS = 256
SAFE_FILTERS = {
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "filesizeformat",
    "first", "float", "forceescape", "groupby", "int", "items", "last", "length", "list",
    "lower", "map", "max", "min", "reject", "rejectattr", "reverse", "round", "select",
    "selectattr", "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate",
    "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap",
}  # left out: center/indent/format/batch/slice (sizes from arguments), safe, attr, random
BLOCKED_STR_METHODS = {
    "center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "format", "format_map",
}


class TemplateError(ValueError):
    """Save-time problems. .errors -> [{"field": "subject|html|text", "line": int|None, "message": str}]"""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(
            f"{e['field']}" + (f" line {e['line']}" if e.get("line") else "") + f": {e['message']}"
            for e in self.errors))


class RenderError(ValueError):
    """Rendering failed for one recipient (the engine fails that message, not the run).
    str(err) = "html line 3: ZeroDivisionError: division by zero"."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None,
                 blocked: bool = False):
        super().__init__(message)
        self.field, self.line, self.blocked = field, line, blocked


def _too_big(what: str):
    raise SecurityError(f"{what} is too large for an email template")


def _check_size(value):
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        _too_big("a number")
    if isinstance(value, str) and len(value) > MAX_OUTPUT:
        _too_big("a text")
    if isinstance(value, (list, tuple)) and len(value) > MAX_ITEMS:
        _too_big("a list")
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
        _too_big(f"range of {len(r):,} items")
    return r


@pass_eval_context
def _safe_join(eval_ctx, value, d="", attribute=None):
    return _check_size(do_join(eval_ctx, value, d, attribute))


@pass_eval_context
def _safe_replace(eval_ctx, s, old, new, count=None):
    s_str, old_str, new_str = str(s), str(old), str(new)
    if old_str and len(s_str) + s_str.count(old_str) * max(len(new_str) - len(old_str), 0) > MAX_OUTPUT:
        _too_big("a replaced text")
    if not old_str and len(s_str) * (len(new_str) + 1) > MAX_OUTPUT:
        _too_big("a replaced text")
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


class _Hardening(NodeTransformer):
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
                    _too_big("a power")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    limit = MAX_OUTPUT if isinstance(seq, str) else MAX_ITEMS
                    if len(seq) * times > limit:
                        _too_big("a repeated text or list")
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


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def _render_part(template, context: dict) -> str:
    ctx = template.new_context(context)
    size = 0
    parts = []
    for chunk in template.root_render_func(ctx):
        size += len(chunk)
        if size > MAX_OUTPUT:
            _too_big("the rendered email")
        parts.append(chunk)
    return "".join(parts)


class CompiledEmail:
    """Subject/html/text compiled once; render(context) for each recipient."""

    def __init__(self, subject, html, text, sources: tuple[str, str, str]):
        self._subject, self._html, self._text = subject, html, text
        self.sources = sources  # (subject, html, text) as written

    @property
    def text_is_generated(self) -> bool:
        return self._text is None

    def render(self, context: dict) -> RenderedEmail:
        """Render for one recipient; RenderError (with the template line when known)."""
        subject = self._part("subject", self._subject, context).strip()
        html = self._part("html", self._html, context) if self._html is not None else ""
        text = self._part("text", self._text, context) if self._text is not None else html_to_text(html)
        if "\r" in subject or "\n" in subject:
            raise RenderError("the rendered subject contains a line break")
        if not subject:
            raise RenderError("the rendered subject is empty")
        return RenderedEmail(subject=subject, html=html, text=text)

    @staticmethod
    def _part(field: str, template, context: dict) -> str:
        try:
            return _render_part(template, context)
        except Exception as exc:  # one recipient's data must never stop a run
            line = _template_line(exc, template)
            where = f"{field}" + (f" line {line}" if line else "")
            if isinstance(exc, SecurityError):
                message = f"blocked: {exc}"
            elif isinstance(exc, RecursionError):
                message = "the template recursed too deeply"
            else:
                message = f"{type(exc).__name__}: {exc}"
            raise RenderError(f"{where}: {message}", field=field, line=line,
                              blocked=isinstance(exc, (SecurityError, RecursionError))) from exc


def _template_line(exc: BaseException, template) -> int | None:
    """The template line where `exc` was raised, from the compiled code's traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


# A recipient with every field filled, for the save-time trial render.
_TRIAL_CONTEXT = build_context(
    {"external_id": "sample", "email": "sample@example.com", "first_name": "Sam", "last_name": "Sample",
     "role": "admin", "timezone": "UTC", "is_product_user": True, "is_crm_contact": False},
    {"external_id": "sample", "name": "Sample Inc", "arr": 12000, "plan": "pro", "status": "active"},
    unsubscribe_url="https://example.com/unsubscribe",
)


def _compile_field(env, field: str, source: str, errors: list):
    if len(source) > MAX_SOURCE:
        errors.append({"field": field, "line": None,
                       "message": f"too long ({len(source):,} characters; the limit is {MAX_SOURCE:,})"})
        return None
    try:
        ast = env.parse(source)
        problems = check_ast(ast)
        if problems:
            errors.extend({"field": field, "line": line, "message": msg} for line, msg in problems)
            return None
        template = env.from_string(_Hardening().visit(ast))
        try:  # catches what only running shows, e.g. range(10**9) or 'x' * 10**8
            CompiledEmail._part(field, template, _TRIAL_CONTEXT)
        except RenderError as exc:
            if exc.blocked:
                errors.append({"field": field, "line": exc.line, "message": str(exc).split(": ", 1)[1]})
                return None
        return template
    except TemplateSyntaxError as exc:
        errors.append({"field": field, "line": exc.lineno, "message": exc.message or str(exc)})
    except RecursionError:
        errors.append({"field": field, "line": None, "message": "the template is nested too deeply"})
    return None


def compile_email(subject: str, html: str, text: str | None) -> CompiledEmail:
    """Compile once -> CompiledEmail (.render(context) -> RenderedEmail(subject, html, text)).
    Raises TemplateError (syntax errors + unknown variables, with lines).
    text None/"" -> generated from the rendered html with html_to_text."""
    subject, html, text = subject or "", html or "", text or ""
    errors: list[dict] = []
    if "\r" in subject or "\n" in subject:
        errors.append({"field": "subject", "line": None, "message": "the subject must be a single line"})
    if not subject.strip():
        errors.append({"field": "subject", "line": None, "message": "the subject is empty"})
    if not html.strip() and not text.strip():
        errors.append({"field": "html", "line": None, "message": "the email has no body"})
    compiled_subject = _compile_field(PLAIN_ENV, "subject", subject, errors)
    compiled_html = _compile_field(HTML_ENV, "html", html, errors) if html.strip() else None
    compiled_text = _compile_field(PLAIN_ENV, "text", text, errors) if text.strip() else None
    if errors:
        order = {"subject": 0, "html": 1, "text": 2}
        raise TemplateError(sorted(errors, key=lambda e: (order[e["field"]], e["line"] or 0)))
    return CompiledEmail(compiled_subject, compiled_html, compiled_text, (subject, html, text))


@lru_cache(maxsize=256)
def _compile_cached(subject: str, html: str, text: str) -> CompiledEmail:
    return compile_email(subject, html, text)


def trigger_sources(trigger) -> tuple[str, str, str]:
    """(subject, html, text) a trigger sends. With a saved template (template_id) the
    body (html + text) comes from the template; the subject is the trigger's own
    when it has one (Natero: the subject is a Message-step field, the template
    fills the body), else the template's subject."""
    template = getattr(trigger, "template", None) if trigger.template_id else None
    if template is not None:
        return ((trigger.subject or "").strip() or template.subject or "",
                template.html or "", template.text or "")
    return trigger.subject or "", trigger.html or "", trigger.text or ""


def compile_for_trigger(trigger) -> CompiledEmail:
    """CompiledEmail for a trigger (see trigger_sources). Cached by content, so a run
    compiles once however many recipients it renders; raises TemplateError."""
    return _compile_cached(*trigger_sources(trigger))
