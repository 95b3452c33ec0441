"""Tables of the orders flow: marketplace_orders, order_lines, order_transitions.

Revision ID: 0003_orders
Revises: 0002_stock
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_orders"
down_revision = "0002_stock"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('marketplace_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('commercial_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('marketplace_state', sa.String(length=32), nullable=False),
    sa.Column('marketplace_updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('marketplace_created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('customer_debited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acceptance_deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('subtotal', sa.Float(), nullable=False),
    sa.Column('shipping_price', sa.Float(), nullable=False),
    sa.Column('total_price', sa.Float(), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('decision', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('customer_name', sa.String(length=255), nullable=True),
    sa.Column('shipping_address', sa.JSON(), nullable=True),
    sa.Column('personal_data_purged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('magento_entity_id', sa.Integer(), nullable=True),
    sa.Column('magento_increment_id', sa.String(length=64), nullable=True),
    sa.Column('magento_totals', sa.JSON(), nullable=False),
    sa.Column('create_attempt', sa.Integer(), nullable=False),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketplace_orders')),
    sa.UniqueConstraint('connection', 'order_id', name='uq_marketplace_orders_connection_order_id')
    )
    op.create_index('ix_marketplace_orders_state', 'marketplace_orders', ['state'], unique=False)
    op.create_table('order_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_pk', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('offer_sku', sa.String(length=128), nullable=False),
    sa.Column('magento_sku', sa.String(length=128), nullable=True),
    sa.Column('sku_match', sa.String(length=16), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Float(), nullable=False),
    sa.Column('price', sa.Float(), nullable=False),
    sa.Column('shipping_price', sa.Float(), nullable=False),
    sa.Column('marketplace_state', sa.String(length=32), nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['order_pk'], ['marketplace_orders.id'], name=op.f('fk_order_lines_order_pk_marketplace_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('order_pk', 'order_line_id', name='uq_order_lines_order_pk_line')
    )
    op.create_index(op.f('ix_order_lines_magento_sku'), 'order_lines', ['magento_sku'], unique=False)
    op.create_index(op.f('ix_order_lines_order_pk'), 'order_lines', ['order_pk'], unique=False)
    op.create_table('order_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_pk', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['order_pk'], ['marketplace_orders.id'], name=op.f('fk_order_transitions_order_pk_marketplace_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_transitions'))
    )
    op.create_index(op.f('ix_order_transitions_order_pk'), 'order_transitions', ['order_pk'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_order_transitions_order_pk"), table_name="order_transitions")
    op.drop_table("order_transitions")
    op.drop_index(op.f("ix_order_lines_order_pk"), table_name="order_lines")
    op.drop_index(op.f("ix_order_lines_magento_sku"), table_name="order_lines")
    op.drop_table("order_lines")
    op.drop_index("ix_marketplace_orders_state", table_name="marketplace_orders")
    op.drop_table("marketplace_orders")
