"""INSERT ... ON CONFLICT statements, spelled for the current database."""
from sqlalchemy.dialects import postgresql, sqlite

from extensions import db


def _insert(table):
    table = getattr(table, "__table__", table)
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_duplicates(table, index_elements=None):
    """INSERT ... ON CONFLICT DO NOTHING."""
    return _insert(table).on_conflict_do_nothing(index_elements=index_elements)


def insert_or_add(table, key_columns: list[str], add_columns: list[str]):
    """INSERT, or on a key conflict add the new values to the stored ones
    (counters: `n = n + excluded.n`), atomically in the database."""
    stmt = _insert(table)
    columns = getattr(table, "__table__", table).c
    return stmt.on_conflict_do_update(
        index_elements=key_columns,
        set_={name: columns[name] + stmt.excluded[name] for name in add_columns},
    )


def insert_or_replace(table, key_columns: list[str], set_columns: list[str]):
    """INSERT, or on a key conflict overwrite `set_columns` with the new values."""
    stmt = _insert(table)
    return stmt.on_conflict_do_update(
        index_elements=key_columns, set_={name: stmt.excluded[name] for name in set_columns})
