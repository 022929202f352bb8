"""The sign-in check: at most `max_failures` passwords evaluated per email within the
lockout period, however many attempts arrive at once, and the same work for an email
nobody has as for a real login.

The lockout is a counter per email (LoginThrottle) moved by one conditional UPDATE
*before* the password is checked: an attempt counts as a failure unless it succeeds, and
the UPDATE only matches while the count is below the limit (or the last failure is older
than the lockout period, which starts a new count). The database serialises concurrent
UPDATEs of one row (PostgreSQL re-evaluates the WHERE on the row another transaction just
changed; SQLite has one writer at a time), so of 30 concurrent attempts exactly
`max_failures` get to the password check. The caller commits between begin_attempt and
verify_password, so the row lock is not held while the hash is computed.

Unknown emails are counted the same way and verified against a dummy hash made with the
same method as real password hashes, so neither the answer, the lockout nor the time taken
tells whether an address has a login."""
from datetime import datetime, timedelta
from functools import lru_cache
import secrets

from sqlalchemy import case, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from engine.db.upsert import insert_ignoring_duplicates
from extensions import db
from models import LoginThrottle, Staff


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _window_over(cutoff: datetime):
    return or_(LoginThrottle.last_failure_at.is_(None), LoginThrottle.last_failure_at <= cutoff)


def begin_attempt(email: str, now: datetime, *, max_failures: int, lockout_seconds: int) -> bool:
    """Count a sign-in attempt for `email` as a failure, unless the email is locked out.
    True: the attempt may check the password (call succeeded() if it was right);
    False: locked out, the password must not be evaluated. Does not commit."""
    email = normalise_email(email)
    cutoff = now - timedelta(seconds=lockout_seconds)
    db.session.execute(insert_ignoring_duplicates(LoginThrottle, ["email"])
                       .values(email=email, failures=0, last_failure_at=None))
    result = db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.email == email,
               or_(_window_over(cutoff), LoginThrottle.failures < max_failures))
        .values(failures=case((_window_over(cutoff), 1), else_=LoginThrottle.failures + 1),
                last_failure_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def succeeded(email: str) -> None:
    """The password was right: the count starts again from zero. Does not commit."""
    db.session.execute(update(LoginThrottle).where(LoginThrottle.email == normalise_email(email))
                       .values(failures=0, last_failure_at=None)
                       .execution_options(synchronize_session=False))


def failures(email: str, now: datetime, *, lockout_seconds: int) -> int:
    """Failures counted for `email` in the current lockout period."""
    cutoff = now - timedelta(seconds=lockout_seconds)
    row = db.session.execute(select(LoginThrottle.failures).where(
        LoginThrottle.email == normalise_email(email), LoginThrottle.last_failure_at > cutoff)).first()
    return row[0] if row else 0


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Made once per process with the default method, so it costs what set_password's hashes cost.
    return generate_password_hash(secrets.token_urlsafe(16))


def verify_password(email: str, password: str) -> Staff | None:
    """The staff member with this email if the password is theirs. Exactly one hash is
    verified either way: the member's, or the dummy one for an email nobody has."""
    staff = db.session.scalars(select(Staff).where(Staff.email == normalise_email(email))).first()
    pwhash = staff.password_hash if staff is not None else _dummy_hash()
    ok = check_password_hash(pwhash, password)
    return staff if ok and staff is not None else None
