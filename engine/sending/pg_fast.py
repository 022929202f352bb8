"""PostgreSQL's fast path for the send loop: a statement sent on its own
(it commits by itself) without waiting for the answer, collected later.

The send loop writes message n's outcome and message n+1's `sending` mark in
one statement, and that commit must be durable before n+1's content goes
out. A commit here costs a WAL flush of ~0.2 ms plus a round trip per
statement (BEGIN, the statement, COMMIT: three through the DBAPI). Sent at the
wire level as one prepared statement in its own implicit transaction, it is
one round trip, and the worker carries on with the SMTP commands that deliver
nothing (MAIL, RCPT, DATA) while PostgreSQL works; it collects the answer just
before the content goes out.

Uses psycopg's documented libpq wrapper (psycopg.pq) on the connection the
SQLAlchemy Connection holds; the connection must have no transaction open.
"""
import select as select_module
from datetime import date, datetime

from psycopg import errors, pq
from sqlalchemy import (BigInteger, Boolean, Date, DateTime, Integer, String, bindparam, func,
                        literal, select, update)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from engine.outbox.send_states import _MARK_SENT_WITH_EVENT, _SENT_CTE, M, T
from models import Communication, DeliveryEvent

# Parameter types: the statement's casts cover most, not a bare value in a SELECT list.
_OIDS = ((Boolean, 16), (BigInteger, 20), (Integer, 20), (DateTime, 1114), (Date, 1082),
         (String, 25))
_DIALECT = psycopg_dialect.dialect(paramstyle="numeric_dollar")


def _oid(sql_type) -> int:
    for cls, oid in _OIDS:
        if isinstance(sql_type, cls):
            return oid
    return 0  # let the server infer it


def _text(value) -> bytes | None:
    """A parameter in PostgreSQL's text format."""
    if value is None:
        return None
    if type(value) is int:  # most of them: ids
        return b"%d" % value
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, bytes):
        return value
    if isinstance(value, datetime):
        return value.isoformat(" ").encode("ascii")
    if isinstance(value, date):
        return value.isoformat().encode("ascii")
    return str(value).encode("utf-8")


class DeferredStatement:
    """One SQLAlchemy statement, prepared once per connection, run as its own
    transaction: send(...) returns at once, result() waits for the first row."""

    def __init__(self, stmt, name: str, defaults: dict | None = None):
        compiled = stmt.compile(dialect=_DIALECT)
        self.name = name.encode("ascii")
        self.sql = str(compiled).encode("utf-8")
        self.order = tuple(compiled.positiontup)
        # Literal values the statement carries (SQLAlchemy sends them as parameters).
        fixed = {n: b.value for n, b in compiled.binds.items()
                 if not b.required and b.callable is None and b.value is not None}
        fixed.update(defaults or {})
        self.fixed = {n: _text(v) for n, v in fixed.items()}  # in the wire format, once
        self.types = [_oid(compiled.binds[n].type) for n in self.order]

    def send(self, conn, params: dict) -> None:
        pgconn = _pgconn(conn)
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            raise RuntimeError("a deferred statement needs a connection with no open transaction")
        self._prepare(conn, pgconn)
        fixed = self.fixed
        values = [fixed[n] if n in fixed else _text(params[n]) for n in self.order]
        conn.connection.info["nudge_in_flight"] = values
        self._send(pgconn, values)

    def result(self, conn) -> tuple:
        """The first row's values as text (the statement has committed)."""
        pgconn = _pgconn(conn)
        res = _collect(pgconn)
        if res is not None and res.error_field(pq.DiagnosticField.SQLSTATE) == b"26000":
            # psycopg deallocates every prepared statement of the session after DDL
            # it runs: the statement never ran, so prepare it again and run it now.
            conn.connection.info["nudge_prepared"].discard(self.name)
            self._prepare(conn, pgconn)
            self._send(pgconn, conn.connection.info["nudge_in_flight"])
            res = _collect(pgconn)
        if res is None or res.status != pq.ExecStatus.TUPLES_OK:
            raise errors.error_from_result(res) if res is not None else errors.OperationalError(
                "no result from PostgreSQL")
        return tuple((res.get_value(0, i) or b"").decode() for i in range(res.nfields))

    def _prepare(self, conn, pgconn) -> None:
        prepared = conn.connection.info.setdefault("nudge_prepared", set())
        if self.name not in prepared:
            res = pgconn.prepare(self.name, self.sql, self.types)
            if res.status != pq.ExecStatus.COMMAND_OK:
                raise errors.error_from_result(res)
            prepared.add(self.name)

    def _send(self, pgconn, values) -> None:
        pgconn.send_query_prepared(self.name, values)
        _wait(pgconn, lambda: pgconn.flush() == 0, write=True)


def _collect(pgconn):
    """The first result of the query in flight (the rest are read and dropped)."""
    def ready():
        pgconn.consume_input()
        return not pgconn.is_busy()

    _wait(pgconn, ready)
    res = pgconn.get_result()
    while pgconn.get_result() is not None:
        pass
    return res


def _pgconn(conn):
    return conn.connection.driver_connection.pgconn


def _wait(pgconn, done, write=False) -> None:
    while not done():
        fd = [pgconn.socket]
        select_module.select([] if write else fd, fd if write else [], [])


# Message n sent (+ its delivery event, + its account's communication log row
# when this worker has not written that one yet) and message n+1 `sending`.
_LOG_CTE = (postgresql.insert(Communication.__table__).from_select(
    ["account_id", "trigger_id", "day", "category", "type", "subject", "created_at"],
    select(bindparam("p_account", type_=BigInteger), _SENT_CTE.c.trigger_id,
           bindparam("p_day", type_=Date), literal("Emails", String), literal("Trigger", String),
           bindparam("p_subject", type_=String), bindparam("p_now", type_=DateTime))
    .where(bindparam("p_log", type_=Boolean)))
    .on_conflict_do_nothing(index_elements=["account_id", "trigger_id", "day"])
    .returning(Communication.__table__.c.id).cte("log"))
_SENDING_CTE = (update(T).where(M.id == bindparam("p_next"), M.claim_token == bindparam("p_token"),
                                M.state == "approved")
                .values(state="sending", claimed_at=bindparam("p_now"), updated_at=bindparam("p_now"))
                .returning(M.id).cte("go"))
_SENT_THEN_SENDING = DeferredStatement(
    select(select(func.count()).select_from(_SENT_CTE).scalar_subquery(),
           select(func.count()).select_from(_SENDING_CTE).scalar_subquery())
    .add_cte(_MARK_SENT_WITH_EVENT.stmt.returning(DeliveryEvent.__table__.c.id).cte("ev"))
    .add_cte(_LOG_CTE),
    "nudge_sent_then_sending", defaults={"counted": DeliveryEvent.__table__.c.counted.default.arg})


def send_sent_then_sending(sent_id, reply: str, log: tuple | None, next_id, claim_token,
                           now: datetime, conn) -> None:
    """mark_sent(sent_id) (None: no previous message) and mark_sending(next_id)
    in one statement that commits by itself, sent without waiting; the
    connection must have no transaction open. `log`: (account id, day, subject)
    of the communication log row to write with the sent mark, or None.
    sent_then_sending_result() collects the answer; only then are the marks
    durable."""
    reply = (reply or "")[:2000]
    account_id, day, subject = log or (None, date.min, "")
    _SENT_THEN_SENDING.send(conn, {
        "p_id": sent_id, "p_token": claim_token, "p_now": now, "p_reply": reply,
        "p_detail": reply, "p_next": next_id, "p_log": log is not None, "p_account": account_id,
        "p_day": day, "p_subject": subject})


def sent_then_sending_result(conn) -> tuple[bool, bool]:
    """(sent marked, sending marked) of the statement send_sent_then_sending sent."""
    sent, started = _SENT_THEN_SENDING.result(conn)
    return sent == "1", started == "1"
