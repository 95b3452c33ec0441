"""Editable mappings (attributes, values, categories) and the publish rules for excluded products.

The defaults of :data:`marketbridge.domain.catalogue.DEFAULT_ATTRIBUTE_MAPPINGS` are overridden
attribute by attribute by the editable table; every change is audited. Every function takes the
flow's repository: a command's change and its activity-log entry commit together, in the caller's
unit of work of ``runtime.catalogue_store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    AttributeMapping,
)
from marketbridge.services.catalogue.results import (
    AttributeMappingView,
    CategoryMappingView,
    MappingsView,
    OverrideView,
)

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.catalogue import AttributeMappingRow, CategoryMappingRow
    from marketbridge.ports import CatalogueRepository


# ----------------------------------------------------------------------------- mappings
def attribute_mappings(repo: CatalogueRepository) -> list[AttributeMapping]:
    """The defaults, overridden attribute by attribute by the editable table (empty source = unmapped)."""
    effective = {m.attribute: m for m in catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS}
    for row in repo.attribute_mapping_rows():
        if row.source:
            effective[row.attribute] = AttributeMapping(row.attribute, row.source, dict(row.value_map or {}))
        else:
            effective.pop(row.attribute, None)
    return list(effective.values())


def category_mappings(repo: CatalogueRepository) -> dict[str, str]:
    return repo.category_mappings()


def set_attribute_mapping(repo: CatalogueRepository, attribute: str, source: str, value_map: dict[str, str] | None, *,
                          actor: str) -> AttributeMappingRow:
    attribute, source = attribute.strip(), source.strip()
    if not attribute:
        raise ValueError("the marketplace attribute code is required")
    row = repo.attribute_mapping(attribute)
    if row is None:
        row = repo.add_attribute_mapping(attribute, source=source, value_map=dict(value_map or {}), updated_by=actor)
    else:
        row.source = source
        if value_map is not None:
            row.value_map = dict(value_map)
        row.updated_by = actor
    repo.issues.audit(actor, "catalogue.attribute_mapping", "attribute", attribute, source=source)
    repo.flush()
    return row


def set_value_mapping(repo: CatalogueRepository, attribute: str, magento_value: str, marketplace_value: str, *,
                      actor: str) -> AttributeMappingRow:
    row = repo.attribute_mapping(attribute)
    if row is None:
        default = next((m for m in catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS if m.attribute == attribute), None)
        if default is None:
            raise ValueError(f"no mapping for the attribute {attribute!r}; map it first")
        row = repo.add_attribute_mapping(attribute, source=default.source, value_map={}, updated_by=actor)
    row.value_map = {**(row.value_map or {}), magento_value: marketplace_value}
    row.updated_by = actor
    repo.issues.audit(actor, "catalogue.value_mapping", "attribute", attribute,
                      magento_value=magento_value, marketplace_value=marketplace_value)
    repo.flush()
    return row


def set_category_mapping(repo: CatalogueRepository, magento_category: str, marketplace_category: str, *,
                         actor: str) -> CategoryMappingRow:
    if not magento_category.strip() or not marketplace_category.strip():
        raise ValueError("both the Adobe Commerce category and the marketplace category are required")
    row = repo.category_mapping(magento_category.strip())
    if row is None:
        row = repo.add_category_mapping(magento_category.strip(), marketplace_category=marketplace_category.strip(),
                                        updated_by=actor)
    else:
        row.marketplace_category, row.updated_by = marketplace_category.strip(), actor
    repo.issues.audit(actor, "catalogue.category_mapping", "category", magento_category,
                      marketplace_category=marketplace_category)
    repo.flush()
    return row


def delete_mapping(repo: CatalogueRepository, kind: str, key: str, *, actor: str) -> bool:
    removed = repo.remove_attribute_mapping(key) if kind == "attribute" else repo.remove_category_mapping(key)
    if not removed:
        return False
    repo.issues.audit(actor, f"catalogue.{kind}_mapping_deleted", kind, key)
    return True


def set_override(repo: CatalogueRepository, magento_sku: str, action: str | None, *, actor: str,
                 note: str = "") -> None:
    """Add (``publish_as_simple``) or remove (``None``) an explicit rule for an excluded product."""
    row = repo.publish_override(magento_sku)
    if action is None:
        if row is not None:
            repo.remove_publish_override(magento_sku)
    else:
        catalogue_domain.OverrideAction(action)  # validates
        if row is None:
            repo.add_publish_override(magento_sku, action=action, note=note, created_by=actor)
        else:
            row.action, row.note, row.created_by = action, note, actor
    repo.issues.audit(actor, "catalogue.override", "product", magento_sku, rule=action)
    # Whether the SKU has an offer to keep up to date just changed: let the stock flow re-decide
    # (its hint is written in this unit of work, so it commits with the rule).
    repo.stock.note_hints([magento_sku], price=True, force=True, reason="catalogue rule changed")
    repo.flush()


def mappings_view(repo: CatalogueRepository) -> MappingsView:
    return MappingsView(
        attributes=[AttributeMappingView(attribute=m.attribute, source=m.source, value_map=dict(m.value_map))
                    for m in attribute_mappings(repo)],
        categories=[CategoryMappingView(magento_category=k, marketplace_category=v)
                    for k, v in sorted(category_mappings(repo).items())],
        overrides=[OverrideView(magento_sku=o.magento_sku, action=o.action, note=o.note)
                   for o in repo.publish_overrides()],
    )
