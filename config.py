"""Configuration: every setting comes from the environment, with embedded defaults."""
import os
import secrets
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("NUDGE_INSTANCE_DIR", BASE_DIR / "instance"))


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url():
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'nudge.db'}"
    # Accept the common postgres:// spellings and always use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def instance_secret_key(instance_dir) -> str:
    """The instance's own random key in `instance_dir/secret_key` (mode 0600), generated
    on first start: with no SECRET_KEY set there is no key anyone could read in the source.
    The file appears whole or not at all (written aside, then hard-linked into place, which
    fails if it exists), so processes starting together all end up with the same key."""
    path = Path(instance_dir) / "secret_key"
    if not path.exists():
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")  # O_EXCL, 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.link(draft, path)
        except FileExistsError:  # another process created it first: use theirs
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip()


def apply_cookie_security(config) -> None:
    """Session and remember cookies are Secure when the app is served over https (as
    PUBLIC_BASE_URL says), unless a setting chose explicitly; over plain http (development)
    a Secure cookie would never come back."""
    https = str(config.get("PUBLIC_BASE_URL") or "").strip().lower().startswith("https://")
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if config.get(name) is None:
            config[name] = https


class Config:
    # Unset: create_app uses instance_secret_key(instance dir).
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "")
    INSTANCE_DIR = str(INSTANCE_DIR)

    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "1025"))
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_STARTTLS = _bool("SMTP_STARTTLS")
    # Dev sink used when SMTP_HOST is empty.
    MAIL_SINK_HOST = os.environ.get("MAIL_SINK_HOST", "127.0.0.1")
    MAIL_SINK_PORT = int(os.environ.get("MAIL_SINK_PORT", "1025"))
    SEND_RATE_PER_SECOND = float(os.environ.get("SEND_RATE_PER_SECOND", "0"))  # 0 = unlimited
    SEND_MAX_ATTEMPTS = int(os.environ.get("SEND_MAX_ATTEMPTS", "5"))
    SEND_BATCH_SIZE = int(os.environ.get("SEND_BATCH_SIZE", "200"))
    SENDING_LEASE_SECONDS = int(os.environ.get("SENDING_LEASE_SECONDS", "600"))

    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    # Email headers (DESIGN.md "Email headers"); empty = the default described there.
    MESSAGE_ID_DOMAIN = os.environ.get("MESSAGE_ID_DOMAIN", "")  # default: PUBLIC_BASE_URL's host
    UNSUBSCRIBE_MAILTO = os.environ.get("UNSUBSCRIBE_MAILTO", "")  # adds mailto: to List-Unsubscribe
    DKIM_DOMAIN = os.environ.get("DKIM_DOMAIN", "")  # all three set: messages are DKIM-signed
    DKIM_SELECTOR = os.environ.get("DKIM_SELECTOR", "")
    DKIM_PRIVATE_KEY_PATH = os.environ.get("DKIM_PRIVATE_KEY_PATH", "")
    # Bounces (DESIGN.md "Bounces and complaints"): set -> VERP envelope senders
    # bounces+<token>@BOUNCE_DOMAIN, and the listener accepts mail for it only.
    BOUNCE_DOMAIN = os.environ.get("BOUNCE_DOMAIN", "")
    # imaps://user:pass@host:993/INBOX: a mailbox of DSNs the tick polls (empty = off).
    BOUNCE_IMAP_URL = os.environ.get("BOUNCE_IMAP_URL", "")
    # Where unparseable messages are moved (empty = left in place, seen).
    BOUNCE_IMAP_UNPARSED_FOLDER = os.environ.get("BOUNCE_IMAP_UNPARSED_FOLDER", "")
    # That many soft bounces of one address within that many days mark it bounced.
    BOUNCE_SOFT_LIMIT = int(os.environ.get("BOUNCE_SOFT_LIMIT", "3"))
    BOUNCE_SOFT_WINDOW_DAYS = int(os.environ.get("BOUNCE_SOFT_WINDOW_DAYS", "7"))
    # Provider webhooks (POST /webhooks/<provider>, listed on Settings -> Deliverability);
    # each one refuses every request (401) until its secret is set.
    # Amazon SES over SNS: the topic ARNs whose messages are accepted (comma-separated).
    SES_SNS_TOPIC_ARNS = os.environ.get("SES_SNS_TOPIC_ARNS", "")
    # SendGrid: the signed event webhook's verification key (base64 DER, as SendGrid shows it).
    SENDGRID_WEBHOOK_PUBLIC_KEY = os.environ.get("SENDGRID_WEBHOOK_PUBLIC_KEY", "")
    # Postmark: the basic-auth credentials put into the webhook URL in Postmark.
    POSTMARK_WEBHOOK_USERNAME = os.environ.get("POSTMARK_WEBHOOK_USERNAME", "")
    POSTMARK_WEBHOOK_PASSWORD = os.environ.get("POSTMARK_WEBHOOK_PASSWORD", "")
    # Mailgun: the HTTP webhook signing key (Mailgun -> Sending -> Webhooks).
    MAILGUN_WEBHOOK_SIGNING_KEY = os.environ.get("MAILGUN_WEBHOOK_SIGNING_KEY", "")
    APPROVAL_HOLD_MINUTES = int(os.environ.get("APPROVAL_HOLD_MINUTES", "10"))
    INACTIVE_AFTER_DAYS = int(os.environ.get("INACTIVE_AFTER_DAYS", "30"))
    PERSONA_REFRESH_MINUTES = int(os.environ.get("PERSONA_REFRESH_MINUTES", "15"))
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
    LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "300"))
    PASSWORD_RESET_HOURS = int(os.environ.get("PASSWORD_RESET_HOURS", "24"))  # admin-issued reset links
    API_MAX_BATCH = 10_000
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Flask-Login's "Keep me signed in" cookie: not readable by script, not sent on
    # cross-site subrequests. None = Secure exactly when PUBLIC_BASE_URL is https
    # (apply_cookie_security), for both cookies.
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = None
    REMEMBER_COOKIE_SECURE = None
    USE_CREATE_ALL = False  # tests only; everything else migrates
    RQ_IS_ASYNC = True


class TestConfig(Config):
    TESTING = True
    WTF_CSRF_ENABLED = False
    USE_CREATE_ALL = True
    LOGIN_MAX_FAILURES = 5
