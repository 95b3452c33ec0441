"""Pure rules of the catalogue flow (no I/O): which Magento products may be published, how their
attributes map to the marketplace's (PM11/H11/VL11), what is wrong with them in plain English,
how near-miss SKUs are spotted, and the drift comparison of the full audit.

Everything here takes plain values (dataclasses, dicts) and returns plain values, so the same
rules run in the publisher, the audit, the CLI and the benchmark.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marketbridge.domain.exceptions import ObjectType, Severity, Team, exception_type
from marketbridge.domain.money import canonical, to_money

# ----------------------------------------------------------------------------- exception types
PRODUCT_INVALID = exception_type(
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
PRODUCT_REJECTED = exception_type(
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
SKU_NEAR_MISS = exception_type(
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
OFFER_WITHOUT_PRODUCT = exception_type(
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
OFFER_INACTIVE = exception_type(
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


# ----------------------------------------------------------------------------- product types
class ListingStatus(enum.StrEnum):
    """Where a product stands on the marketplace, as the console shows it."""

    NEW = "new"  # known, not yet sent
    EXCLUDED = "excluded"  # never sent (virtual, bundle without a rule, ...), reason shown
    INVALID = "invalid"  # failed our pre-validation, problems shown
    PENDING = "pending"  # sent; waiting for the marketplace's import reports
    REJECTED = "rejected"  # the marketplace refused it, reasons shown
    INACTIVE = "inactive"  # offer exists but is not sellable (reasons shown)
    LIVE = "live"  # offer active on the marketplace


class OverrideAction(enum.StrEnum):
    """An explicit rule for a product excluded by default."""

    PUBLISH_AS_SIMPLE = "publish_as_simple"  # bundle / required custom options: sell as one plain offer


@dataclass(frozen=True)
class CatalogueProduct:
    """What the publisher needs of an Adobe Commerce product (built from the REST payload)."""

    sku: str
    name: str
    type_id: str
    enabled: bool
    price: Decimal | None  # read through str from Magento's JSON number: never a float
    attributes: Mapping[str, Any] = field(default_factory=dict)  # custom attributes + weight, image
    has_required_options: bool = False
    parent_sku: str | None = None  # configurable parent, when this is a child
    children: tuple[str, ...] = ()


NEVER_PUBLISHED = {
    "virtual": "Virtual products (no physical item to ship) are never sold on the marketplace.",
    "downloadable": "Downloadable products are never sold on the marketplace.",
    "grouped": "Grouped products are a display of other products; publish the products themselves.",
}


def exclusion_reason(product: CatalogueProduct, override: str | None = None) -> str | None:
    """Why ``product`` is not published as an offer, or ``None`` when it is.

    Configurable parents are not offers themselves: their children are, with the parent as variant
    group. Bundles and products with required custom options are excluded unless an explicit
    ``publish_as_simple`` rule says otherwise; virtual and downloadable products always are.
    """
    if product.type_id in NEVER_PUBLISHED:
        return NEVER_PUBLISHED[product.type_id]
    if product.type_id == "configurable":
        return "Configurable products are published through their children (one offer per variant)."
    if override == OverrideAction.PUBLISH_AS_SIMPLE:
        return None
    if product.type_id == "bundle":
        return ("Bundles are excluded by default: the marketplace cannot sell a product made of other products. "
                "Add a publish_as_simple rule to sell it as a single item.")
    if product.has_required_options:
        return ("This product has a required custom option (for example engraving text) that marketplace customers "
                "cannot fill in. Add a publish_as_simple rule to sell it without the option.")
    if product.type_id != "simple":
        return f"Products of type '{product.type_id}' are not published."
    return None


def variant_groups(products: Iterable[CatalogueProduct]) -> dict[str, str]:
    """Child SKU -> variant group code (the configurable parent's SKU)."""
    groups: dict[str, str] = {}
    for product in products:
        if product.type_id == "configurable":
            for child in product.children:
                groups[child] = product.sku
        elif product.parent_sku:
            groups.setdefault(product.sku, product.parent_sku)
    return groups


# ----------------------------------------------------------------------------- marketplace reference data
@dataclass(frozen=True)
class MarketAttribute:
    """A PM11 attribute, reduced to what validation needs."""

    code: str
    label: str
    type: str  # TEXT, LONG_TEXT, LIST, DECIMAL, INTEGER, MEDIA, ...
    requirement: str = "OPTIONAL"  # REQUIRED | RECOMMENDED | OPTIONAL | DISABLED
    hierarchy_code: str = ""  # "" = every category
    values_list: str | None = None
    validations: str = ""  # "MAX_LENGTH|150,REGEXP|^[0-9]{13}$"
    variant: bool = False

    def rule(self, name: str) -> str | None:
        for item in self.validations.split(","):
            if item.startswith(name + "|"):
                return item.split("|", 1)[1]
        return None


@dataclass(frozen=True)
class MarketReference:
    """PM11 attributes, H11 categories (code -> parent code) and VL11 value lists (code -> codes/labels)."""

    attributes: tuple[MarketAttribute, ...]
    categories: Mapping[str, str]  # code -> parent_code ("" for top level)
    leaf_categories: frozenset[str]
    value_lists: Mapping[str, Mapping[str, str]]  # list code -> {value code: label}

    def ancestors(self, category: str) -> list[str]:
        chain, seen = [], set()
        while category and category not in seen:
            seen.add(category)
            chain.append(category)
            category = self.categories.get(category, "")
        return chain

    def applies(self, attribute: MarketAttribute, category: str) -> bool:
        return not attribute.hierarchy_code or attribute.hierarchy_code in self.ancestors(category)


def reference_from_api(attributes: Sequence[Mapping[str, Any]], hierarchies: Sequence[Mapping[str, Any]],
                       value_lists: Sequence[Mapping[str, Any]]) -> MarketReference:
    """Build the reference from PM11 ``attributes``, H11 ``hierarchies`` and VL11 ``values_lists`` items."""
    attrs = tuple(
        MarketAttribute(
            code=str(a["code"]), label=str(a.get("label") or a["code"]), type=str(a.get("type") or "TEXT"),
            requirement=str(a.get("requirement_level") or ("REQUIRED" if a.get("required") else "OPTIONAL")),
            hierarchy_code=str(a.get("hierarchy_code") or ""),
            values_list=(str(a.get("values_list") or a.get("type_parameter") or "") or None),
            validations=str(a.get("validations") or ""), variant=bool(a.get("variant")),
        )
        for a in attributes
    )
    categories = {str(h["code"]): str(h.get("parent_code") or "") for h in hierarchies}
    parents = set(categories.values())
    leaves = frozenset(code for code in categories if code not in parents)
    lists = {str(v["code"]): {str(x["code"]): str(x.get("label") or x["code"]) for x in v.get("values") or []}
             for v in value_lists}
    return MarketReference(attrs, categories, leaves, lists)


# ----------------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class AttributeMapping:
    """Marketplace attribute <- Magento source.

    ``source`` is a Magento field (``sku``, ``name``, ``price``, ``weight``), a custom attribute code
    (``brand``, ``ean``, ``image``), or a constant written ``=value``. ``value_map`` turns Magento
    values (option ids, labels) into marketplace value codes.
    """

    attribute: str
    source: str
    value_map: Mapping[str, str] = field(default_factory=dict)


DEFAULT_ATTRIBUTE_MAPPINGS: tuple[AttributeMapping, ...] = (
    AttributeMapping("shop_sku", "sku"),
    AttributeMapping("title", "name"),
    AttributeMapping("description", "description"),
    AttributeMapping("brand", "brand"),
    AttributeMapping("ean", "ean"),
    AttributeMapping("main_image", "image"),
    AttributeMapping("color", "color"),
    AttributeMapping("size", "size"),
    AttributeMapping("weight_kg", "weight"),
)
CATEGORY_SOURCE = "mb_category_code"  # Magento attribute carrying the product's category code
VARIANT_GROUP_COLUMN = "variant_group_code"


def _source_value(product: CatalogueProduct, source: str) -> Any:
    if source.startswith("="):
        return source[1:]
    if source == "sku":
        return product.sku
    if source == "name":
        return product.name
    if source == "price":
        return product.price
    return product.attributes.get(source)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):  # a price: every digit (``:g`` below would print 12999.99 as 13000)
        return canonical(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value).strip()


def map_category(product: CatalogueProduct, category_map: Mapping[str, str], reference: MarketReference) -> str | None:
    """The marketplace category of ``product``: the mapping table first, else the Magento value itself
    when it is already a marketplace category code."""
    raw = _text(product.attributes.get(CATEGORY_SOURCE))
    if not raw:
        for category_id in product.attributes.get("category_ids") or []:
            if str(category_id) in category_map:
                return category_map[str(category_id)]
        return None
    if raw in category_map:
        return category_map[raw]
    if raw in reference.categories:
        return raw
    return None


def map_product(product: CatalogueProduct, mappings: Sequence[AttributeMapping], category: str | None,
                variant_group: str | None = None) -> dict[str, str]:
    """The P41 row (marketplace attribute code -> text) for ``product``."""
    row: dict[str, str] = {"category": category or ""}
    for mapping in mappings:
        value = _text(_source_value(product, mapping.source))
        row[mapping.attribute] = mapping.value_map.get(value, value)
    row.setdefault("shop_sku", product.sku)
    if variant_group:
        row[VARIANT_GROUP_COLUMN] = variant_group
    return row


# ----------------------------------------------------------------------------- pre-validation
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")
_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)


def validate(row: Mapping[str, str], reference: MarketReference, *, sku: str, raw_category: str = "",
             price: Decimal | None = None) -> list[str]:
    """Every problem with a mapped product row, one plain-English sentence each (empty = publishable)."""
    problems: list[str] = []
    category = row.get("category", "")
    if not category:
        where = f" ('{raw_category}')" if raw_category else ""
        problems.append(f"Its Adobe Commerce category{where} is not mapped to a John Lewis category. "
                        "Add a category mapping.")
    elif category not in reference.categories:
        problems.append(f"The category '{category}' does not exist on John Lewis.")
    elif reference.leaf_categories and category not in reference.leaf_categories:
        problems.append(f"The category '{category}' is a department, not a leaf category; map it to a sub-category.")
    if price is None or price <= 0:
        problems.append("It has no price above zero in Adobe Commerce.")
    for attribute in reference.attributes:
        if attribute.code == "category" or attribute.requirement == "DISABLED":
            continue
        if category and not reference.applies(attribute, category):
            continue
        value = (row.get(attribute.code) or "").strip()
        label = attribute.label
        if not value:
            if attribute.requirement == "REQUIRED":
                if attribute.type == "MEDIA":
                    problems.append(f"It has no image; '{label}' is required.")
                else:
                    problems.append(f"'{label}' is required but empty.")
            continue
        max_length = attribute.rule("MAX_LENGTH")
        if max_length and max_length.isdigit() and len(value) > int(max_length):
            problems.append(f"'{label}' is {len(value)} characters long; the limit is {max_length}.")
        min_length = attribute.rule("MIN_LENGTH")
        if min_length and min_length.isdigit() and len(value) < int(min_length):
            problems.append(f"'{label}' is {len(value)} characters long; at least {min_length} are needed.")
        pattern = attribute.rule("REGEXP")
        if pattern:
            try:
                if not re.fullmatch(pattern, value):
                    problems.append(f"'{label}' has the value '{value}', which is not in the expected format.")
            except re.error:
                pass  # the operator's pattern is not a Python regex; the marketplace will judge
        if attribute.type in ("DECIMAL", "NUMERIC") and not _NUMBER.match(value):
            problems.append(f"'{label}' must be a number, not '{value}'.")
        if attribute.type == "INTEGER" and not _INTEGER.match(value):
            problems.append(f"'{label}' must be a whole number, not '{value}'.")
        if attribute.type == "MEDIA" and not _URL.match(value):
            problems.append(f"'{label}' must be a web address of an image (http or https), not '{value}'.")
        if attribute.type == "LIST" and attribute.values_list:
            allowed = reference.value_lists.get(attribute.values_list)
            if allowed is not None and value not in allowed:
                problems.append(f"'{label}' has the value '{value}', which is not one of the allowed values "
                                f"({', '.join(sorted(allowed)[:12])}). Add a value mapping.")
    return problems


def normalise_list_values(row: dict[str, str], reference: MarketReference) -> dict[str, str]:
    """Accept a value list *label* (``Red``) or a code in another case (``red``) for the code (``RED``)."""
    for attribute in reference.attributes:
        if attribute.type != "LIST" or not attribute.values_list:
            continue
        value = (row.get(attribute.code) or "").strip()
        allowed = reference.value_lists.get(attribute.values_list) or {}
        if not value or value in allowed:
            continue
        folded = value.casefold()
        for code, label in allowed.items():
            if code.casefold() == folded or label.casefold() == folded:
                row[attribute.code] = code
                break
    return row


# ----------------------------------------------------------------------------- SKU integrity
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_sku(sku: str) -> str:
    """The comparison key for near misses: trimmed, case-folded, letters and digits only."""
    return _NON_ALNUM.sub("", sku.strip().casefold())


@dataclass(frozen=True)
class NearMiss:
    offer_sku: str
    magento_sku: str
    reason: str  # plain English: "differs only by spaces", "same EAN 5012345678900", ...


def near_miss_reason(offer_sku: str, magento_sku: str) -> str:
    if offer_sku.strip() == magento_sku:
        return "differs only by leading or trailing spaces"
    if offer_sku.casefold() == magento_sku.casefold():
        return "differs only by upper/lower case"
    if offer_sku.strip().casefold() == magento_sku.casefold():
        return "differs only by spaces and upper/lower case"
    return "differs only by spaces, case or punctuation"


def find_near_misses(unmatched_offers: Mapping[str, str | None], unmatched_products: Mapping[str, str | None]) -> list[NearMiss]:
    """Suggest links between offers and products that did not match exactly.

    Both arguments map SKU -> EAN (or ``None``). A normalised-SKU match wins over an EAN match; an
    ambiguous key (two products with the same normalised SKU) suggests nothing for it.
    """
    by_key: dict[str, list[str]] = {}
    by_ean: dict[str, list[str]] = {}
    for sku, ean in unmatched_products.items():
        by_key.setdefault(normalise_sku(sku), []).append(sku)
        if ean:
            by_ean.setdefault(str(ean).strip(), []).append(sku)
    found: list[NearMiss] = []
    for offer_sku, ean in unmatched_offers.items():
        key = normalise_sku(offer_sku)
        candidates = by_key.get(key) if key else None
        if candidates and len(candidates) == 1:
            found.append(NearMiss(offer_sku, candidates[0], near_miss_reason(offer_sku, candidates[0])))
            continue
        if ean:
            candidates = by_ean.get(str(ean).strip())
            if candidates and len(candidates) == 1:
                found.append(NearMiss(offer_sku, candidates[0], f"has the same EAN ({str(ean).strip()})"))
    return found


# ----------------------------------------------------------------------------- drift comparison
class DriftKind(enum.StrEnum):
    MISSING_ON_MARKETPLACE = "missing_on_marketplace"
    OFFER_WITHOUT_PRODUCT = "offer_without_product"
    QUANTITY_MISMATCH = "quantity_mismatch"
    PRICE_MISMATCH = "price_mismatch"
    OFFER_INACTIVE = "offer_inactive"
    SKU_FORMAT_MISMATCH = "sku_format_mismatch"


DRIFT_LABELS = {
    DriftKind.MISSING_ON_MARKETPLACE: "Missing on the marketplace",
    DriftKind.OFFER_WITHOUT_PRODUCT: "Offer with no Adobe Commerce product",
    DriftKind.QUANTITY_MISMATCH: "Quantity differs",
    DriftKind.PRICE_MISMATCH: "Price differs",
    DriftKind.OFFER_INACTIVE: "Offer inactive on the marketplace",
    DriftKind.SKU_FORMAT_MISMATCH: "SKU format differs",
}
NEEDS_A_PERSON = frozenset({DriftKind.OFFER_WITHOUT_PRODUCT, DriftKind.SKU_FORMAT_MISMATCH})
EXPECTED_INACTIVITY = frozenset({"ZERO_QUANTITY"})  # explained by the quantity, compared separately


@dataclass(frozen=True, slots=True)
class MagentoRow:
    """One Adobe Commerce product as the audit sees it, *after* the channel rules.

    ``quantity``/``price`` are what the marketplace should show (publishable quantity, channel
    price); ``publishable`` is False for products that should have no offer (excluded types).
    """

    sku: str
    enabled: bool
    quantity: int
    price: Decimal | None
    publishable: bool = True
    ean: str | None = None


@dataclass(frozen=True, slots=True)
class OfferRow:
    """One marketplace offer (OF52 export row or OF21 item)."""

    sku: str
    quantity: int
    price: Decimal | None
    active: bool = True
    inactivity_reasons: tuple[str, ...] = ()
    ean: str | None = None


@dataclass(frozen=True)
class AuditRules:
    links: Mapping[str, str] = field(default_factory=dict)  # confirmed offer SKU -> Magento SKU
    price_tolerance: Decimal = Decimal("0.005")  # money is compared to the penny


@dataclass(frozen=True, slots=True)
class Drift:
    kind: DriftKind
    magento_sku: str | None
    offer_sku: str | None
    expected: str = ""
    actual: str = ""
    detail: str = ""


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def compare(magento_rows: Iterable[MagentoRow], offer_rows: Iterable[OfferRow], rules: AuditRules = AuditRules()) -> list[Drift]:
    """Every difference between Adobe Commerce (the master) and the marketplace offers.

    One pass of dict joins, no I/O: O(n) for n SKUs. An offer matches a product by exact SKU, else
    through a confirmed link. Unmatched offers that are near misses of an unmatched product are
    reported once as ``sku_format_mismatch`` (not also as missing + orphan).
    """
    products = {row.sku: row for row in magento_rows}
    links = rules.links
    tolerance = rules.price_tolerance
    drifts: list[Drift] = []
    append = drifts.append
    matched: set[str] = set()
    orphans: dict[str, OfferRow] = {}
    for offer in offer_rows:
        sku = offer.sku
        product = products.get(sku)
        if product is None:
            linked = links.get(sku)
            product = products.get(linked) if linked is not None else None
        if product is None:
            orphans[sku] = offer
            continue
        matched.add(product.sku)
        if product.quantity != offer.quantity:
            append(Drift(DriftKind.QUANTITY_MISMATCH, product.sku, sku, str(product.quantity), str(offer.quantity)))
        if product.price is not None and (offer.price is None or abs(to_money(product.price) - to_money(offer.price)) > tolerance):
            append(Drift(DriftKind.PRICE_MISMATCH, product.sku, sku, _money(product.price), _money(offer.price)))
        if not offer.active and product.enabled:
            unexplained = [r for r in offer.inactivity_reasons if r not in EXPECTED_INACTIVITY]
            if unexplained or not offer.inactivity_reasons:
                reasons = ", ".join(unexplained) or "no reason given"
                append(Drift(DriftKind.OFFER_INACTIVE, product.sku, sku, "active", "inactive", reasons))
    unmatched_products = {
        sku: row for sku, row in products.items() if sku not in matched and row.publishable and row.enabled
    }
    near = find_near_misses({s: o.ean for s, o in orphans.items()},
                            {s: r.ean for s, r in unmatched_products.items()}) if orphans and unmatched_products else []
    paired_products: set[str] = set()
    for miss in near:
        if miss.magento_sku in paired_products:
            continue
        paired_products.add(miss.magento_sku)
        orphans.pop(miss.offer_sku, None)
        append(Drift(DriftKind.SKU_FORMAT_MISMATCH, miss.magento_sku, miss.offer_sku, miss.magento_sku,
                     miss.offer_sku, miss.reason))
    for sku in orphans:
        append(Drift(DriftKind.OFFER_WITHOUT_PRODUCT, None, sku, "", sku))
    for sku in unmatched_products:
        if sku not in paired_products:
            append(Drift(DriftKind.MISSING_ON_MARKETPLACE, sku, None, "offer", "none"))
    return drifts


def count_by_kind(drifts: Iterable[Drift]) -> dict[str, int]:
    counts = {kind.value: 0 for kind in DriftKind}
    for drift in drifts:
        counts[drift.kind.value] += 1
    return counts


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (``=HYPERLINK(...)`` from an offer SKU)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
