"""Security headers on every response (DESIGN.md "Security conventions") and far-future
caching of versioned static files.

- A Content-Security-Policy that allows script only from our own files (`script-src
  'self'`: no inline script, no `on*=` handlers, no eval), so markup that slips through
  escaping cannot run; `frame-ancestors 'none'` and `X-Frame-Options: DENY` so no other
  site can frame the approve buttons (clickjacking).
- `style-src` keeps 'unsafe-inline': the email previews are sandboxed `srcdoc` frames,
  and a srcdoc document inherits its parent's policy, so the emails' own `<style>` blocks
  and `style=` attributes (what is previewed is what is sent) need it. Styles cannot run
  script; `img-src` likewise admits the remote images an email links to.
- `Cache-Control: no-store` on every dynamic response that does not set its own, and
  always once a staff member is signed in (their pages hold customer data).
- `url_for('static', ...)` adds `?v=<hash of the file>`; a request carrying the current
  hash is answered `public, max-age=1 year, immutable` and without `Vary: Cookie`, any
  other static request must revalidate.
"""
import hashlib
import os
from functools import lru_cache

from flask import Flask, current_app, g, request

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: https: http:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
STATIC_VERSION_ARG = "v"
IMMUTABLE = "public, max-age=31536000, immutable"


def init_app(app: Flask) -> None:
    app.url_defaults(_version_static_urls)
    app.after_request(_add_security_headers)
    app.wsgi_app = _SharedStaticResponses(app.wsgi_app)


class _SharedStaticResponses:
    """Flask saves the session after every after_request handler has run, and adds
    `Vary: Cookie` whenever anything read it (Flask-Login's remember-cookie check always
    does), which would make every cache keep one copy of app.js per visitor. A response
    marked immutable is the same bytes for everyone: drop the cookie vary (and any
    cookie) from it here, below Flask, whatever session store is in use."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            if ("Cache-Control", IMMUTABLE) in headers:
                headers = [(k, v) for k, v in headers if k.lower() not in ("vary", "set-cookie")]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


@lru_cache(maxsize=512)
def _file_version(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def static_version(filename: str) -> str | None:
    """The content hash of static/<filename> (recomputed when the file changes), or None
    when there is no such file."""
    folder = current_app.static_folder
    if not folder:
        return None
    path = os.path.realpath(os.path.join(folder, filename))
    if not path.startswith(os.path.realpath(folder) + os.sep):
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _file_version(path, stat.st_mtime_ns, stat.st_size)


def _version_static_urls(endpoint: str, values: dict) -> None:
    if endpoint == "static" and "filename" in values and STATIC_VERSION_ARG not in values:
        version = static_version(values["filename"])
        if version:
            values[STATIC_VERSION_ARG] = version


def _add_security_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint == "static":
        _cache_static(response)
        return response
    # current_user is looked up only if the view already did (g._login_user): asking here
    # would read the session on API and tracking requests that never touch it.
    user = g.get("_login_user")
    if "Cache-Control" not in response.headers or (user is not None and user.is_authenticated):
        response.headers["Cache-Control"] = "no-store"
    return response


def _cache_static(response) -> None:
    filename = (request.view_args or {}).get("filename", "")
    wanted = request.args.get(STATIC_VERSION_ARG)
    if response.status_code in (200, 304) and wanted and wanted == static_version(filename):
        response.headers["Cache-Control"] = IMMUTABLE  # Vary goes in _SharedStaticResponses
    elif response.status_code in (200, 304):
        response.headers["Cache-Control"] = "no-cache"
