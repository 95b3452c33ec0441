"""Stock flow: no change left behind (issue 21).

* ``stock_hints.token``: a fresh random token per notice. A refresh deletes only the hints whose
  token is still the one it read (compare-and-delete), so a notice that lands while the SKU is
  being read survives and is read again, whatever the clocks of the workers say.
* ``sku_states.read_at``: when the read whose facts the row holds *started*. A read that started
  earlier than that never writes over the row (newer facts win).

Revision ID: 0009_stock_catchup
Revises: 0008_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_stock_catchup"
down_revision = "0008_accounts"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("stock_hints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(32), nullable=False, server_default=""))
    with op.batch_alter_table("sku_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_states", schema=None) as batch_op:
        batch_op.drop_column("read_at")
    with op.batch_alter_table("stock_hints", schema=None) as batch_op:
        batch_op.drop_column("token")
