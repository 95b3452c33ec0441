"""Tables of the catalogue flow: mappings, publish rules, listings, imports, SKU links, audit runs.

Revision ID: 0006_catalogue
Revises: 0005_refunds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_catalogue"
down_revision = "0005_refunds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_attribute_mappings",
        sa.Column("attribute", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("value_map", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("attribute", name=op.f("pk_catalogue_attribute_mappings")),
    )
    op.create_table(
        "catalogue_category_mappings",
        sa.Column("magento_category", sa.String(length=255), nullable=False),
        sa.Column("marketplace_category", sa.String(length=255), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("magento_category", name=op.f("pk_catalogue_category_mappings")),
    )
    op.create_table(
        "catalogue_overrides",
        sa.Column("magento_sku", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("magento_sku", name=op.f("pk_catalogue_overrides")),
    )
    op.create_table(
        "catalogue_listings",
        sa.Column("magento_sku", sa.String(length=255), nullable=False),
        sa.Column("offer_sku", sa.String(length=255), nullable=False),
        sa.Column("type_id", sa.String(length=32), nullable=False),
        sa.Column("variant_group", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("product_import_id", sa.String(length=64), nullable=True),
        sa.Column("offer_import_id", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("magento_sku", name=op.f("pk_catalogue_listings")),
    )
    op.create_index("ix_catalogue_listings_status", "catalogue_listings", ["status"], unique=False)
    op.create_table(
        "catalogue_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api", sa.String(length=8), nullable=False),
        sa.Column("import_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("skus", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("remote_status", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_imports")),
        sa.UniqueConstraint("api", "import_id", name=op.f("uq_catalogue_imports_api")),
    )
    op.create_index(op.f("ix_catalogue_imports_submitted_at"), "catalogue_imports", ["submitted_at"], unique=False)
    op.create_table(
        "sku_links",
        sa.Column("offer_sku", sa.String(length=255), nullable=False),
        sa.Column("magento_sku", sa.String(length=255), nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("offer_sku", name=op.f("pk_sku_links")),
    )
    op.create_index(op.f("ix_sku_links_magento_sku"), "sku_links", ["magento_sku"], unique=False)
    op.create_table(
        "audit_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("offer_source", sa.String(length=8), nullable=False),
        sa.Column("fix", sa.Boolean(), nullable=False),
        sa.Column("magento_count", sa.Integer(), nullable=False),
        sa.Column("offer_count", sa.Integer(), nullable=False),
        sa.Column("drift_count", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("fixed", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("elapsed_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_runs")),
    )
    op.create_index(op.f("ix_audit_runs_started_at"), "audit_runs", ["started_at"], unique=False)
    op.create_table(
        "audit_drifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("magento_sku", sa.String(length=255), nullable=True),
        sa.Column("offer_sku", sa.String(length=255), nullable=True),
        sa.Column("expected", sa.String(length=255), nullable=False),
        sa.Column("actual", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("fix_action", sa.String(length=32), nullable=False),
        sa.Column("fix_result", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["audit_runs.id"], name=op.f("fk_audit_drifts_run_id_audit_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_drifts")),
    )
    op.create_index(op.f("ix_audit_drifts_run_id"), "audit_drifts", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_drifts_run_id"), table_name="audit_drifts")
    op.drop_table("audit_drifts")
    op.drop_index(op.f("ix_audit_runs_started_at"), table_name="audit_runs")
    op.drop_table("audit_runs")
    op.drop_index(op.f("ix_sku_links_magento_sku"), table_name="sku_links")
    op.drop_table("sku_links")
    op.drop_index(op.f("ix_catalogue_imports_submitted_at"), table_name="catalogue_imports")
    op.drop_table("catalogue_imports")
    op.drop_index("ix_catalogue_listings_status", table_name="catalogue_listings")
    op.drop_table("catalogue_listings")
    op.drop_table("catalogue_overrides")
    op.drop_table("catalogue_category_mappings")
    op.drop_table("catalogue_attribute_mappings")
