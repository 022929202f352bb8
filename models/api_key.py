import hashlib
import secrets
from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import utcnow


def hash_key(raw: str) -> str:
    # Keys are long random strings, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(db.Model):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(128))
    prefix: Mapped[str] = mapped_column(db.String(16))  # shown in the UI to tell keys apart
    key_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff.id"), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)

    @classmethod
    def generate(cls, name: str, created_by_id: int | None = None) -> tuple["ApiKey", str]:
        """Make a key; the raw value is returned once and never stored."""
        raw = "ndg_" + secrets.token_urlsafe(32)
        key = cls(name=name, prefix=raw[:10], key_hash=hash_key(raw), created_by_id=created_by_id)
        return key, raw

    @classmethod
    def find_active(cls, raw: str) -> "ApiKey | None":
        key = cls.query.filter_by(key_hash=hash_key(raw)).first()
        if key is None or key.revoked_at is not None:
            return None
        return key
