"""Pure rules of the catalogue flow (no I/O): which Magento products may be published, how their
attributes map to the marketplace's (PM11/H11/VL11), what is wrong with them in plain English,
how near-miss SKUs are spotted, and the drift comparison of the full audit.

Everything here takes plain values (dataclasses, dicts) and returns plain values, so the same
rules run in the publisher, the audit, the CLI and the benchmark.

Modules, one per section: :mod:`.issue_types`, :mod:`.products` (exclusion rules),
:mod:`.reference` (PM11/H11/VL11), :mod:`.mapping`, :mod:`.validation`, :mod:`.skus` (near misses)
and :mod:`.drift` (the audit's comparison). This package exposes all of them.
"""

from marketbridge.domain.catalogue.drift import (
    DRIFT_LABELS,
    EXPECTED_INACTIVITY,
    NEEDS_A_PERSON,
    AuditRules,
    Drift,
    DriftKind,
    MagentoRow,
    OfferRow,
    compare,
    count_by_kind,
    csv_safe,
)
from marketbridge.domain.catalogue.issue_types import (
    OFFER_INACTIVE,
    OFFER_WITHOUT_PRODUCT,
    PRODUCT_INVALID,
    PRODUCT_REJECTED,
    SKU_NEAR_MISS,
)
from marketbridge.domain.catalogue.mapping import (
    CATEGORY_SOURCE,
    DEFAULT_ATTRIBUTE_MAPPINGS,
    VARIANT_GROUP_COLUMN,
    AttributeMapping,
    map_category,
    map_product,
)
from marketbridge.domain.catalogue.products import (
    NEVER_PUBLISHED,
    CatalogueProduct,
    ListingStatus,
    OverrideAction,
    exclusion_reason,
    variant_groups,
)
from marketbridge.domain.catalogue.reference import MarketAttribute, MarketReference, reference_from_api
from marketbridge.domain.catalogue.skus import NearMiss, find_near_misses, near_miss_reason, normalise_sku
from marketbridge.domain.catalogue.validation import normalise_list_values, validate

__all__ = [
    "AttributeMapping", "AuditRules", "CATEGORY_SOURCE", "CatalogueProduct", "DEFAULT_ATTRIBUTE_MAPPINGS",
    "DRIFT_LABELS", "Drift", "DriftKind", "EXPECTED_INACTIVITY", "ListingStatus", "MagentoRow",
    "MarketAttribute", "MarketReference", "NEEDS_A_PERSON", "NEVER_PUBLISHED", "NearMiss", "OFFER_INACTIVE",
    "OFFER_WITHOUT_PRODUCT", "OfferRow", "OverrideAction", "PRODUCT_INVALID", "PRODUCT_REJECTED",
    "SKU_NEAR_MISS", "VARIANT_GROUP_COLUMN", "compare", "count_by_kind", "csv_safe", "exclusion_reason",
    "find_near_misses", "map_category", "map_product", "near_miss_reason", "normalise_list_values",
    "normalise_sku", "reference_from_api", "validate", "variant_groups",
]
