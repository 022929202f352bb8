from datetime import datetime

from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db
from models.base import utcnow

ROLES = ("admin", "manager", "approver", "viewer")
# What each role may do; checked on the server by blueprints.auth.role_required.
ROLE_RANK = {"viewer": 0, "approver": 1, "manager": 2, "admin": 3}


class Staff(UserMixin, db.Model):
    """A person logged into Nudge (customer-success staff)."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(db.String(320), unique=True)
    name: Mapped[str | None] = mapped_column(db.String(128), nullable=True)
    password_hash: Mapped[str] = mapped_column(db.String(256))
    role: Mapped[str] = mapped_column(db.String(16), default="viewer")
    timezone: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    # Part of every session's and remember-me cookie's user id ("<id>:<version>"); raising it
    # (engine.staff.sessions.revoke_sessions) makes every cookie issued before worthless.
    session_version: Mapped[int] = mapped_column(db.Integer, default=0, server_default="0")

    def get_id(self) -> str:
        """Flask-Login's alternative id: what sessions and remember cookies carry."""
        return f"{self.id}:{self.session_version or 0}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def can_edit(self) -> bool:
        return self.role in ("admin", "manager")

    @property
    def can_approve(self) -> bool:
        return self.role in ("admin", "manager", "approver")

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@")[0]


class LoginThrottle(db.Model):
    """Failed sign-ins per email (known or not), for the lockout across every web process.
    `failures` counts attempts since the window began; engine.staff.login moves it with one
    conditional UPDATE, so concurrent attempts cannot all pass the check."""

    __tablename__ = "login_throttles"
    email: Mapped[str] = mapped_column(db.String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(db.Integer, default=0, server_default="0")
    last_failure_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
