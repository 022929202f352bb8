"""Text the databases cannot hold -- U+0000 (NUL) and lone UTF-16 surrogates
(U+D800..U+DFFF, e.g. JSON "\\ud800") -- refused at the door, and responses that still
meet one (a row stored before, on SQLite) sent with U+FFFD in its place instead of a 500.

PostgreSQL text/JSONB refuses both (psycopg raises deep inside a view); SQLite stores a
surrogate escaped inside JSON and hands it back on every read, and UTF-8 cannot encode it.
Used by app.create_app: `refuse_unstorable_text` runs before every request, and
`TextSafeResponse` is the app's response class.
"""
import re

from flask import Response, abort, jsonify, request

from engine.db.text import UNSTORABLE, storable

# Cheap test of the raw JSON body before walking it: only a \u escape can carry either.
_MAYBE_UNSTORABLE_JSON = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
BATCHES = ("accounts", "contacts", "events", "contact_external_ids")  # {"<batch>": [items]}
MAX_ERRORS = 20


def problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text may not contain NUL (\\u0000) characters"
    return "text may not contain a lone UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode"


def _json_errors(document) -> list[dict]:
    """[{"path", "field", "message"} (+ "index" inside a batch)] for every unstorable key or
    value in a parsed JSON document, nested (iteratively: depth is no limit)."""
    errors = []
    stack = [((), document)]
    while stack and len(errors) < MAX_ERRORS:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and (why := problem(key)):
                    errors.append(_error((*path, key), why))
                stack.append(((*path, key), value))
        elif isinstance(item, list):
            stack.extend(((*path, i), value) for i, value in enumerate(item))
        elif isinstance(item, str) and (why := problem(item)):
            errors.append(_error(path, why))
    return sorted(errors, key=lambda e: (e.get("index", -1), e["path"]))


def _dotted(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{storable(part)}" if out else storable(part))
    return out


def _error(path: tuple, message: str) -> dict:
    error = {"path": _dotted(path), "field": _dotted(path), "message": message}
    if len(path) >= 2 and path[0] in BATCHES and isinstance(path[1], int):
        error.update(index=path[1], field=_dotted(path[2:]) or path[0])
    return error


def refuse_unstorable_text():
    """Before every request: NUL or a lone surrogate in the query string -> 400; in a form
    field, an uploaded file's name or anywhere in a JSON body (keys and values, nested)
    -> 422, under /api/ as {"errors": [{"path", "field", "message"(, "index")}]}."""
    from blueprints.api.app_level import is_api_request

    if any(problem(v) for _k, vs in request.args.lists() for v in [_k, *vs]):
        abort(400, description="The address may not contain NUL characters or lone surrogates.")
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    errors = [_error((name,), why) for name, values in request.form.lists()
              for value in [name, *values] if (why := problem(value))]
    errors += [_error((name,), why) for name, files in request.files.lists()
               for f in files if (why := problem(f.filename or ""))]
    if request.is_json and _MAYBE_UNSTORABLE_JSON.search(request.get_data()):
        try:
            document = request.get_json(silent=True)
        except RecursionError:  # nested too deeply to read: the view refuses it
            document = None
        errors += _json_errors(document)
    if not errors:
        return None
    if is_api_request():
        return jsonify({"errors": errors[:MAX_ERRORS]}), 422
    first = errors[0]
    abort(422, description=f"{first['message'][0].upper()}{first['message'][1:]} (in “{first['path']}”). "
                           "Nothing was saved; remove the character and try again.")


class TextSafeResponse(Response):
    """Encodes a page that holds a lone surrogate (read back from an old row) with U+FFFD
    in its place, where Werkzeug would raise UnicodeEncodeError (a 500 on every view)."""

    def set_data(self, value):
        super().set_data(self._encode(value))

    def iter_encoded(self):  # streamed bodies (CSV exports)
        return map(self._encode, self.response)

    @staticmethod
    def _encode(item):
        if isinstance(item, str):
            try:
                return item.encode()
            except UnicodeEncodeError:
                return storable(item).encode()
        return item
