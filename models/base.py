"""Column types and helpers shared by every model.

Times are stored as naive UTC datetimes on both databases (SQLite has no
timezone type); convert at the edges with engine.timeutil.
"""
from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB

# JSONB on PostgreSQL (indexable, ->> works), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# 64-bit ids on PostgreSQL; SQLite only autoincrements a plain INTEGER primary key.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Current time as naive UTC, the storage convention."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
