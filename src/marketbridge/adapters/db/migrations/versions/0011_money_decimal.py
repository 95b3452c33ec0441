"""Money as Decimal: the orders tables' float amounts become NUMERIC.

A float cannot hold 19.99 (it holds 19.989999999999998…), so totals compared with Adobe Commerce
and sums over lines could be off by a fraction of a penny. The refunds tables were NUMERIC(12, 2)
from the start; the orders tables now match them:

* ``marketplace_orders.subtotal / shipping_price / total_price``: FLOAT -> NUMERIC(12, 2)
* ``order_lines.price / shipping_price``: FLOAT -> NUMERIC(12, 2)
* ``order_lines.unit_price``: FLOAT -> NUMERIC(14, 4) (it may be ``price / quantity``; four places,
  as Adobe Commerce's price columns)

No data is lost: every stored float is rounded half-away-from-zero to the column's scale, which
gives back the decimal the marketplace sent (its amounts have two places; the float nearest to
19.99 rounds to exactly 19.99). PostgreSQL converts in place with ``ROUND(col::numeric, scale)``.
SQLite (``batch_alter_table``: copy into a new table) has no decimal storage class: the values are
rounded in place first, then copied; SQLAlchemy's ``Numeric`` reads them back as ``Decimal``
quantised to the scale. ``tests/integration/test_migrations.py`` migrates real rows on both.

Downgrade turns them back into FLOAT (the nearest double of each decimal).

Revision ID: 0011_money_decimal
Revises: 0010_personal_data
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_money_decimal"
down_revision = "0010_personal_data"
branch_labels = None
depends_on = None

COLUMNS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "marketplace_orders": (("subtotal", 12, 2), ("shipping_price", 12, 2), ("total_price", 12, 2)),
    "order_lines": (("unit_price", 14, 4), ("price", 12, 2), ("shipping_price", 12, 2)),
}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, columns in COLUMNS.items():
        if postgres:
            for name, precision, scale in columns:
                op.alter_column(table, name, existing_type=sa.Float(), type_=sa.Numeric(precision, scale),
                                existing_nullable=False,
                                postgresql_using=f"ROUND({name}::numeric, {scale})::numeric({precision}, {scale})")
            continue
        # SQLite: round in place (ROUND on a REAL is half away from zero), then copy into the new table.
        # (SQLAlchemy Core, not a formatted string: names come from COLUMNS, but bandit rightly
        # flags SQL built by formatting, and Core quotes identifiers for us.)
        target = sa.table(table, *(sa.column(n) for n, _p, _s in columns))
        op.execute(target.update().values({n: sa.func.round(target.c[n], s) for n, _p, s in columns}))
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, precision, scale in columns:
                batch_op.alter_column(name, existing_type=sa.Float(), type_=sa.Numeric(precision, scale),
                                      existing_nullable=False)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, columns in COLUMNS.items():
        if postgres:
            for name, precision, scale in columns:
                op.alter_column(table, name, existing_type=sa.Numeric(precision, scale), type_=sa.Float(),
                                existing_nullable=False, postgresql_using=f"{name}::double precision")
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, precision, scale in columns:
                batch_op.alter_column(name, existing_type=sa.Numeric(precision, scale), type_=sa.Float(),
                                      existing_nullable=False)
