"""Tables of the stock flow.

Revision ID: 0002_stock
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_stock"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("event_name", sa.String(255), nullable=False),
        sa.Column("dedup_key", sa.String(128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("handled_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    op.create_index("ix_webhook_events_dedup", "webhook_events", ["dedup_key", "received_at"])
    op.create_index(op.f("ix_webhook_events_event_name"), "webhook_events", ["event_name"])
    op.create_index(op.f("ix_webhook_events_handled_at"), "webhook_events", ["handled_at"])

    op.create_table(
        "stock_hints",
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("stock", sa.Boolean(), nullable=False),
        sa.Column("price", sa.Boolean(), nullable=False),
        sa.Column("details", sa.Boolean(), nullable=False),
        sa.Column("exact", sa.Boolean(), nullable=False),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("first_noticed_at", TS, nullable=False),
        sa.Column("touched_at", TS, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_stock_hints")),
    )

    op.create_table(
        "sku_states",
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("type_id", sa.String(32), nullable=False),
        sa.Column("manage_stock", sa.Boolean(), nullable=False),
        sa.Column("min_qty", sa.Float(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("category_ids", sa.JSON(), nullable=False),
        sa.Column("price", sa.String(32), nullable=True),
        sa.Column("special_price", sa.String(32), nullable=True),
        sa.Column("special_from", sa.String(32), nullable=True),
        sa.Column("special_to", sa.String(32), nullable=True),
        sa.Column("facts_at", TS, nullable=True),
        sa.Column("source_fingerprint", sa.String(64), nullable=True),
        sa.Column("reservations_suspected", sa.Boolean(), nullable=False),
        sa.Column("magento_qty", sa.Float(), nullable=True),
        sa.Column("target_qty", sa.Integer(), nullable=True),
        sa.Column("stock_rule", sa.String(255), nullable=False),
        sa.Column("published_qty", sa.Integer(), nullable=True),
        sa.Column("stock_import_id", sa.String(64), nullable=True),
        sa.Column("stock_result", sa.String(16), nullable=False),
        sa.Column("stock_message", sa.Text(), nullable=False),
        sa.Column("stock_pushed_at", TS, nullable=True),
        sa.Column("stock_completed_at", TS, nullable=True),
        sa.Column("stock_latency_seconds", sa.Float(), nullable=True),
        sa.Column("magento_price", sa.String(32), nullable=True),
        sa.Column("target_price", sa.String(32), nullable=True),
        sa.Column("price_rule", sa.String(255), nullable=False),
        sa.Column("published_price", sa.String(32), nullable=True),
        sa.Column("price_import_id", sa.String(64), nullable=True),
        sa.Column("price_result", sa.String(16), nullable=False),
        sa.Column("price_message", sa.Text(), nullable=False),
        sa.Column("price_pushed_at", TS, nullable=True),
        sa.Column("price_completed_at", TS, nullable=True),
        sa.Column("price_latency_seconds", sa.Float(), nullable=True),
        sa.Column("noticed_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_sku_states")),
    )

    op.create_table(
        "sync_outbox",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("pending_value", sa.String(32), nullable=True),
        sa.Column("pending_noticed_at", TS, nullable=True),
        sa.Column("pending_first_noticed_at", TS, nullable=True),
        sa.Column("inflight_batch_id", sa.Integer(), nullable=True),
        sa.Column("inflight_value", sa.String(32), nullable=True),
        sa.Column("inflight_first_noticed_at", TS, nullable=True),
        sa.Column("inflight_read_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("kind", "sku", name=op.f("pk_sync_outbox")),
    )
    op.create_index("ix_sync_outbox_inflight", "sync_outbox", ["inflight_batch_id"])

    op.create_table(
        "sync_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api", sa.String(8), nullable=False),
        sa.Column("kinds", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("import_id", sa.String(64), nullable=True),
        sa.Column("sku_count", sa.Integer(), nullable=False),
        sa.Column("ok_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("import_status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_batches")),
    )
    op.create_index(op.f("ix_sync_batches_api"), "sync_batches", ["api"])
    op.create_index(op.f("ix_sync_batches_created_at"), "sync_batches", ["created_at"])

    op.create_table(
        "sync_lanes",
        sa.Column("api", sa.String(8), nullable=False),
        sa.Column("active_batch_id", sa.Integer(), nullable=True),
        sa.Column("last_sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("api", name=op.f("pk_sync_lanes")),
    )

    op.create_table(
        "stock_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_key", sa.String(255), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_rules")),
        sa.UniqueConstraint("kind", "scope", "scope_key", name="uq_stock_rules_scope"),
    )

    op.create_table(
        "sku_push_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("first_noticed_at", TS, nullable=True),
        sa.Column("read_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sku_push_log")),
    )
    op.create_index("ix_sku_push_log_sku", "sku_push_log", ["sku", "id"])
    op.create_index(op.f("ix_sku_push_log_completed_at"), "sku_push_log", ["completed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sku_push_log_completed_at"), table_name="sku_push_log")
    op.drop_index("ix_sku_push_log_sku", table_name="sku_push_log")
    op.drop_table("sku_push_log")
    op.drop_table("stock_rules")
    op.drop_table("sync_lanes")
    op.drop_index(op.f("ix_sync_batches_created_at"), table_name="sync_batches")
    op.drop_index(op.f("ix_sync_batches_api"), table_name="sync_batches")
    op.drop_table("sync_batches")
    op.drop_index("ix_sync_outbox_inflight", table_name="sync_outbox")
    op.drop_table("sync_outbox")
    op.drop_table("sku_states")
    op.drop_table("stock_hints")
    op.drop_index(op.f("ix_webhook_events_handled_at"), table_name="webhook_events")
    op.drop_index(op.f("ix_webhook_events_event_name"), table_name="webhook_events")
    op.drop_index("ix_webhook_events_dedup", table_name="webhook_events")
    op.drop_table("webhook_events")
