"""Personal data: when a stored webhook body was cut down to what dispatch needs.

``webhook_events.body_minimised_at`` is set when the retention (``webhook_body_retention_hours``)
has replaced the raw body by its minimised form (event name, ids, SKUs, quantities); the row itself,
with its ``dedup_key`` and ``received_at``, stays for de-duplication. The index serves the purge's
"not yet minimised and older than the cut-off" query.

Revision ID: 0010_personal_data
Revises: 0009_stock_catchup
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_personal_data"
down_revision = "0009_stock_catchup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_minimised_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_webhook_events_minimise", ["body_minimised_at", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_minimise")
        batch_op.drop_column("body_minimised_at")
