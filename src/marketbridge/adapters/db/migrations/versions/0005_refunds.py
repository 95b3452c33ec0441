"""Tables of the refunds flow: refunds_out, marketplace_refunds, refund_reasons.

Revision ID: 0005_refunds
Revises: 0004_shipments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_refunds"
down_revision = "0004_shipments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refunds_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creditmemo_id", sa.Integer(), nullable=False),
        sa.Column("creditmemo_increment_id", sa.String(length=64), nullable=False),
        sa.Column("magento_order_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tax_mode", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("memo_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("refund_ids", sa.JSON(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("workflow_round", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Boolean(), nullable=False),
        sa.Column("send_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("memo_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds_out")),
        sa.UniqueConstraint("creditmemo_id", name=op.f("uq_refunds_out_creditmemo_id")),
    )
    op.create_index("ix_refunds_out_status", "refunds_out", ["status"], unique=False)
    op.create_index("ix_refunds_out_order_id", "refunds_out", ["order_id"], unique=False)

    op.create_table(
        "marketplace_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("order_line_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("creditmemo_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("shipping_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("marketplace_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_refunds")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_marketplace_refunds_refund_id")),
    )
    op.create_index("ix_marketplace_refunds_order_id", "marketplace_refunds", ["order_id"], unique=False)
    op.create_index("ix_marketplace_refunds_state", "marketplace_refunds", ["state"], unique=False)

    op.create_table(
        "refund_reasons",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("is_shop_right", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_refund_reasons")),
    )


def downgrade() -> None:
    op.drop_table("refund_reasons")
    op.drop_index("ix_marketplace_refunds_state", table_name="marketplace_refunds")
    op.drop_index("ix_marketplace_refunds_order_id", table_name="marketplace_refunds")
    op.drop_table("marketplace_refunds")
    op.drop_index("ix_refunds_out_order_id", table_name="refunds_out")
    op.drop_index("ix_refunds_out_status", table_name="refunds_out")
    op.drop_table("refunds_out")
