"""Tables the foundation owns: issue records, the audit log of human actions, stream
cursors for polling, recorded outbound deliveries, and worker heartbeats."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketbridge.adapters.db.base import Base, utcnow


class IssueRecord(Base):
    """One business problem about one object. Unique while active per (type, object)."""

    __tablename__ = "exception_records"  # the table keeps its historic name (no migration)
    __table_args__ = (
        Index("ix_exception_records_key", "type", "object_type", "object_id"),
        Index("ix_exception_records_state_owner", "state", "owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    suggested_action: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="open")
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    alerted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class AuditLogEntry(Base):
    """Every human action (dashboard or CLI): who, what, on which object, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StreamCursor(Base):
    """Where a polling stream has read up to (OR11 update date, shipment entity id, ...).

    A cursor only moves forward after everything before it has been stored.
    """

    __tablename__ = "stream_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """An outbound write to a remote API, recorded with its attempts (Saleor-style).

    ``key`` is the idempotency key of the business action (``OR24:JL-000001-A``), unique, so a
    retried or recovered workflow finds the earlier attempt instead of sending again blindly.
    """

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    api: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkerHeartbeat(Base):
    """Each worker process writes here regularly; a sweeper resumes the work of silent ones."""

    __tablename__ = "worker_heartbeats"

    executor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    pid: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """A person who logs in to the console. ``role`` is one of domain.auth.Role.

    Ids are never reused (SQLite ``AUTOINCREMENT``; PostgreSQL's sequence never goes back), so a
    cookie or token of a deleted user can never name the next user created. ``session_version`` is
    carried in the session cookie and bumped on log-out, password change and deactivation: every
    cookie issued before the bump is refused from then on.
    """

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(Base):
    """A bearer token for the JSON API and /metrics. Only its SHA-256 is stored.

    Deleting the user deletes its tokens (foreign key, ``ON DELETE CASCADE``). A token past its
    ``expires_at`` (optional) or ``revoked`` is refused.
    """

    __tablename__ = "api_tokens"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    revoked: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class LoginFailure(Base):
    """Failed log-ins of one (name, client address) pair, for the back-off of the log-in form.

    ``key`` is the SHA-256 of the case-folded name and the address, so neither a typed name (it may
    be a password typed in the wrong box) nor an address is kept in clear. ``last_success_at`` marks
    a pair that has logged in before: the global cap does not stop it (the real user's own
    machine), see services.login_throttle.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class LoginFailureMinute(Base):
    """Failed log-ins across all names, counted per minute (``minute`` = Unix time // 60)."""

    __tablename__ = "login_failure_minutes"

    minute: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    failures: Mapped[int] = mapped_column(Integer, default=0)
