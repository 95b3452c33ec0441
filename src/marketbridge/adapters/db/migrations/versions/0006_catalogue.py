"""Tables of the catalogue flow.

Revision ID: 0006_catalogue
Revises: 0005_refunds
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006_catalogue"
down_revision = "0005_refunds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
