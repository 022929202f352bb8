from datetime import datetime

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import BigIntId, JSONType, utcnow


class Persona(db.Model):
    """A saved rule (segment) whose membership is kept and diffed on refresh."""

    __tablename__ = "personas"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(128), unique=True)
    description: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    rule: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow, onupdate=utcnow)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
    member_count: Mapped[int] = mapped_column(default=0)


# PersonaMember and PersonaTransition deliberately carry no database foreign keys:
# they are derived data written 100k rows at a time by INSERT ... SELECT from rows
# that exist (engine/personas/), and PostgreSQL's per-row FK triggers made a
# persona's first refresh 3.4x slower (EXPLAIN ANALYZE: 4 x 100k trigger calls).
# Deleting a persona deletes its rows explicitly; contacts are never deleted, and
# a vanished contact simply leaves at the next refresh (joins to contacts skip it).
class PersonaMember(db.Model):
    __tablename__ = "persona_members"
    persona_id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(primary_key=True)
    entered_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)

    __table_args__ = (Index("ix_persona_members_contact", "contact_id"),)


class PersonaTransition(db.Model):
    """A contact entering or leaving a persona: what persona triggers fire on."""

    __tablename__ = "persona_transitions"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    persona_id: Mapped[int] = mapped_column()
    contact_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(db.String(8))  # enter | leave
    at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)

    __table_args__ = (
        Index("ix_persona_transitions_persona_at", "persona_id", "at"),
        Index("ix_persona_transitions_id_kind", "persona_id", "kind", "id"),
    )
