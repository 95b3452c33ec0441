"""Publishing Adobe Commerce products to the marketplace, and their listing status.

One *pass* (:func:`publish_pass`, :mod:`.passes`) is non-blocking and idempotent, so the scheduled
workflow, the CLI and the API all call the same thing:

1. **follow** the imports we sent (P42 then P44/P47 for products; OF02 then OF03 for offers) and
   move each product's listing on (rejected with the marketplace's reasons, or on to its offer;
   an accepted offer becomes ``live`` when OF21 shows it active, else ``inactive`` with reasons)
   (:mod:`.following`);
2. **send products** waiting for a P41 import, at most once per P41 call frequency (15 min)
   (:mod:`.sending`);
3. **send offers** of accepted products in one OF01 file (NORMAL mode), at most once a minute.

:func:`prepare` (:mod:`.preparing`) reads products from Adobe Commerce, applies the exclusion rules,
maps attributes and categories (:mod:`.mappings`), pre-validates against PM11/H11/VL11
(:mod:`.reference`) and records every problem in plain English on the listing (and as a
``catalogue_product_invalid`` issue for ecommerce). :mod:`.discovery` finds new products for
the schedule; :mod:`.products` is the Magento side (quantity and price through the stock flow's
rules); :mod:`.views` reads listings.

This package exposes the flow's commands and views; the modules hold the rest.
"""

from marketbridge.services.catalogue.discovery import discover_new_products
from marketbridge.services.catalogue.following import follow_imports, refresh_live
from marketbridge.services.catalogue.mappings import (
    attribute_mappings,
    category_mappings,
    delete_mapping,
    mappings_view,
    set_attribute_mapping,
    set_category_mapping,
    set_override,
    set_value_mapping,
)
from marketbridge.services.catalogue.passes import TERMINAL, publish, publish_pass, run_scheduled_pass
from marketbridge.services.catalogue.preparing import PrepareResult, prepare
from marketbridge.services.catalogue.products import (
    catalogue_product,
    channel_values,
    price_facts,
    product_facts,
    unmanaged_default,
)
from marketbridge.services.catalogue.reference import market_reference
from marketbridge.services.catalogue.results import (
    AttributeMappingView,
    CategoryMappingView,
    ListingView,
    MappingsView,
    OverrideView,
    PassResult,
    PublishRuleView,
    ScheduledPass,
    UnknownSku,
)
from marketbridge.services.catalogue.sending import send_offers, send_products
from marketbridge.services.catalogue.views import listing_view, statuses

__all__ = [
    "TERMINAL", "AttributeMappingView", "CategoryMappingView", "ListingView", "MappingsView", "OverrideView",
    "PassResult", "PrepareResult", "PublishRuleView", "ScheduledPass", "UnknownSku", "attribute_mappings", "catalogue_product", "category_mappings",
    "channel_values", "delete_mapping", "discover_new_products", "follow_imports", "listing_view",
    "mappings_view", "market_reference", "prepare", "price_facts", "product_facts", "publish",
    "publish_pass", "refresh_live", "run_scheduled_pass", "send_offers", "send_products",
    "set_attribute_mapping", "set_category_mapping", "set_override", "set_value_mapping", "statuses",
    "unmanaged_default",
]
