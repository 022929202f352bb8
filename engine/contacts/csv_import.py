"""Reading an uploaded CSV for import: decode and check the file, match its
columns to Nudge fields, and turn each record's cells into a typed ingest item.
engine.contacts.imports runs the job; this module touches no database."""
import csv
import io
import math
import re
from dataclasses import dataclass

MAX_BYTES = 20 * 1024 * 1024
KINDS = ("contacts", "accounts")


class ImportFileError(ValueError):
    """The uploaded file cannot be imported at all (shown above the upload form)."""


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "text"  # text | number | boolean | time
    required: bool = False
    aliases: tuple = ()


FIELDS = {
    "accounts": (
        Field("external_id", "External ID", required=True, aliases=("id", "account_id", "account_external_id")),
        Field("name", "Name", required=True, aliases=("account_name", "company", "company_name", "account")),
        Field("arr", "ARR", "number", aliases=("annual_recurring_revenue", "revenue")),
        Field("plan", "Plan", aliases=("plan_name", "tier")),
        Field("status", "Status", aliases=("account_status",)),
    ),
    "contacts": (
        Field("external_id", "External ID", required=True, aliases=("id", "contact_id", "user_id", "contact_external_id")),
        Field("account_external_id", "Account external ID", required=True,
              aliases=("account_id", "account", "company_id")),
        Field("email", "Email", required=True, aliases=("email_address", "e_mail", "mail")),
        Field("first_name", "First name", aliases=("firstname", "first", "given_name")),
        Field("last_name", "Last name", aliases=("lastname", "last", "surname", "family_name")),
        Field("role", "Role", aliases=("title", "job_title")),
        Field("is_crm_contact", "CRM contact", "boolean", aliases=("crm_contact", "crm")),
        Field("is_product_user", "Product user", "boolean", aliases=("product_user",)),
        Field("timezone", "Timezone", aliases=("time_zone", "tz")),
        Field("created_at", "Created at", "time", aliases=("created", "signed_up_at", "signup_at")),
        Field("last_seen_at", "Last seen at", "time", aliases=("last_seen", "last_active_at", "last_login_at")),
    ),
}
TRUE_WORDS = {"true", "yes", "y", "1"}
FALSE_WORDS = {"false", "no", "n", "0"}
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_LEADING_ZERO = re.compile(r"^[+-]?0\d")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_name(column: str) -> str:
    """'First Name' -> 'first_name': how columns are matched and attribute keys made."""
    return re.sub(r"[^0-9a-z]+", "_", column.strip().lower()).strip("_")


def attribute_key(column: str) -> str:
    if column.strip().lower().startswith("attributes."):
        column = column.strip()[len("attributes."):]
    return normalize_name(column)


# ---- reading the file -------------------------------------------------------

def decode_upload(data: bytes) -> str:
    """The file's text, or ImportFileError saying why it cannot be read."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB. Split it into smaller files.")
    if not data.strip():
        raise ImportFileError("The file is empty.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.")
    if "\x00" in text:
        raise ImportFileError("The file looks binary (e.g. an Excel workbook), not CSV text.")
    return text


def _dialect(text: str):
    first = text[:64 * 1024].split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def read_records(text: str):
    """(columns, iterator of (line_number, cells)) for every non-blank data row.

    Line numbers are the file's own (header = line 1), counting the first line
    of a record whose quoted cell spans several lines."""
    # strict: an unclosed quote is an error, not a cell silently swallowing the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(f"The file is not valid CSV: {exc} (line {reader.line_num}).")
    if header is None:
        raise ImportFileError("The file is empty.")
    columns = [c.strip() for c in header]

    def records():
        line = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(f"The file is not valid CSV: {exc} (line {line + 1}).")
            start, line = line + 1, reader.line_num
            if any(c.strip() for c in cells):
                yield start, cells

    return columns, records()


def inspect_file(text: str, kind: str, preview_rows: int = 5) -> dict:
    """Check an uploaded file before mapping: header, rows, the right kind."""
    if kind not in KINDS:
        raise ImportFileError("Choose whether the file holds contacts or accounts.")
    columns, records = read_records(text)
    preview, total = [], 0
    for _line, cells in records:
        total += 1
        if len(preview) < preview_rows:
            preview.append(cells)
    named = [c for c in columns if c]
    if not named or any(_EMAIL.match(c) or _FLOAT.match(c) for c in named):
        raise ImportFileError("The first line must be a header row naming the columns (e.g. external_id, email).")
    dupes = sorted({c for c in named if named.count(c) > 1})
    if dupes:
        raise ImportFileError(f"The header names a column twice: {', '.join(dupes)}.")
    if total == 0:
        raise ImportFileError("The file has a header row but no data rows.")
    other = "accounts" if kind == "contacts" else "contacts"
    mine, theirs = auto_mapping(kind, columns), auto_mapping(other, columns)
    if _complete(other, theirs) and (not _complete(kind, mine) or len(theirs) > len(mine)):
        raise ImportFileError(f"This file looks like {other}, not {kind} (see its columns). "
                              f"Choose “{other.capitalize()}” and upload it again.")
    return {"columns": columns, "preview": preview, "total_rows": total, "mapping": mine,
            "attributes": default_attribute_columns(kind, columns, mine)}


def _complete(kind: str, mapping: dict) -> bool:
    return all(f.name in mapping for f in FIELDS[kind] if f.required)


def auto_mapping(kind: str, columns: list[str]) -> dict:
    """field -> column for columns whose names match a field (exact name before aliases)."""
    by_name = {normalize_name(c): c for c in columns if c}
    mapping, used = {}, set()
    for pass_aliases in (False, True):
        for f in FIELDS[kind]:
            if f.name in mapping:
                continue
            for candidate in (f.aliases if pass_aliases else (f.name,)):
                column = by_name.get(candidate)
                if column and column not in used:
                    mapping[f.name] = column
                    used.add(column)
                    break
    return mapping


# The columns an import's error file adds (engine.contacts.imports.error_rows): a fixed error
# file uploaded again does not store them as attributes unless staff tick them.
ERROR_FILE_COLUMNS = ("import_line", "import_problems")


def default_attribute_columns(kind: str, columns: list[str], mapping: dict) -> list[str]:
    mapped = set(mapping.values())
    return [c for c in columns if c and c not in mapped and attribute_key(c) and c not in ERROR_FILE_COLUMNS]


def check_mapping(kind: str, columns: list[str], mapping: dict, attributes: list[str]) -> list[str]:
    """Problems with a mapping chosen on the mapping page (empty list = fine)."""
    problems = []
    known = set(columns)
    for f in FIELDS[kind]:
        if f.required and not mapping.get(f.name):
            problems.append(f"Choose the column for {f.label} (required).")
    seen = {}
    for field_name, column in mapping.items():
        if column not in known:
            problems.append(f"There is no column “{column}” in the file.")
        elif column in seen:
            problems.append(f"Column “{column}” is mapped to both {seen[column]} and {field_name}.")
        seen[column] = field_name
    for column in attributes:
        if column not in known:
            problems.append(f"There is no column “{column}” in the file.")
    return problems


# ---- cells to typed values --------------------------------------------------

def _number(raw: str):
    cleaned = raw.replace(",", "").replace("_", "").lstrip("$€£").strip()
    if _INT.match(cleaned):
        return int(cleaned)
    if _FLOAT.match(cleaned) and math.isfinite(float(cleaned)):
        return float(cleaned)
    raise ValueError(f"“{raw}” is not a number")


def _boolean(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"“{raw}” is not true/false, yes/no or 1/0")


def _guess(raw: str):
    """A custom attribute's type from its text: boolean, number, else text."""
    word = raw.lower()
    if word in ("true", "yes"):
        return True
    if word in ("false", "no"):
        return False
    if _LEADING_ZERO.match(raw):
        return raw  # zip codes, phone numbers and ids keep their zeros
    if _INT.match(raw):
        return int(raw) if len(raw.lstrip("+-")) < 16 else raw  # long digit strings are ids, not amounts
    if _FLOAT.match(raw) and math.isfinite(float(raw)):
        return float(raw)  # (1e999 would be Infinity, which JSON columns refuse)
    return raw


class RowConverter:
    """Turns one record's cells into an ingest item (what the API would receive)."""

    def __init__(self, kind: str, columns: list[str], mapping: dict, attributes: list[str]):
        index = {c: i for i, c in enumerate(columns)}
        types = {f.name: f.type for f in FIELDS[kind]}
        self.fields = [(name, index[col], types[name]) for name, col in mapping.items() if col in index]
        mapped = set(mapping.values())
        self.attributes = [(attribute_key(c), index[c]) for c in attributes if c in index and c not in mapped]
        self.width = len(columns)

    def convert(self, cells: list[str]) -> tuple[dict, list[str]]:
        if len(cells) > self.width and any(c.strip() for c in cells[self.width:]):
            return {}, [f"the row has {len(cells)} values but the header names {self.width} columns"]
        item, problems = {}, []
        for name, i, kind in self.fields:
            raw = cells[i].strip() if i < len(cells) else ""
            if raw == "":
                continue  # empty cell: the field is left out (not set to empty)
            try:
                item[name] = _number(raw) if kind == "number" else _boolean(raw) if kind == "boolean" else raw
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        attrs = {}
        for key, i in self.attributes:
            raw = cells[i].strip() if i < len(cells) else ""
            if raw != "":
                attrs[key] = _guess(raw)
        if attrs:
            item["attributes"] = attrs
        return item, problems
