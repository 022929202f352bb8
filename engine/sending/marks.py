"""The send loop's database marks around each SMTP transaction.

A message is marked `sending` -- durably, committed -- before the server can
take it (engine/smtp.py), together with the previous message's outcome, so each
message costs one commit and a killed worker leaves at most one message in
`sending`. The marks are made while the server answers commands that deliver
nothing (engine/smtp.py transmit hooks):

SendMarks (SQLite, which locks the whole database from the first write to the
commit): outcome, `sending` and commit all while the server answers MAIL FROM
(with PIPELINING, the whole envelope), never holding the lock across a wait.

DeferredSendMarks (PostgreSQL): outcome + `sending` are one statement that
commits by itself, sent when MAIL FROM goes out and collected when the content
has gone out but not the end-of-data line, the one a server takes a message
at (engine/outbox_send_pg.py): the commit's WAL flush overlaps three SMTP
round trips and the server reading the content.
"""
from engine.outbox import send_states as outbox_send
from engine.sending import pg_fast as outbox_send_pg
from engine.reports.communications import CommunicationLog


class SendMarks:
    def __init__(self, token, *, clock, stats: dict, comms: CommunicationLog, conn):
        self.token, self.clock, self.stats, self.comms, self.conn = token, clock, stats, comms, conn
        self.pending = []  # at most one (row, trigger, outcome) not yet written
        self.row = self.started = None
        self.started_ids = set()  # rows of the batch marked `sending` (and not given back)

    def hooks_for(self, row) -> dict:
        """Transmit hooks for one attempt at `row`; `started` says whether the
        mark was made (None: the transaction ended before it was tried)."""
        self.row, self.started = row, None
        return {"mail": self.start}

    def start(self) -> bool:
        self.flush()
        self.started = outbox_send.mark_sending(self.row.id, self.token, self.clock(), conn=self.conn)
        self.conn.commit()
        return self._note_started()

    def _note_started(self) -> bool:
        if self.started:
            self.started_ids.add(self.row.id)
        return self.started

    def not_sent(self, row) -> None:
        """The connection was lost before the content went out: `row` is approved
        again, still reserved by this worker, and may be tried again."""
        if self.started:
            outbox_send.mark_not_sent(row.id, self.token, self.clock(), conn=self.conn)
            self.started_ids.discard(row.id)

    def settle(self) -> None:
        """After transmit: nothing still on its way to the database."""

    def outcome(self, row, trigger, result) -> None:
        """Record `result` for `row` with the next mark (or on flush)."""
        self.pending.append((row, trigger, result))

    def flush(self) -> None:
        """Write the pending outcome (not committed)."""
        while self.pending:
            self._write(*self.pending.pop(), self.clock())

    def finish(self) -> None:
        self.flush()
        self.conn.commit()

    def count_sent(self, ok, row, trigger, now) -> None:
        if ok:
            self.comms.record_sent(row.account_id, trigger, now, conn=self.conn)
            self.stats["sent"] += 1

    def _write(self, row, trigger, result, now) -> None:
        token, conn, stats = self.token, self.conn, self.stats
        if result.kind == "sent":
            self.count_sent(outbox_send.mark_sent(row.id, token, result.reply, now, conn=conn),
                            row, trigger, now)
        elif result.kind == "retry":
            outcome = outbox_send.mark_retry(row.id, token, result.reply, now, conn=conn)
            stats["retry" if outcome == "retry" else "failed"] += 1
        elif result.kind == "failed":
            outbox_send.mark_failed(row.id, token, result.reply, now, reply=result.reply, conn=conn)
            stats["failed"] += 1
        else:
            outbox_send.mark_uncertain(row.id, token, result.reply, now, conn=conn)
            stats["uncertain"] += 1


class DeferredSendMarks(SendMarks):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_flight = None  # (previous row, its trigger, now) while the statement runs

    def hooks_for(self, row) -> dict:
        self.row, self.started = row, None
        return {"mail": self.send, "end": self.collect}

    def send(self) -> None:
        previous = log = None
        if self.pending and self.pending[0][2].kind == "sent":
            previous = self.pending.pop()
        self.flush()  # any other outcome the ordinary way, committed first
        if self.conn.in_transaction():
            self.conn.commit()
        now = self.clock()
        if previous:
            log = self.comms.row_to_write(previous[0].account_id, previous[1], now)
        outbox_send_pg.send_sent_then_sending(
            previous[0].id if previous else None, previous[2].reply if previous else "", log,
            self.row.id, self.token, now, self.conn)
        self.in_flight = (previous, log)

    def collect(self) -> bool:
        previous, log = self.in_flight
        self.in_flight = None
        ok, self.started = outbox_send_pg.sent_then_sending_result(self.conn)
        if previous and ok:
            self.stats["sent"] += 1
            if log:
                self.comms.remember(previous[1], log)
        return self._note_started()

    def start(self) -> bool:
        self.send()
        return self.collect()

    def settle(self) -> None:
        if self.in_flight is not None:
            self.collect()
