"""Accounts: ids never reused, tokens die with their user, session versions, token expiry, and the
log-in back-off kept in the database.

* ``users``: ``session_version`` (in the cookie; bumped on log-out, password change, deactivation);
  on SQLite the table is rebuilt with ``AUTOINCREMENT`` so a deleted user's id is never handed out
  again (PostgreSQL's sequence never goes back already).
* ``api_tokens``: tokens whose user no longer exists are deleted first (they are exactly the ones a
  new user with a reused id would have inherited), then a foreign key ``ON DELETE CASCADE`` to
  ``users``, ``expires_at``, and ``AUTOINCREMENT`` on SQLite.
* ``login_failures`` and ``login_failure_minutes``: see services.login_throttle.

SQLite cannot add a foreign key or AUTOINCREMENT to a table in place: Alembic's batch mode copies
the table into a new one (``recreate="always"``). ``users`` is rebuilt before ``api_tokens`` gets
its foreign key, so no table refers to ``users`` while it is dropped and renamed.

Revision ID: 0008_accounts
Revises: 0007_console
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from alembic import op

revision = "0008_accounts"
down_revision = "0007_console"
branch_labels = None
depends_on = None


def _recreate() -> Literal["always", "auto"]:
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    with op.batch_alter_table("users", recreate=_recreate(), table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))

    op.execute("DELETE FROM api_tokens WHERE user_id NOT IN (SELECT id FROM users)")
    with op.batch_alter_table("api_tokens", recreate=_recreate(), table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            op.f("fk_api_tokens_user_id_users"), "users", ["user_id"], ["id"], ondelete="CASCADE"
        )

    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_last_failed_at"), "login_failures", ["last_failed_at"], unique=False)
    op.create_table(
        "login_failure_minutes",
        sa.Column("minute", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute", name=op.f("pk_login_failure_minutes")),
    )


def downgrade() -> None:
    op.drop_table("login_failure_minutes")
    op.drop_index(op.f("ix_login_failures_last_failed_at"), table_name="login_failures")
    op.drop_table("login_failures")
    with op.batch_alter_table("api_tokens", recreate=_recreate()) as batch:
        batch.drop_constraint(op.f("fk_api_tokens_user_id_users"), type_="foreignkey")
        batch.drop_column("expires_at")
    with op.batch_alter_table("users", recreate=_recreate()) as batch:
        batch.drop_column("session_version")
