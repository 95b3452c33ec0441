"""Marketplace call budgets (issue 20 item 2): ``mirakl_call_counts`` (calls per 10-second bucket,
API and flow) and ``mirakl_flow_deferrals`` (each flow's latest deferral).

New tables only; rows older than a day are deleted as new ones are written.

Revision ID: 0014_call_budgets
Revises: 0013_order_feed_fully_refunded
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_call_budgets"
down_revision = "0013_order_feed_fully_refunded"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirakl_call_counts",
        sa.Column("bucket_start", sa.Integer(), nullable=False),
        sa.Column("api", sa.String(length=32), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket_start", "api", "flow", name=op.f("pk_mirakl_call_counts")),
    )
    op.create_table(
        "mirakl_flow_deferrals",
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("api", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("flow", name=op.f("pk_mirakl_flow_deferrals")),
    )


def downgrade() -> None:
    op.drop_table("mirakl_flow_deferrals")
    op.drop_table("mirakl_call_counts")
