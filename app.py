"""Application factory: config, extensions, blueprints, CLI."""
import gc
import importlib
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, ValidationError

from config import Config, apply_cookie_security, instance_secret_key
from extensions import csrf, db, htmx, login_manager, migrate

# Each area is a blueprint package: `bp` in its __init__.py, views in routes.py.
BLUEPRINTS = (
    "auth", "dashboard", "accounts", "personas", "email_templates", "triggers",
    "outbox", "reports", "settings", "api", "tracking", "rules", "lists", "webhooks",
)
# Command modules, each exposing `register(group)` to add `flask nudge ...` commands.
COMMAND_MODULES = ("commands.core", "commands.demo", "commands.services", "commands.engine")


class _RowIdConverter(IntegerConverter):
    """<int:...> ids beyond PostgreSQL's integer match no route (404 instead of a database
    error); <bigint:...> is for BigIntId tables (outbox messages), capped at 64 bits for SQLite."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):
        super().__init__(map, fixed_digits, min, max, signed)

    def to_python(self, value):
        # Werkzeug answers a ValidationError here with 405 when another method's rule has
        # the same path (PUT /triggers/<too big>); no row has that id, so it is a 404.
        try:
            return super().to_python(value)
        except ValidationError:
            raise NotFound() from None


class _BigRowIdConverter(_RowIdConverter):
    def __init__(self, map, fixed_digits=0, min=None, max=2**63 - 1, signed=False):
        super().__init__(map, fixed_digits, min, max, signed)


def create_app(config=None):
    app = Flask(__name__, instance_path=Config.INSTANCE_DIR)
    app.url_map.converters["int"] = _RowIdConverter
    app.url_map.converters["bigint"] = _BigRowIdConverter
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    apply_cookie_security(app.config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)

    import models  # noqa: F401  (register every table)
    from engine.contacts.event_days import register_orm_listener

    register_orm_listener()  # ORM-written events keep the daily rollup in step

    for name in BLUEPRINTS:
        importlib.import_module(f"blueprints.{name}.routes")  # registers the views on bp
        app.register_blueprint(importlib.import_module(f"blueprints.{name}").bp)

    from commands import nudge_group

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(nudge_group)
    app.cli.add_command(nudge_group)

    from workers.doorbell import RQDoorbell

    app.extensions["doorbell"] = RQDoorbell()

    import security_headers
    from blueprints.ui import register_ui

    # Registered first so its after_request runs last, over every other handler's headers.
    security_headers.init_app(app)
    register_ui(app)
    from blueprints.text_guard import TextSafeResponse, refuse_unstorable_text

    app.response_class = TextSafeResponse  # a row holding a lone surrogate still renders
    app.before_request(refuse_unstorable_text)  # NUL / lone surrogates: 422 before any view

    from blueprints.api import app_level

    app_level.register(app)  # JSON errors and no session cookie under /api/; HTML error pages elsewhere

    if app.config.get("USE_CREATE_ALL"):
        with app.app_context():
            db.create_all()
    # Move everything loaded so far (modules, mappers, config) out of the cyclic
    # GC's reach: a full collection otherwise walks those ~100k objects during
    # whichever request triggers it (a 75 ms tail on the 500-trigger list).
    gc.freeze()
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    # WAL lets the web, workers and the tick read while one writes.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
