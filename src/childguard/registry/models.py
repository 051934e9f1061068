"""SQLAlchemy models of the registry: removal requests, review tasks, decisions, users, audit log.

The schema itself is owned by the Alembic migrations in `childguard.registry.migrations`; these
classes mirror it for the ORM. Only hashes, redacted text and normalised URLs the requester
gave us are stored: never a reference photo, never a full caption from the dataset.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        """Store a datetime as UTC (naive values are taken as UTC)."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        """Read a stored datetime back as timezone-aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of every registry table."""
    pass


ROLES = ("reviewer", "admin")
DECISIONS = ("remove", "keep", "escalate")
# What a requester may see. "received"/"under_review" until a reviewer has decided, whatever
# matched; "removal_scheduled" once removal is decided and no release has carried it yet.
REQUEST_STATUSES = ("received", "under_review", "removal_scheduled", "removed", "not_found")
# A guardian's request ranks with identifiable children: a person asked, so it is urgent.
RISK_RANK = {"blocked": 0, "identifiable_child": 1, "request": 1, "child": 2, "clean": 3}


class User(Base):
    """A reviewer or admin account (argon2 password hash, role, disabled flag)."""
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class WebSession(Base):
    """Server-side session: the cookie carries a random id, the table keeps its SHA-256."""

    __tablename__ = "web_sessions"
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    user: Mapped[User] = relationship()


class RemovalRequest(Base):
    """A guardian's removal request: hashed tracking token, contact, status."""
    __tablename__ = "requests"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The tracking token is shown once; only its SHA-256 is stored.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="received")
    release_id: Mapped[str | None] = mapped_column(String(128))
    contact: Mapped[str] = mapped_column(String(320), nullable=False)
    relationship_to_child: Mapped[str] = mapped_column(String(64), nullable=False)
    # initials only: the full name is used for matching in memory and then dropped
    child_name_initials: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    matched: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    matching_done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    targets: Mapped[list[RequestTarget]] = relationship(
        back_populates="request", cascade="all, delete-orphan"
    )


class RequestTarget(Base):
    """One thing the requester named: url | domain | name (initials + token hashes) | pdq."""

    __tablename__ = "request_targets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    request: Mapped[RemovalRequest] = relationship(back_populates="targets")


class ReviewTask(Base):
    """One dataset row a human must look at: flagged by the scan or matched by a request."""

    __tablename__ = "review_tasks"
    __table_args__ = (UniqueConstraint("task_key", name="uq_review_tasks_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_key: Mapped[str] = mapped_column(String(400), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # scan | request
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"))
    shard_id: Mapped[str] = mapped_column(String(300), nullable=False)
    row_index: Mapped[int] = mapped_column(BigInteger, nullable=False)
    url_sha256: Mapped[str | None] = mapped_column(String(64))
    laion_hash: Mapped[int | None] = mapped_column(BigInteger)
    risk: Mapped[str] = mapped_column(String(24), nullable=False)
    risk_rank: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    rule: Mapped[str | None] = mapped_column(String(128))
    reasons: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)  # redacted evidence
    match_kind: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Decision(Base):
    """A reviewer's decision on a review task (append-only; the latest one counts)."""
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id"), nullable=False)
    shard_id: Mapped[str] = mapped_column(String(300), nullable=False)
    row_index: Mapped[int] = mapped_column(BigInteger, nullable=False)
    url_sha256: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(36))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    user: Mapped[User] = relationship()


class AuditEvent(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    actor: Mapped[str] = mapped_column(String(80), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    target: Mapped[str | None] = mapped_column(String(400))
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)


class ImportedFindings(Base):
    """Which findings files the queue has already taken in (path + size + mtime)."""

    __tablename__ = "imported_findings"
    shard_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(128), nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
