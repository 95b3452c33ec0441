"""Tables of the refunds flow.

Revision ID: 0005_refunds
Revises: 0004_shipments
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005_refunds"
down_revision = "0004_shipments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
