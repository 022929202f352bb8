"""Sandboxed Jinja rendering of email subject/html/text.

Compile once per template (compile_email / compile_for_trigger), render many
times with plain-dict contexts (build_context). Hardening beyond Jinja's
ImmutableSandboxedEnvironment, because templates are data typed into a web form:
- save time: syntax errors, unknown variables and '_' attributes, with lines;
- render time: every render (subject + html + text for one recipient, or the
  save-time trial render) runs under one sandbox.Budget: operations, bytes built
  and CPU time are bounded from outside the template (see sandbox.py); '_'
  attributes raise SecurityError; output is capped;
- no globals beyond `range`, no config, no include/import.
A failure for one recipient raises RenderError; the engine fails that message only.
"""
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError

from engine.render.html_text import html_to_text
from engine.render.checks import check_ast
from engine.render.context import VARIABLES, build_context, variable_catalog  # noqa: F401  (re-exported)
from engine.db.text import storable
from engine.render.budget import MAX_OUTPUT, Budget, too_big
from engine.render.sandbox import HTML_ENV, PLAIN_ENV, Hardening

MAX_SOURCE = 256_000  # characters per field at save time


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
            too_big("the rendered email")
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
        """Render for one recipient, under one Budget; RenderError (with the template
        line when known)."""
        with Budget().active():
            return self._render(context)

    def _render(self, context: dict) -> RenderedEmail:
        subject = self._part("subject", self._subject, context).strip()
        html = self._part("html", self._html, context) if self._html is not None else ""
        text = self._part("text", self._text, context) if self._text is not None else html_to_text(html)
        if "\r" in subject or "\n" in subject:
            raise RenderError("the rendered subject contains a line break")
        if not subject:
            raise RenderError("the rendered subject is empty")
        # Data stored before the door refused it (a lone surrogate on SQLite) could not be
        # saved in the outbox or sent: U+FFFD in its place.
        return RenderedEmail(subject=storable(subject), html=storable(html), text=storable(text))

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


def _compile_field(env, field: str, source: str, errors: list, budget: Budget):
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
        template = env.from_string(Hardening().visit(ast))
        if budget.exhausted:  # an earlier field used the trial budget up: it is refused already
            return template
        try:  # catches what only running shows, e.g. range(10**9) or 'x' * 10**8
            with budget.active():
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
    budget = Budget()  # one trial render of the whole email, like one recipient's
    compiled_subject = _compile_field(PLAIN_ENV, "subject", subject, errors, budget)
    compiled_html = _compile_field(HTML_ENV, "html", html, errors, budget) if html.strip() else None
    compiled_text = _compile_field(PLAIN_ENV, "text", text, errors, budget) if text.strip() else None
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
