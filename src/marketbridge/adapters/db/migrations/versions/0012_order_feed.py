"""The order feed (issue 20): the mirror of marketplace orders, its outbox of changes, and its state.

* ``order_feed_mirror``: one row per ``(connection, order_id)``, the last version the feed read
  (no customer data; lines, refunds and tracking as JSON with money as strings);
* ``order_feed_events``: the changes, written with the mirror rows in one transaction, published
  on the bus afterwards (``dispatched_at``);
* ``order_feed_state``: per connection, the cursor, the reader lease and the last read's figures.

New tables only: nothing existing changes, and the feed stays off until ``order_feed_enabled``.

Revision ID: 0012_order_feed
Revises: 0011_money_decimal
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_order_feed"
down_revision = "0011_money_decimal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_feed_mirror",
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acceptance_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipping_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customer_debited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("can_cancel", sa.Boolean(), nullable=True),
        sa.Column("has_incident", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("shipping_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("total_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("tracking", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection", "order_id", name=op.f("pk_order_feed_mirror")),
    )
    op.create_index("ix_order_feed_mirror_state", "order_feed_mirror", ["connection", "state"], unique=False)
    op.create_index("ix_order_feed_mirror_changed_at", "order_feed_mirror", ["connection", "changed_at"],
                    unique=False)

    op.create_table(
        "order_feed_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_feed_events")),
    )
    op.create_index("ix_order_feed_events_pending", "order_feed_events", ["connection", "dispatched_at", "id"],
                    unique=False)
    op.create_index("ix_order_feed_events_order_id", "order_feed_events", ["order_id"], unique=False)

    op.create_table(
        "order_feed_state",
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_read_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_read_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_read_seconds", sa.Float(), nullable=True),
        sa.Column("last_read_orders", sa.Integer(), nullable=False),
        sa.Column("last_read_pages", sa.Integer(), nullable=False),
        sa.Column("last_read_events", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_read_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection", name=op.f("pk_order_feed_state")),
    )


def downgrade() -> None:
    op.drop_table("order_feed_state")
    op.drop_index("ix_order_feed_events_order_id", table_name="order_feed_events")
    op.drop_index("ix_order_feed_events_pending", table_name="order_feed_events")
    op.drop_table("order_feed_events")
    op.drop_index("ix_order_feed_mirror_changed_at", table_name="order_feed_mirror")
    op.drop_index("ix_order_feed_mirror_state", table_name="order_feed_mirror")
    op.drop_table("order_feed_mirror")
