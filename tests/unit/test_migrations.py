"""The migrations build exactly the schema the models describe, on this database."""
import os

import pytest

from tests.databases import flask_db, fresh_database_url


@pytest.mark.xdist_group("migrations")
def test_migrations_match_models(tmp_path):
    url = fresh_database_url(os.environ["NUDGE_BASE_DATABASE_URL"], "migrations",
                             tmp_path / "migrated.db")
    for args in (["upgrade"], ["check"], ["downgrade", "base"], ["upgrade"]):
        flask_db(url, tmp_path, *args)
