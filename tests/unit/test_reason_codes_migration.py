"""The reason-code migration fills the code of existing rows from the texts
earlier versions wrote, on a scratch database of the test's dialect."""
import os
from datetime import datetime, time

import pytest
import sqlalchemy as sa

from tests.databases import flask_db, fresh_database_url

BEFORE = "c41d9a7e2b55"  # the head before reason codes
NOW = datetime(2026, 1, 5, 8, 0)

# (state, reason as an earlier version wrote it) -> the code the migration gives it
OLD_ROWS = [
    ("suppressed", "unsubscribed", "unsubscribed"),
    ("suppressed", "never re-trigger: already sent on 2026-01-02", "never_retrigger"),
    ("suppressed", "never re-trigger: already emailed by this trigger today", "never_retrigger"),
    ("suppressed", "re-trigger delay: sent 2 days ago (7-day delay)", "retrigger_delay"),
    ("suppressed", "global delay: emailed by “Welcome” 1 day ago (3-day delay)", "global_delay"),
    ("suppressed", "no email address", "no_email"),
    ("suppressed", "something no version wrote", None),
    ("rejected", "rejected by staff", "rejected"),
    ("cancelled", "trigger deactivated", "trigger_deactivated"),
    ("cancelled", "trigger deleted", "trigger_deleted"),
    ("failed", "dismissed by staff", "dismissed"),
    ("failed", "RCPT TO: 550 5.1.1 user unknown", None),
    ("sent", None, None),
]


def _old_rows(engine) -> dict:
    """A trigger, a contact and one outbox row per OLD_ROWS entry, as the old schema holds them."""
    meta = sa.MetaData()
    meta.reflect(engine, only=["accounts", "contacts", "triggers", "outbox_messages"])
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(t["accounts"].insert().values(id=1, external_id="a", name="A", status="active",
                                                   attributes={}, created_at=NOW))
        conn.execute(t["contacts"].insert().values(
            id=1, external_id="c", account_id=1, email="c@example.com", is_crm_contact=False,
            is_product_user=True, created_at=NOW, attributes={}))
        conn.execute(t["triggers"].insert().values(
            id=1, name="T", no_reply=False, kind="schedule", priority=1, global_delay_days=0,
            retrigger_delay_days=0, never_retrigger=False, generate_at=time(8), send_at=time(9),
            timezone="UTC", requires_approval=True, status="active", last_event_id=0,
            last_transition_id=0, created_at=NOW, updated_at=NOW))
        expected = {}
        for n, (state, reason, code) in enumerate(OLD_ROWS, start=1):
            conn.execute(t["outbox_messages"].insert().values(
                id=n, trigger_id=1, contact_id=1, account_id=1, occurrence_key=str(n),
                to_email="c@example.com", state=state, reason=reason, created_at=NOW,
                updated_at=NOW, attempts=0))
            expected[n] = (state, reason, code)
    return expected


@pytest.mark.xdist_group("migrations")
def test_upgrade_fills_codes_from_the_old_texts_and_downgrade_drops_them(tmp_path):
    url = fresh_database_url(os.environ["NUDGE_BASE_DATABASE_URL"], "reason_codes",
                             tmp_path / "reason-codes.db")
    flask_db(url, tmp_path, "upgrade", BEFORE)
    engine = sa.create_engine(url)
    try:
        expected = _old_rows(engine)
        flask_db(url, tmp_path, "upgrade")
        with engine.connect() as conn:
            got = {r.id: (r.state, r.reason, r.reason_code) for r in conn.execute(sa.text(
                "SELECT id, state, reason, reason_code FROM outbox_messages"))}
        assert got == expected  # codes filled, the texts kept as the detail
        index_columns = {i["name"]: i["column_names"] for i in sa.inspect(engine).get_indexes("outbox_messages")}
        assert index_columns["ix_outbox_trigger_state_occurrence_reason"][-1] == "reason_code"

        flask_db(url, tmp_path, "downgrade", BEFORE)
        engine.dispose()
        columns = {c["name"] for c in sa.inspect(engine).get_columns("outbox_messages")}
        assert "reason_code" not in columns and "reason" in columns
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM outbox_messages")).scalar() == len(OLD_ROWS)
    finally:
        engine.dispose()
