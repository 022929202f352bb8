from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import JSONType, utcnow


class ImportJob(db.Model):
    """A CSV upload of accounts or contacts, processed by an RQ job."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(db.String(16))  # accounts | contacts
    filename: Mapped[str] = mapped_column(db.String(255))
    csv_text: Mapped[str] = mapped_column(db.Text, deferred=True)  # up to 20 MB: loaded only when read
    mapping: Mapped[dict] = mapped_column(JSONType, default=dict)  # field -> csv column; "attributes" -> [columns]
    # draft (uploaded, being mapped) | pending (queued) | running | done | failed
    status: Mapped[str] = mapped_column(db.String(16), default="pending")
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_rows: Mapped[int] = mapped_column(default=0)
    updated_rows: Mapped[int] = mapped_column(default=0)
    failed_rows: Mapped[int] = mapped_column(default=0)  # every invalid row; `errors` keeps the first 1,000
    errors: Mapped[list] = mapped_column(JSONType, default=list)  # [{"line", "message"}]
    failure_reason: Mapped[str | None] = mapped_column(db.Text, nullable=True)  # the job itself broke
    # A contacts import may put its contacts in a list (each chunk's, in that chunk's
    # transaction). No foreign key: deleting the list is refused while an import waits for it.
    list_id: Mapped[int | None] = mapped_column(nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(db.DateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)  # "Start import" pressed
    finished_at: Mapped[datetime | None] = mapped_column(db.DateTime, nullable=True)
