"""Server-side revocation of a staff member's sessions.

Every session cookie and remember-me cookie carries "<staff id>:<session_version>"
(Staff.get_id, Flask-Login's alternative id) and the user loader accepts it only while
the version is still the staff member's current one. Raising the version therefore
ends every session and remember cookie issued before, on every device, including a
copy someone stole. Logout, a password change or reset, a role change and "sign out
everywhere" all call revoke_sessions. Nothing here commits."""
import re

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from extensions import db
from models import Staff

_USER_ID = re.compile(r"(?P<id>[0-9]{1,18}):(?P<version>[0-9]{1,18})", re.ASCII)


def revoke_sessions(staff: Staff) -> None:
    """End every existing session and remember cookie of `staff` (one atomic UPDATE, so two
    revocations at once both count); the row's session_version holds the new value."""
    new_version = db.session.execute(
        update(Staff).where(Staff.id == staff.id)
        .values(session_version=Staff.session_version + 1)
        .returning(Staff.session_version)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(staff, "session_version", new_version)  # what the database holds now


def set_password(staff: Staff, password: str) -> None:
    """A password change or reset: the new hash, and every session signed in before ends."""
    staff.set_password(password)
    revoke_sessions(staff)


def set_role(staff: Staff, role: str) -> None:
    """A role change: sessions opened under the old role end."""
    staff.role = role
    revoke_sessions(staff)


def load(user_id: str) -> Staff | None:
    """The staff member a session or remember cookie names, if the cookie is still valid:
    "<id>:<version>" with the current version. Anything else (the bare ids sessions held
    before, a stale version, garbage) loads nobody."""
    match = _USER_ID.fullmatch(user_id or "")
    if match is None:
        return None
    staff = db.session.get(Staff, int(match["id"]))
    if staff is None or (staff.session_version or 0) != int(match["version"]):
        return None
    return staff
