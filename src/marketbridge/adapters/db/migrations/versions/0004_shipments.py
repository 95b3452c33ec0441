"""Tables of the shipments flow: shipments_out, carrier_mappings, marketplace_carriers.

Revision ID: 0004_shipments
Revises: 0003_orders
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_shipments"
down_revision = "0003_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shipments_out",
        sa.Column("magento_shipment_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("magento_increment_id", sa.String(length=64), nullable=False),
        sa.Column("magento_order_id", sa.Integer(), nullable=False),
        sa.Column("marketplace_order_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("tracks", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("tracking_number", sa.String(length=128), nullable=True),
        sa.Column("carrier_code", sa.String(length=64), nullable=True),
        sa.Column("carrier_match", sa.String(length=128), nullable=True),
        sa.Column("carrier_key", sa.String(length=255), nullable=True),
        sa.Column("marketplace_shipment_id", sa.String(length=64), nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("magento_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("magento_shipment_id", name=op.f("pk_shipments_out")),
    )
    op.create_index("ix_shipments_out_state", "shipments_out", ["state"], unique=False)
    op.create_index("ix_shipments_out_marketplace_order_id", "shipments_out", ["marketplace_order_id"], unique=False)
    op.create_table(
        "carrier_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("magento_carrier_code", sa.String(length=64), nullable=False),
        sa.Column("title_key", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("marketplace_code", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carrier_mappings")),
        sa.UniqueConstraint("magento_carrier_code", "title_key",
                            name=op.f("uq_carrier_mappings_magento_carrier_code")),
    )
    op.create_table(
        "marketplace_carriers",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("standard_code", sa.String(length=64), nullable=True),
        sa.Column("tracking_url", sa.Text(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_marketplace_carriers")),
    )


def downgrade() -> None:
    op.drop_table("marketplace_carriers")
    op.drop_table("carrier_mappings")
    op.drop_index("ix_shipments_out_marketplace_order_id", table_name="shipments_out")
    op.drop_index("ix_shipments_out_state", table_name="shipments_out")
    op.drop_table("shipments_out")
