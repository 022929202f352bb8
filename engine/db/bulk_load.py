"""Fast bulk writes of plain tuples: psycopg COPY on PostgreSQL, executemany in chunks on SQLite.

Used by the demo data generator (devtools/demo.py) and the bench scripts. Values must already
be in storage form: naive-UTC "YYYY-MM-DD HH:MM:SS.ffffff" text for times, JSON text for
JSON columns, Python bools for booleans.
"""
import time

from sqlalchemy import text

CHUNK = 10_000
REINDEX_ROWS = 50_000  # loads this big into an empty table rebuild its indexes afterwards


def load(conn, table, columns, rows, expected=0, log=None):
    """Write rows (an iterable of tuples, built lazily as they are written) into `table`.

    conn: a SQLAlchemy Connection; nothing is committed here. `expected` rows at or above
    REINDEX_ROWS into an empty table drop its plain indexes first and rebuild them after.
    Returns how many rows were written; `log(str)` gets a timing line.
    """
    started = time.perf_counter()
    rebuild = drop_indexes_if_empty(conn, table) if expected >= REINDEX_ROWS else []
    written = write_rows(conn, table, columns, rows)
    wrote = time.perf_counter()
    for create in rebuild:  # building an index once is cheaper than updating it per row
        conn.execute(text(create))
    indexed = f", indexes rebuilt in {time.perf_counter() - wrote:.1f}s" if rebuild else ""
    if log:
        log(f"{table}: {written:,} rows built and written in {wrote - started:.1f}s{indexed}")
    return written


def drop_indexes_if_empty(conn, table):
    """Drop an empty table's plain indexes (not those behind constraints); return their DDL."""
    if conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
        return []
    if conn.dialect.name == "postgresql":
        found = conn.execute(text(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = CAST(:t AS regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        ), {"t": table}).all()
    else:
        found = conn.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
        ), {"t": table}).all()
    for name, _create in found:
        conn.execute(text(f'DROP INDEX "{name}"'))
    return [create for _name, create in found]


def write_rows(conn, table, columns, rows):
    """Bulk-write rows; returns how many. COPY on PostgreSQL, chunked executemany on SQLite."""
    raw = conn.connection.dbapi_connection
    cols = ", ".join(columns)
    written = 0
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                written += 1
        return written
    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in columns)})"
    cur = raw.cursor()
    # A large page cache keeps the index B-trees in memory during the load.
    old_cache = cur.execute("PRAGMA cache_size").fetchone()[0]
    cur.execute("PRAGMA cache_size=-262144")
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            cur.executemany(sql, chunk)
            written += len(chunk)
            chunk = []
    if chunk:
        cur.executemany(sql, chunk)
        written += len(chunk)
    cur.execute(f"PRAGMA cache_size={int(old_cache)}")
    cur.close()
    return written
