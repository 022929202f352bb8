"""Test fixtures: one database and one Redis per xdist worker, emptied before
every test; the app, a logged-in client per role, factories, a recording
Doorbell, an SMTP sink, a live server and a headless Chromium."""
import os
import tempfile
from pathlib import Path

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
WORKER_NUM = int("".join(c for c in WORKER if c.isdigit()) or 0)
_TMP = Path(tempfile.mkdtemp(prefix=f"nudge-test-{WORKER}-"))
os.environ["NUDGE_INSTANCE_DIR"] = str(_TMP / "instance")


# The xdist controller rewrites these before workers start: keep the originals.
BASE_DATABASE_URL = os.environ.setdefault("NUDGE_BASE_DATABASE_URL", os.environ.get("DATABASE_URL", ""))
BASE_REDIS_URL = os.environ.setdefault("NUDGE_BASE_REDIS_URL", os.environ.get("REDIS_URL", ""))


from tests.databases import fresh_database_url  # noqa: E402

os.environ["DATABASE_URL"] = fresh_database_url(BASE_DATABASE_URL, WORKER, _TMP / "test.db")
if BASE_REDIS_URL:
    # A Redis database per xdist worker keeps queues apart.
    os.environ["REDIS_URL"] = BASE_REDIS_URL.rsplit("/", 1)[0] + f"/{1 + WORKER_NUM % 15}"

from app import create_app  # noqa: E402
from config import TestConfig  # noqa: E402
from extensions import db  # noqa: E402
from tests import factories  # noqa: E402

TestConfig.SQLALCHEMY_DATABASE_URI = os.environ["DATABASE_URL"]
TestConfig.REDIS_URL = os.environ.get("REDIS_URL", "")


def _stop_without_chromium(nodeids):
    """Without a Chromium every browser test would fail alike: stop once, saying what to
    install (`make test` installs one first, so this is for plain pytest)."""
    from tests.browser.ensure_chromium import NOT_FOUND, find_chromium

    if any(nodeid.startswith("tests/browser/") for nodeid in nodeids) and find_chromium() is None:
        pytest.exit(NOT_FOUND, returncode=1)


@pytest.hookimpl(trylast=True)  # after -m / -k deselected what will not run
def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # xdist workers leave it to the controller (below)
        _stop_without_chromium([item.nodeid for item in items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    # An exit raised inside a worker is an INTERNALERROR; from the controller it is one line.
    _stop_without_chromium(ids)


@pytest.fixture(scope="session")
def _app():
    from workers.queues import stop_embedded

    application = create_app(TestConfig)
    yield application
    stop_embedded()  # else every run leaves its embedded Redis server behind


def _empty_database():
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(db.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
        db.session.execute(db.text("DELETE FROM sqlite_sequence")) if _has_sqlite_sequence() else None
    db.session.commit()


def _has_sqlite_sequence() -> bool:
    return bool(db.session.execute(
        db.text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
    ).first())


@pytest.fixture
def app(_app):
    """The app with an empty database and empty Redis, inside an app context."""
    from workers.queues import get_redis

    saved = dict(_app.config)
    with _app.app_context():
        _empty_database()
        get_redis().flushdb()
        yield _app
        db.session.remove()
    _app.config.clear()
    _app.config.update(saved)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(app):
    """Factories: make.account(...), make.contact(...), make.staff(...), ..."""
    return factories


@pytest.fixture
def login(app, client):
    """login("manager") -> the client, signed in as a new staff member of that role."""

    def _login(role="admin", email=None):
        staff = factories.staff(role=role, email=email)
        with client.session_transaction() as sess:
            sess["_user_id"] = staff.get_id()  # "<id>:<session_version>"
            sess["_fresh"] = True
        client.staff = staff
        return client

    return _login


@pytest.fixture
def api_key(app):
    from models import ApiKey

    key, raw = ApiKey.generate("tests")
    db.session.add(key)
    db.session.commit()
    return raw


@pytest.fixture
def api(client, api_key):
    """api.post(path, json=...) with the bearer key."""

    class Api:
        headers = {"Authorization": f"Bearer {api_key}"}

        def get(self, path, **kw):
            return client.get(path, headers=self.headers, **kw)

        def post(self, path, **kw):
            return client.post(path, headers=self.headers, **kw)

        def put(self, path, **kw):
            return client.put(path, headers=self.headers, **kw)

        def delete(self, path, **kw):
            return client.delete(path, headers=self.headers, **kw)

    return Api()


@pytest.fixture
def run_jobs(app):
    """Run every queued RQ job in this process (real Redis), until the queues are empty."""
    from rq import SimpleWorker

    from workers.queues import all_queues, get_redis

    def _run():
        SimpleWorker(all_queues(), connection=get_redis()).work(burst=True, logging_level="WARNING")

    return _run


@pytest.fixture
def doorbell(app):
    """A RecordingDoorbell (tests/doorbell.py) in place of the RQ one for this test:
    what the engine asks for is recorded in `.rings`, and nothing is queued."""
    from tests.doorbell import RecordingDoorbell

    rq_doorbell = app.extensions["doorbell"]
    recorder = app.extensions["doorbell"] = RecordingDoorbell()
    try:
        yield recorder
    finally:
        app.extensions["doorbell"] = rq_doorbell


@pytest.fixture
def smtp_sink(app):
    """A real aiosmtpd server on a port the system picked, recording what it receives."""
    from tests.smtp_sink import RecordingSink

    sink = RecordingSink()
    sink.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_STARTTLS=False)
    yield sink
    sink.stop()


@pytest.fixture
def live_server(app):
    """The app served over HTTP from a thread, sharing this test's database."""
    from tests.live_server import LiveServer

    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _browser():
    from playwright.sync_api import sync_playwright

    from tests.browser.ensure_chromium import find_chromium

    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=find_chromium(),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    yield browser
    browser.close()
    pw.stop()


def sign_in(pg, base_url, role="admin"):
    """A new staff member of `role`, signed in through the real login form."""
    staff = factories.staff(role=role, password="correct-horse-1")
    pg.goto(base_url + "/login")
    pg.fill("input[name=email]", staff.email)
    pg.fill("input[name=password]", "correct-horse-1")
    pg.click("button[type=submit]")
    pg.wait_for_url(base_url + "/")
    return staff


def _signed_in_capable_page(browser, live_server, zone, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id=zone)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.login = lambda role="admin": sign_in(pg, live_server.url, role)
    pg.base = live_server.url
    return context, pg


@pytest.fixture
def page(_browser, live_server):
    """A fresh browser page; page.login(role) signs in through the real form.
    Away from UTC (issue 15): a page that ignored the viewer's zone would show it."""
    context, pg = _signed_in_capable_page(_browser, live_server, "America/New_York", 1360)
    yield pg
    context.close()


@pytest.fixture
def berlin_page(_browser, live_server):
    """As `page`, at 1280 px in Europe/Berlin."""
    context, pg = _signed_in_capable_page(_browser, live_server, "Europe/Berlin", 1280)
    yield pg
    context.close()


@pytest.fixture
def ny_page(_browser, live_server):
    """As `page`, at 1280 px in America/New_York."""
    context, pg = _signed_in_capable_page(_browser, live_server, "America/New_York", 1280)
    yield pg
    context.close()


@pytest.fixture
def dev_inbox(app):
    """The project's development mail sink (devtools/mail_sink.py) on a port the system
    picks, storing SinkMessage rows; SMTP_HOST is emptied so everything the app sends
    lands in Settings -> Dev inbox, exactly as in development. Yields the aiosmtpd controller."""
    from devtools.mail_sink import start_sink

    controller = start_sink(app, "127.0.0.1", 0)
    app.config.update(SMTP_HOST="", MAIL_SINK_HOST="127.0.0.1", MAIL_SINK_PORT=controller.port)
    yield controller
    controller.stop()
