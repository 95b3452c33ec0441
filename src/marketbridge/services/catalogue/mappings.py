"""Editable mappings (attributes, values, categories) and the publish rules for excluded products.

The defaults of :data:`marketbridge.domain.catalogue.DEFAULT_ATTRIBUTE_MAPPINGS` are overridden
attribute by attribute by the editable table; every change is audited.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.catalogue import (
    AttributeMappingRow,
    CategoryMappingRow,
    PublishOverride,
)
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    AttributeMapping,
)
from marketbridge.services import issues as issue_service
from marketbridge.services.catalogue.results import (
    AttributeMappingView,
    CategoryMappingView,
    MappingsView,
    OverrideView,
)
from marketbridge.services.stock import outbox as stock_outbox


# ----------------------------------------------------------------------------- mappings
def attribute_mappings(session: Session) -> list[AttributeMapping]:
    """The defaults, overridden attribute by attribute by the editable table (empty source = unmapped)."""
    effective = {m.attribute: m for m in catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS}
    for row in session.scalars(select(AttributeMappingRow)):
        if row.source:
            effective[row.attribute] = AttributeMapping(row.attribute, row.source, dict(row.value_map or {}))
        else:
            effective.pop(row.attribute, None)
    return list(effective.values())


def category_mappings(session: Session) -> dict[str, str]:
    return dict(session.execute(select(CategoryMappingRow.magento_category, CategoryMappingRow.marketplace_category)).tuples().all())


def set_attribute_mapping(session: Session, attribute: str, source: str, value_map: dict[str, str] | None, *,
                          actor: str) -> AttributeMappingRow:
    attribute, source = attribute.strip(), source.strip()
    if not attribute:
        raise ValueError("the marketplace attribute code is required")
    row = session.get(AttributeMappingRow, attribute)
    if row is None:
        row = AttributeMappingRow(attribute=attribute, source=source, value_map=dict(value_map or {}), updated_by=actor)
        session.add(row)
    else:
        row.source = source
        if value_map is not None:
            row.value_map = dict(value_map)
        row.updated_by = actor
    issue_service.audit(session, actor, "catalogue.attribute_mapping", "attribute", attribute, source=source)
    session.flush()
    return row


def set_value_mapping(session: Session, attribute: str, magento_value: str, marketplace_value: str, *,
                      actor: str) -> AttributeMappingRow:
    row = session.get(AttributeMappingRow, attribute)
    if row is None:
        default = next((m for m in catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS if m.attribute == attribute), None)
        if default is None:
            raise ValueError(f"no mapping for the attribute {attribute!r}; map it first")
        row = AttributeMappingRow(attribute=attribute, source=default.source, value_map={}, updated_by=actor)
        session.add(row)
    row.value_map = {**(row.value_map or {}), magento_value: marketplace_value}
    row.updated_by = actor
    issue_service.audit(session, actor, "catalogue.value_mapping", "attribute", attribute,
                            magento_value=magento_value, marketplace_value=marketplace_value)
    session.flush()
    return row


def set_category_mapping(session: Session, magento_category: str, marketplace_category: str, *,
                         actor: str) -> CategoryMappingRow:
    if not magento_category.strip() or not marketplace_category.strip():
        raise ValueError("both the Adobe Commerce category and the marketplace category are required")
    row = session.get(CategoryMappingRow, magento_category.strip())
    if row is None:
        row = CategoryMappingRow(magento_category=magento_category.strip(),
                                 marketplace_category=marketplace_category.strip(), updated_by=actor)
        session.add(row)
    else:
        row.marketplace_category, row.updated_by = marketplace_category.strip(), actor
    issue_service.audit(session, actor, "catalogue.category_mapping", "category", magento_category,
                            marketplace_category=marketplace_category)
    session.flush()
    return row


def delete_mapping(session: Session, kind: str, key: str, *, actor: str) -> bool:
    model = AttributeMappingRow if kind == "attribute" else CategoryMappingRow
    row = session.get(model, key)
    if row is None:
        return False
    session.delete(row)
    issue_service.audit(session, actor, f"catalogue.{kind}_mapping_deleted", kind, key)
    return True


def set_override(session: Session, magento_sku: str, action: str | None, *, actor: str, note: str = "") -> None:
    """Add (``publish_as_simple``) or remove (``None``) an explicit rule for an excluded product."""
    row = session.get(PublishOverride, magento_sku)
    if action is None:
        if row is not None:
            session.delete(row)
    else:
        catalogue_domain.OverrideAction(action)  # validates
        if row is None:
            session.add(PublishOverride(magento_sku=magento_sku, action=action, note=note, created_by=actor))
        else:
            row.action, row.note, row.created_by = action, note, actor
    issue_service.audit(session, actor, "catalogue.override", "product", magento_sku, rule=action)
    # Whether the SKU has an offer to keep up to date just changed: let the stock flow re-decide.
    stock_outbox.note_hints(session, [magento_sku], price=True, force=True, reason="catalogue rule changed")
    session.flush()


def mappings_view(session: Session) -> MappingsView:
    return MappingsView(
        attributes=[AttributeMappingView(attribute=m.attribute, source=m.source, value_map=dict(m.value_map))
                    for m in attribute_mappings(session)],
        categories=[CategoryMappingView(magento_category=k, marketplace_category=v)
                    for k, v in sorted(category_mappings(session).items())],
        overrides=[OverrideView(magento_sku=o.magento_sku, action=o.action, note=o.note)
                   for o in session.scalars(select(PublishOverride).order_by(PublishOverride.magento_sku))],
    )
