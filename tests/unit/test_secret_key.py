"""Issue 14 item 1: no known default SECRET_KEY. With none set, each instance generates a
random key once into instance/secret_key (0600) and keeps using it; SECRET_KEY from the
environment wins; a cookie signed with the old source constant is worthless."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from config import Config, TestConfig

ROOT = Path(__file__).resolve().parents[2]
# The key every instance used before when SECRET_KEY was unset (published in the source).
OLD_CONSTANT = "dev-secret-change-me"


def _key_in_fresh_process(instance_dir: Path, **env) -> str:
    """SECRET_KEY of create_app() in a new Python process, as wsgi.py / `flask` start it."""
    child_env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    child_env.update(NUDGE_INSTANCE_DIR=str(instance_dir),
                     DATABASE_URL=f"sqlite:///{instance_dir / 'nudge.db'}", **env)
    out = subprocess.run(
        [sys.executable, "-c", "from app import create_app; print(create_app().config['SECRET_KEY'])"],
        cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_unset_key_is_generated_once_per_instance_and_kept(tmp_path):
    instance = tmp_path / "instance"
    first = _key_in_fresh_process(instance)
    assert first != OLD_CONSTANT
    assert len(first) == 64 and int(first, 16) >= 0  # secrets.token_hex(32)
    key_file = instance / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # A restart (or another process of the same instance) reads it back.
    assert _key_in_fresh_process(instance) == first
    # Another instance gets its own key.
    assert _key_in_fresh_process(tmp_path / "other") != first


def test_secret_key_from_environment_wins(tmp_path):
    instance = tmp_path / "instance"
    assert _key_in_fresh_process(instance, SECRET_KEY="from-the-environment") == "from-the-environment"
    assert not (instance / "secret_key").exists()


def test_second_app_on_same_instance_dir_uses_same_key(tmp_path, monkeypatch):
    monkeypatch.setattr(Config, "INSTANCE_DIR", str(tmp_path))
    monkeypatch.setattr(TestConfig, "SECRET_KEY", None)
    one, two = create_app(TestConfig), create_app(TestConfig)
    assert one.config["SECRET_KEY"] == two.config["SECRET_KEY"] != OLD_CONSTANT
    assert (tmp_path / "secret_key").read_text().strip() == one.config["SECRET_KEY"]
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_existing_key_file_is_used_as_it_is(tmp_path, monkeypatch):
    (tmp_path / "secret_key").write_text("kept-across-deploys\n")
    monkeypatch.setattr(Config, "INSTANCE_DIR", str(tmp_path))
    monkeypatch.setattr(TestConfig, "SECRET_KEY", None)
    assert create_app(TestConfig).config["SECRET_KEY"] == "kept-across-deploys"


@pytest.mark.skipif(bool(os.environ.get("SECRET_KEY")), reason="this run sets SECRET_KEY")
def test_test_app_runs_on_a_generated_key(app):
    key_file = Path(app.instance_path) / "secret_key"
    assert app.config["SECRET_KEY"] == key_file.read_text().strip() != OLD_CONSTANT


@pytest.fixture
def signed_in_cookie(login):
    """(client, the session payload Flask signed for a signed-in admin)."""
    client = login("admin")
    cookie = client.get_cookie("session")
    serializer = client.application.session_interface.get_signing_serializer(client.application)
    return client, serializer.loads(cookie.value)


def _sign(app, key, payload) -> str:
    """The session cookie value Flask would write for `payload` if its key were `key`."""
    forger = type(app)("forger")
    forger.config.update(SECRET_KEY=key)
    return forger.session_interface.get_signing_serializer(forger).dumps(payload)


def _get_home(app, client, session_cookie):
    """GET / with only this session cookie, in an app context of its own (the `app` fixture's
    context is shared by every request, and Flask-Login keeps the user it loaded in its `g`)."""
    client.set_cookie("session", session_cookie)
    with app.app_context():
        return client.get("/")


def test_session_cookie_signed_with_old_constant_is_refused(app, signed_in_cookie):
    client, payload = signed_in_cookie
    assert payload["_user_id"] == client.staff.get_id()

    # An attacker who read the source signs an admin's session with the old constant.
    res = _get_home(app, client, _sign(app, OLD_CONSTANT, payload))
    assert res.status_code == 302
    assert "/login" in res.headers["Location"]

    # Control: the same payload signed with the instance's own key opens the dashboard.
    assert _get_home(app, client, _sign(app, app.config["SECRET_KEY"], payload)).status_code == 200
