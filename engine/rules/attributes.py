"""Custom-attribute access that behaves the same on SQLite (json_type /
json_extract) and PostgreSQL (JSONB -> / ->>).

Every expression here is either never NULL (json_kind) or only read behind a
json_kind guard (json_text, json_number), so rule conditions stay two-valued.
"""
from sqlalchemy import Float, String, case, func, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from engine.rules.nodes import ATTRIBUTE_KEY

# json_kind values: string | number | true | false | null | missing | array | object


class json_kind(FunctionElement):
    type = String()
    inherit_cache = True
    name = "json_kind"


class json_text(FunctionElement):
    type = String()
    inherit_cache = True
    name = "json_text"


class json_number(FunctionElement):
    type = Float()
    inherit_cache = True
    name = "json_number"


def _args(element, compiler, **kw):
    col, key = list(element.clauses)
    return compiler.process(col, **kw), key.name[1:-1], compiler


def _sqlite_path(compiler, key, **kw):
    return f"""'$."{key}"'"""


@compiles(json_kind)  # SQLite (and str())
def _kind_sqlite(element, compiler, **kw):
    col, key, _ = _args(element, compiler, **kw)
    t = f"json_type({col}, {_sqlite_path(compiler, key, **kw)})"
    return (f"(CASE {t} WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' "
            f"WHEN 'real' THEN 'number' WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"WHEN 'null' THEN 'null' WHEN 'array' THEN 'array' WHEN 'object' THEN 'object' "
            f"ELSE 'missing' END)")


@compiles(json_kind, "postgresql")
def _kind_pg(element, compiler, **kw):
    col, key, _ = _args(element, compiler, **kw)
    k = f"'{key}'"
    v = f"({col} -> {k})"
    return (f"(CASE jsonb_typeof({v}) WHEN 'boolean' THEN ({col} ->> {k}) "
            f"WHEN 'string' THEN 'string' WHEN 'number' THEN 'number' WHEN 'null' THEN 'null' "
            f"WHEN 'array' THEN 'array' WHEN 'object' THEN 'object' ELSE 'missing' END)")


@compiles(json_text)  # SQLite (and str())
@compiles(json_number)  # SQLite (and str())
def _extract_sqlite(element, compiler, **kw):
    col, key, _ = _args(element, compiler, **kw)
    return f"json_extract({col}, {_sqlite_path(compiler, key, **kw)})"


@compiles(json_text, "postgresql")
def _text_pg(element, compiler, **kw):
    col, key, _ = _args(element, compiler, **kw)
    return f"({col} ->> '{key}')"


@compiles(json_number, "postgresql")
def _number_pg(element, compiler, **kw):
    col, key, _ = _args(element, compiler, **kw)
    k = f"'{key}'"
    # The CASE keeps the cast away from non-numbers ("abc"::float8 would raise).
    return (f"(CASE WHEN jsonb_typeof({col} -> {k}) = 'number' "
            f"THEN CAST({col} ->> {k} AS DOUBLE PRECISION) END)")


def attr(col, key):
    """(kind, text, number) expressions for one custom attribute."""
    # Keys are validated to [A-Za-z0-9_-] (nodes.ATTRIBUTE_KEY), so they are
    # safe as SQL literals -- and a literal is part of the statement cache key.
    if not ATTRIBUTE_KEY.match(key):
        raise ValueError(f"bad attribute key {key!r}")
    k = literal_column(f"'{key}'")
    return json_kind(col, k), json_text(col, k), json_number(col, k)


class ascii_lower(FunctionElement):
    """lower() of ASCII letters only: SQLite's lower() folds only ASCII, so
    PostgreSQL uses translate() to match it exactly."""

    type = String()
    inherit_cache = True
    name = "ascii_lower"


@compiles(ascii_lower)  # SQLite (and str())
def _lower_sqlite(element, compiler, **kw):
    return f"lower({compiler.process(list(element.clauses)[0], **kw)})"


@compiles(ascii_lower, "postgresql")
def _lower_pg(element, compiler, **kw):
    arg = compiler.process(list(element.clauses)[0], **kw)
    return f"translate({arg}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"


class text_contains(FunctionElement):
    """haystack contains needle (plain substring, no LIKE wildcards) -> boolean."""

    inherit_cache = True
    name = "text_contains"


@compiles(text_contains)  # SQLite (and str())
def _contains_sqlite(element, compiler, **kw):
    hay, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"(instr({hay}, {needle}) > 0)"


@compiles(text_contains, "postgresql")
def _contains_pg(element, compiler, **kw):
    hay, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strpos({hay}, {needle}) > 0)"


class binary_text(FunctionElement):
    """Text compared by code point: PostgreSQL databases may use a locale
    collation (which ignores punctuation); SQLite's default is already binary."""

    type = String()
    inherit_cache = True
    name = "binary_text"


@compiles(binary_text)  # SQLite (and str())
def _binary_sqlite(element, compiler, **kw):
    return compiler.process(list(element.clauses)[0], **kw)


@compiles(binary_text, "postgresql")
def _binary_pg(element, compiler, **kw):
    return f'(({compiler.process(list(element.clauses)[0], **kw)}) COLLATE "C")'


def iso_normalized(text_expr):
    """An ISO-8601 string cut to 'YYYY-MM-DD HH:MM:SS' (missing parts padded
    with zeros) -- comparable as text; identical on both databases."""
    s = func.replace(func.substr(text_expr, 1, 19), "T", " ")
    return binary_text(s.concat(func.substr("0000-00-00 00:00:00", func.length(s) + 1)))


def iso_shaped(text_expr):
    """True when the text starts with a YYYY-MM-DD shape (digits checked)."""
    head = func.substr(text_expr, 1, 10)
    for digit in "123456789":
        head = func.replace(head, digit, "0")
    return head == "0000-00-00"


ISO_SECONDS = "%Y-%m-%d %H:%M:%S"


def nonnull_case(cond):
    """1/0 for a condition (used where a value, not a predicate, is needed)."""
    return case((cond, 1), else_=0)
