from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import utcnow


class EmailTemplate(db.Model):
    __tablename__ = "email_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(128), unique=True)
    subject: Mapped[str] = mapped_column(db.String(998), default="")
    html: Mapped[str] = mapped_column(db.Text, default="")
    text: Mapped[str] = mapped_column(db.Text, default="")
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow, onupdate=utcnow)
