"""What the JSON API needs from the app as a whole, not just from its blueprint.

Flask only hands an error to a blueprint's handler when a view of that blueprint was
matched, so a path under /api/ that matches no route (an unknown path, an id beyond
the database's integer, a wrong method) would get the HTML error pages. And the session
interface would otherwise refresh or hand out a session cookie on API responses,
which authenticate by key and must set none (DESIGN.md "Security conventions").
"""
from flask import render_template, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from blueprints.api.routes import api_error

# Every API version lives under it (the blueprint itself is /api/v1).
API_PREFIX = "/api/"

# The staff UI's own error pages; every other HTTP error keeps Werkzeug's page.
HTML_ERROR_PAGES = {403: "errors/403.html", 404: "errors/404.html"}


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX) or request.path == API_PREFIX.rstrip("/")


def http_error(exc: HTTPException):
    """JSON `{"error": ...}` under /api/ for every HTTP error -- including the 500 Flask
    makes of an unexpected exception, whose description tells nothing about it --
    and the HTML pages everywhere else."""
    if is_api_request():
        response, status = api_error(exc.code or 500, exc.description or exc.name)
        # A 405 names the allowed methods in Allow; keep those headers.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status
    if exc.code in HTML_ERROR_PAGES:
        return render_template(HTML_ERROR_PAGES[exc.code]), exc.code
    return exc


class NoCookieOnApiSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except that an API response never sets the cookie:
    not a new one, not a refreshed one, not a deleted one."""

    def save_session(self, app, session, response):
        if is_api_request():
            return None
        return super().save_session(app, session, response)


def register(app) -> None:
    app.session_interface = NoCookieOnApiSessionInterface()
    app.register_error_handler(HTTPException, http_error)
