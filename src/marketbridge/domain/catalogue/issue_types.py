"""The catalogue flow's issue types: what ecommerce is told about products, offers and SKUs.
"""

from __future__ import annotations

from marketbridge.domain.issues import ObjectType, Severity, Team, issue_type

# ----------------------------------------------------------------------------- issue types
PRODUCT_INVALID = issue_type(
    "catalogue_product_invalid",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.PRODUCT,
    title="A product cannot be published: its data does not meet the marketplace's rules",
    meaning="Before sending a product to John Lewis, marketbridge checks it against the marketplace's "
    "attributes, categories and value lists. This product failed one or more checks (a required attribute "
    "is empty, a value is too long, a value is not in the allowed list, the image is missing or the "
    "category is not mapped), so it was not sent.",
    action="Fix each listed problem in Adobe Commerce (or add an attribute, value or category mapping with "
    "`marketbridge catalogue mapping ...`), then run `marketbridge catalogue publish --sku SKU`.",
)
PRODUCT_REJECTED = issue_type(
    "catalogue_product_rejected",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.PRODUCT,
    title="The marketplace rejected a product or its offer",
    meaning="The product passed our own checks but John Lewis's import report (product import P44/P47 or "
    "offer import OF03) rejected it, so it is not for sale on the marketplace.",
    action="Read the marketplace's reason in the message, correct the product in Adobe Commerce, then "
    "publish it again with `marketbridge catalogue publish --sku SKU`.",
)
SKU_NEAR_MISS = issue_type(
    "sku_near_miss",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.SKU,
    title="A marketplace offer SKU almost matches an Adobe Commerce SKU",
    meaning="SKUs must match exactly. This marketplace offer's SKU differs from an Adobe Commerce SKU only by "
    "spaces, letter case or punctuation, or the two share an EAN. Until a person confirms the link, stock, "
    "prices and orders for this offer are not matched to the product.",
    action="If they are the same item, confirm with `marketbridge skus link OFFER_SKU MAGENTO_SKU` (every flow "
    "then uses the link); otherwise correct the SKU on the marketplace.",
)
OFFER_WITHOUT_PRODUCT = issue_type(
    "audit_offer_without_product",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.SKU,
    title="An offer on the marketplace has no product in Adobe Commerce",
    meaning="The nightly audit found an offer on John Lewis whose SKU matches no Adobe Commerce product, not "
    "even approximately. Customers can still buy it, but marketbridge cannot fulfil, restock or reprice it.",
    action="Either delete the offer on the marketplace or create/rename the product in Adobe Commerce so the "
    "SKUs match exactly (or link them with `marketbridge skus link`).",
)
OFFER_INACTIVE = issue_type(
    "audit_offer_inactive",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.SKU,
    title="An offer is inactive on the marketplace although the product is for sale",
    meaning="The product is enabled in Adobe Commerce, but John Lewis shows the offer as inactive for a reason "
    "other than zero stock (the marketplace's inactivity reason is in the message, for example "
    "PRODUCT_STATUS_REJECTED or CATEGORY_UNAUTHORIZED_TO_SELL).",
    action="Resolve the marketplace's reason (often in the John Lewis back office); the exception clears on the "
    "next audit that sees the offer active.",
)
