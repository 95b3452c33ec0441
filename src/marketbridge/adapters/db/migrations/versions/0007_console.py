"""Tables of the console flow.

Revision ID: 0007_console
Revises: 0006_catalogue
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007_console"
down_revision = "0006_catalogue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
