"""Text the databases cannot hold: U+0000 (NUL) and lone UTF-16 surrogates (U+D800..U+DFFF).

PostgreSQL text and JSONB refuse both; SQLite keeps a JSON escape such as "\\ud800"
(stored before the API refused them) and hands it back on every read, where UTF-8 (a
page, an email, a text column) cannot encode it. The web layer refuses such input at the
door (blueprints/text_guard.py); these helpers make what was stored earlier harmless.
"""
import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD (the text itself when clean)."""
    return UNSTORABLE.sub("\ufffd", text) if UNSTORABLE.search(text) else text


def readable_text(value) -> str | None:
    """A str as is; bytes decoded as UTF-8, or None when they are not valid text.
    (SQLite's json_each() returns a key holding a lone surrogate as bytes that are not
    UTF-8, which sqlite3 cannot decode: select such a column CAST(... AS BLOB).)"""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value
