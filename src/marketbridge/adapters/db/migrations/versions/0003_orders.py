"""Tables of the orders flow.

Revision ID: 0003_orders
Revises: 0002_stock
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_orders"
down_revision = "0002_stock"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
