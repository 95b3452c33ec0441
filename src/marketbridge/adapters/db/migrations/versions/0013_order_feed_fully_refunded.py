"""The order feed's mirror keeps the marketplace's ``fully_refunded`` flag (issue 20).

The refunds flow reads the mirror instead of OR11 when ``order_feed_enabled`` is on, and moves our
order record to ``refunded`` on that flag, so the mirror must hold it. One boolean column,
``false`` for the rows already there: the feed writes the true value the next time it reads an
order (a row's other new facts, a refund's quantity, reason and date, live in the ``lines`` JSON
and need no migration).

Revision ID: 0013_order_feed_fully_refunded
Revises: 0012_order_feed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_order_feed_fully_refunded"
down_revision = "0012_order_feed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("order_feed_mirror") as batch:
        batch.add_column(sa.Column("fully_refunded", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("order_feed_mirror") as batch:
        batch.drop_column("fully_refunded")
