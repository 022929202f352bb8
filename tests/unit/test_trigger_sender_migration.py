"""The from_name / tracking migration keeps every row: on SQLite a batch table
rebuild of `triggers` would cascade-delete the outbox (foreign_keys=ON)."""
import os

import pytest
import sqlalchemy as sa

from tests.databases import flask_db, fresh_database_url
from tests.unit.test_reason_codes_migration import _old_rows

BEFORE = "6927c77fdfb4"


@pytest.mark.xdist_group("migrations")
def test_upgrade_and_downgrade_keep_triggers_and_their_outbox(tmp_path):
    url = fresh_database_url(os.environ["NUDGE_BASE_DATABASE_URL"], "sender_fields",
                             tmp_path / "sender-fields.db")
    flask_db(url, tmp_path, "upgrade", BEFORE)
    engine = sa.create_engine(url)
    try:
        rows = len(_old_rows(engine))  # a trigger with a contact's outbox history
        flask_db(url, tmp_path, "upgrade")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM outbox_messages")).scalar() == rows
            row = conn.execute(sa.text("SELECT from_name, track_opens, track_clicks FROM triggers")).one()
            assert (row[0], bool(row[1]), bool(row[2])) == (None, True, True)
        flask_db(url, tmp_path, "downgrade", BEFORE)
        engine.dispose()
        assert "from_name" not in {c["name"] for c in sa.inspect(engine).get_columns("triggers")}
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM outbox_messages")).scalar() == rows
            assert conn.execute(sa.text("SELECT count(*) FROM triggers")).scalar() == 1
    finally:
        engine.dispose()
