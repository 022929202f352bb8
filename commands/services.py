"""Services: `flask nudge mail-sink` (development) and `flask nudge bounce-listener`."""
import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext


def register(group):
    group.add_command(mail_sink)
    group.add_command(bounce_listener)


@click.command("mail-sink")
@click.option("--port", type=int, default=None, help="Default: MAIL_SINK_PORT (1025).")
@click.option("--host", default=None, help="Default: MAIL_SINK_HOST (127.0.0.1).")
@with_appcontext
def mail_sink(port, host):
    """The development SMTP server; what it receives shows at Settings -> Dev inbox."""
    from devtools.mail_sink import start_sink

    app = current_app._get_current_object()
    host = host or app.config["MAIL_SINK_HOST"]
    port = port or app.config["MAIL_SINK_PORT"]
    try:
        controller = start_sink(app, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}")
    click.echo(f"Mail sink listening on {host}:{port}; messages appear at Settings -> Dev inbox.")
    if app.config.get("SMTP_HOST"):
        click.echo(f"Note: SMTP_HOST is set ({app.config['SMTP_HOST']}), so Nudge sends there, not here.")
    _serve_until_stopped(controller, "Mail sink")


def _serve_until_stopped(controller, name: str) -> None:
    """Keep an aiosmtpd controller's server running until SIGINT / SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    click.echo(f"{name} stopped.")


@click.command("bounce-listener")
@click.option("--port", type=int, default=2525, show_default=True)
@click.option("--host", default="0.0.0.0", show_default=True)
@with_appcontext
def bounce_listener(port, host):
    """The inbound SMTP server for DSNs sent to BOUNCE_DOMAIN (refuses any other domain)."""
    from engine.bounces.listener import start_listener

    app = current_app._get_current_object()
    if not (app.config.get("BOUNCE_DOMAIN") or "").strip():
        raise click.ClickException("BOUNCE_DOMAIN is not set: there is no bounce domain to accept mail for.")
    try:
        controller = start_listener(app, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}")
    click.echo(f"Bounce listener on {host}:{controller.port} for @{app.config['BOUNCE_DOMAIN']}.")
    _serve_until_stopped(controller, "Bounce listener")
