"""Tables of the shipments flow.

Revision ID: 0004_shipments
Revises: 0003_orders
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_shipments"
down_revision = "0003_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
