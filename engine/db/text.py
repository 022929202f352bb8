"""Reading text that may not be valid Unicode back from the database.

SQLite keeps JSON escapes such as "\\ud800" (a lone UTF-16 surrogate, stored before the
API refused them) and json_each() returns them as bytes that are not UTF-8, which
sqlite3 cannot decode: select such a column CAST(... AS BLOB) and pass it through here.
"""


def readable_text(value) -> str | None:
    """A str as is; bytes decoded as UTF-8, or None when they are not valid text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value
