"""engine/outbox_send_pg.py: the send loop's deferred statement on PostgreSQL."""
from datetime import date, datetime

import pytest
from sqlalchemy import text

from engine.sending import pg_fast as outbox_send_pg
from extensions import db
from models import Communication, DeliveryEvent, OutboxMessage

NOW = datetime(2026, 3, 5, 9, 30)


@pytest.fixture(autouse=True)
def _postgresql_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's wire-level fast path")


def _claimed(make, n, token="tok"):
    trigger = make.trigger()
    account = make.account()
    ids = [make.outbox_message(trigger=trigger, contact=make.contact(account=account),
                               state="approved", claim_token=token).id for _ in range(n)]
    return trigger, account, ids


def _state(message_id):
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id).state


def test_sent_then_sending_is_one_committed_statement(make):
    trigger, account, (first, second) = _claimed(make, 2)
    with db.engine.connect() as conn:
        outbox_send_pg.send_sent_then_sending(None, "", None, first, "tok", NOW, conn)
        assert outbox_send_pg.sent_then_sending_result(conn) == (False, True)
        assert _state(first) == "sending"  # committed: another connection sees it

        log = (account.id, date(2026, 3, 5), "Weekly news")
        outbox_send_pg.send_sent_then_sending(first, "250 OK queued", log, second, "tok", NOW, conn)
        assert outbox_send_pg.sent_then_sending_result(conn) == (True, True)
    assert (_state(first), _state(second)) == ("sent", "sending")
    message = db.session.get(OutboxMessage, first)
    assert (message.smtp_reply, message.sent_at) == ("250 OK queued", NOW)
    [event] = DeliveryEvent.query.all()
    assert (event.message_id, event.kind, event.at, event.detail, event.counted) == (
        first, "delivered", NOW, "250 OK queued", False)
    [row] = Communication.query.all()
    assert (row.account_id, row.trigger_id, row.day, row.type, row.subject) == (
        account.id, trigger.id, date(2026, 3, 5), "Trigger", "Weekly news")


def test_marks_only_what_is_still_ours(make):
    _, account, (first, second) = _claimed(make, 2)
    log = (account.id, date(2026, 3, 5), "s")
    with db.engine.connect() as conn:
        # Another worker's token: neither mark is made, and no log row without a sent mark.
        outbox_send_pg.send_sent_then_sending(first, "250 OK", log, second, "other", NOW, conn)
        assert outbox_send_pg.sent_then_sending_result(conn) == (False, False)
    assert (_state(first), _state(second)) == ("approved", "approved")
    assert Communication.query.count() == 0 and DeliveryEvent.query.count() == 0


def test_a_second_log_row_for_the_same_day_is_ignored(make):
    _, account, ids = _claimed(make, 3)
    log = (account.id, date(2026, 3, 5), "s")
    with db.engine.connect() as conn:
        previous = None
        for message_id in ids:
            outbox_send_pg.send_sent_then_sending(previous, "250 OK", log if previous else None,
                                                  message_id, "tok", NOW, conn)
            assert outbox_send_pg.sent_then_sending_result(conn)[1]
            previous = message_id
    assert Communication.query.count() == 1


def test_prepared_again_after_psycopg_deallocated_it(make):
    _, _, (first, second) = _claimed(make, 2)
    with db.engine.connect() as conn:
        outbox_send_pg.send_sent_then_sending(None, "", None, first, "tok", NOW, conn)
        assert outbox_send_pg.sent_then_sending_result(conn) == (False, True)
        conn.execute(text("DEALLOCATE ALL"))  # what psycopg does after DDL it runs
        conn.commit()
        outbox_send_pg.send_sent_then_sending(first, "250 OK", None, second, "tok", NOW, conn)
        assert outbox_send_pg.sent_then_sending_result(conn) == (True, True)
    assert (_state(first), _state(second)) == ("sent", "sending")


def test_needs_a_connection_without_an_open_transaction(make):
    _, _, (first,) = _claimed(make, 1)
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        with pytest.raises(RuntimeError, match="no open transaction"):
            outbox_send_pg.send_sent_then_sending(None, "", None, first, "tok", NOW, conn)
