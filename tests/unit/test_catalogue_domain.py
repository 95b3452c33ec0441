"""Pure catalogue rules: exclusions, mapping, pre-validation, SKU near misses, drift comparison."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    AuditRules,
    CatalogueProduct,
    DriftKind,
    MagentoRow,
    OfferRow,
    compare,
    csv_safe,
    exclusion_reason,
    find_near_misses,
    normalise_sku,
)

REFERENCE = catalogue_domain.reference_from_api(
    attributes=[
        {"code": "category", "label": "Category", "type": "TEXT", "requirement_level": "REQUIRED"},
        {"code": "shop_sku", "label": "Seller SKU", "type": "TEXT", "requirement_level": "REQUIRED",
         "validations": "MAX_LENGTH|40"},
        {"code": "title", "label": "Title", "type": "TEXT", "requirement_level": "REQUIRED",
         "validations": "MAX_LENGTH|20"},
        {"code": "ean", "label": "EAN", "type": "TEXT", "requirement_level": "REQUIRED",
         "validations": "REGEXP|^[0-9]{13}$"},
        {"code": "main_image", "label": "Main image", "type": "MEDIA", "requirement_level": "REQUIRED"},
        {"code": "color", "label": "Colour", "type": "LIST", "requirement_level": "RECOMMENDED",
         "values_list": "colours"},
        {"code": "size", "label": "Size", "type": "LIST", "requirement_level": "REQUIRED", "values_list": "sizes",
         "hierarchy_code": "fashion"},
        {"code": "weight_kg", "label": "Weight", "type": "DECIMAL", "requirement_level": "OPTIONAL"},
    ],
    hierarchies=[
        {"code": "home", "level": 1, "parent_code": ""},
        {"code": "home/lighting", "level": 2, "parent_code": "home"},
        {"code": "fashion", "level": 1, "parent_code": ""},
        {"code": "fashion/men", "level": 2, "parent_code": "fashion"},
    ],
    value_lists=[
        {"code": "colours", "values": [{"code": "RED", "label": "Red"}, {"code": "BLUE", "label": "Blue"}]},
        {"code": "sizes", "values": [{"code": "S", "label": "S"}, {"code": "M", "label": "M"}]},
    ],
)


def product(**overrides):
    base = {"sku": "MB-1", "name": "Lamp", "type_id": "simple", "enabled": True, "price": 10.0,
            "attributes": {"ean": "5012345678900", "image": "https://img.example/a.jpg",
                           "mb_category_code": "home/lighting", "weight": 1.5}}
    base.update(overrides)
    return CatalogueProduct(**base)


def problems_for(p: CatalogueProduct, categories=None, mappings=catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS):
    category = catalogue_domain.map_category(p, categories or {}, REFERENCE)
    row = catalogue_domain.normalise_list_values(catalogue_domain.map_product(p, mappings, category), REFERENCE)
    return row, catalogue_domain.validate(row, REFERENCE, sku=p.sku, raw_category=str(p.attributes.get("mb_category_code", "")),
                           price=p.price)


# ----------------------------------------------------------------------------- exclusions
def test_product_types_are_excluded_with_a_reason_unless_a_rule_says_otherwise():
    assert exclusion_reason(product()) is None
    assert "Virtual" in exclusion_reason(product(type_id="virtual"))
    assert "Downloadable" in exclusion_reason(product(type_id="downloadable"))
    assert "Downloadable" in exclusion_reason(product(type_id="downloadable"), "publish_as_simple")
    assert "children" in exclusion_reason(product(type_id="configurable"))
    assert "Bundles" in exclusion_reason(product(type_id="bundle"))
    assert exclusion_reason(product(type_id="bundle"), "publish_as_simple") is None
    assert "custom option" in exclusion_reason(product(has_required_options=True))
    assert exclusion_reason(product(has_required_options=True), "publish_as_simple") is None


def test_configurable_children_get_the_parent_as_variant_group():
    parent = product(sku="CFG-1", type_id="configurable", children=("CFG-1-RED", "CFG-1-BLUE"))
    groups = catalogue_domain.variant_groups([parent, product(sku="CFG-1-RED"), product(sku="OTHER")])
    assert groups == {"CFG-1-RED": "CFG-1", "CFG-1-BLUE": "CFG-1"}
    row = catalogue_domain.map_product(product(sku="CFG-1-RED"), catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS, "home/lighting", "CFG-1")
    assert row[catalogue_domain.VARIANT_GROUP_COLUMN] == "CFG-1"


# ----------------------------------------------------------------------------- mapping + validation
def test_a_complete_product_maps_and_validates_clean():
    row, problems = problems_for(product())
    assert problems == []
    assert row["shop_sku"] == "MB-1" and row["title"] == "Lamp" and row["main_image"].startswith("https://")
    assert row["category"] == "home/lighting" and row["weight_kg"] == "1.5"


def test_every_problem_is_listed_in_plain_english():
    p = product(name="A very long lamp title indeed", price=0.0,
                attributes={"ean": "12AB", "mb_category_code": "home/lighting", "weight": "heavy", "color": "Purple"})
    _, problems = problems_for(p)
    text = " | ".join(problems)
    assert "'Title' is 29 characters long; the limit is 20." in problems
    assert "'EAN' has the value '12AB', which is not in the expected format." in problems
    assert "It has no image; 'Main image' is required." in problems
    assert "'Weight' must be a number, not 'heavy'." in problems
    assert "Purple" in text and "Add a value mapping" in text
    assert "It has no price above zero in Adobe Commerce." in problems


def test_category_must_be_mapped_to_a_leaf_and_category_attributes_apply():
    _, problems = problems_for(product(attributes={**product().attributes, "mb_category_code": "Lamps & Lights"}))
    assert any("not mapped to a John Lewis category" in p for p in problems)
    row, problems = problems_for(product(attributes={**product().attributes, "mb_category_code": "Lamps & Lights"}),
                                 categories={"Lamps & Lights": "home/lighting"})
    assert problems == [] and row["category"] == "home/lighting"
    _, problems = problems_for(product(attributes={**product().attributes, "mb_category_code": "home"}))
    assert any("department" in p for p in problems)
    # size is required only under fashion
    _, problems = problems_for(product(attributes={**product().attributes, "mb_category_code": "fashion/men"}))
    assert "'Size' is required but empty." in problems


def test_value_maps_and_labels_turn_magento_values_into_value_list_codes():
    mappings = [m if m.attribute != "color" else catalogue_domain.AttributeMapping("color", "color", {"50": "RED"})
                for m in catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS]
    row, problems = problems_for(product(attributes={**product().attributes, "color": "50"}), mappings=mappings)
    assert row["color"] == "RED" and problems == []
    row, problems = problems_for(product(attributes={**product().attributes, "color": "blue"}))
    assert row["color"] == "BLUE" and problems == []


def test_constant_sources_and_unmapped_attributes():
    mappings = [*catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS, catalogue_domain.AttributeMapping("brand", "=Acme")]
    row = catalogue_domain.map_product(product(), mappings, "home/lighting")
    assert row["brand"] == "Acme"


# ----------------------------------------------------------------------------- SKU near misses
def test_normalise_sku():
    assert normalise_sku("  mb-000123 ") == normalise_sku("MB_000123") == "mb000123"


def test_near_misses_by_spaces_case_punctuation_and_ean():
    offers = {"MB-1 ": None, "mb-2": None, "MB.3": None, "ZZZ": "5012345678900", "NOPE": None}
    products = {"MB-1": None, "MB-2": None, "MB-3": None, "REAL-9": "5012345678900", "OTHER": None}
    found = {m.offer_sku: (m.magento_sku, m.reason) for m in find_near_misses(offers, products)}
    assert found["MB-1 "] == ("MB-1", "differs only by leading or trailing spaces")
    assert found["mb-2"] == ("MB-2", "differs only by upper/lower case")
    assert found["MB.3"][0] == "MB-3"
    assert found["ZZZ"] == ("REAL-9", "has the same EAN (5012345678900)")
    assert "NOPE" not in found


def test_ambiguous_near_miss_suggests_nothing():
    assert find_near_misses({"mb1": None}, {"MB-1": None, "MB_1": None}) == []


# ----------------------------------------------------------------------------- drift
def test_compare_reports_each_kind_once():
    magento = [
        MagentoRow("OK", True, 5, 10.0),
        MagentoRow("QTY", True, 5, 10.0),
        MagentoRow("PRICE", True, 5, 10.0),
        MagentoRow("INACTIVE", True, 5, 10.0),
        MagentoRow("MISSING", True, 5, 10.0),
        MagentoRow("SPACE", True, 5, 10.0),
        MagentoRow("LINKED", True, 5, 10.0),
        MagentoRow("DISABLED-NO-OFFER", False, 0, 10.0),
        MagentoRow("BUNDLE", True, 0, 10.0, publishable=False),
        MagentoRow("ZERO", True, 0, 10.0),
    ]
    offers = [
        OfferRow("OK", 5, 10.0),
        OfferRow("QTY", 7, 10.0),
        OfferRow("PRICE", 5, 12.5),
        OfferRow("INACTIVE", 5, 10.0, active=False, inactivity_reasons=("PRODUCT_STATUS_REJECTED",)),
        OfferRow("SPACE ", 5, 10.0),
        OfferRow("ORPHAN", 1, 1.0),
        OfferRow("linked-offer", 5, 10.0),
        OfferRow("ZERO", 0, 10.0, active=False, inactivity_reasons=("ZERO_QUANTITY",)),
    ]
    drifts = compare(magento, offers, AuditRules(links={"linked-offer": "LINKED"}))
    got = sorted((d.kind.value, d.magento_sku, d.offer_sku) for d in drifts)
    assert got == sorted([
        ("quantity_mismatch", "QTY", "QTY"),
        ("price_mismatch", "PRICE", "PRICE"),
        ("offer_inactive", "INACTIVE", "INACTIVE"),
        ("missing_on_marketplace", "MISSING", None),
        ("sku_format_mismatch", "SPACE", "SPACE "),
        ("offer_without_product", None, "ORPHAN"),
    ])
    inactive = next(d for d in drifts if d.kind is DriftKind.OFFER_INACTIVE)
    assert inactive.detail == "PRODUCT_STATUS_REJECTED"
    qty = next(d for d in drifts if d.kind is DriftKind.QUANTITY_MISMATCH)
    assert (qty.expected, qty.actual) == ("5", "7")
    assert catalogue_domain.count_by_kind(drifts)["sku_format_mismatch"] == 1


def seeded(n: int, per_kind: int, seed: int):
    """A catalogue of n SKUs with ``per_kind`` drifts of every kind; returns rows and the truth."""
    rng = random.Random(seed)
    magento, offers, truth = [], [], set()
    skus = [f"SKU-{i:06d}" for i in range(n)]
    kinds = list(DriftKind)
    chosen = rng.sample(range(n), per_kind * len(kinds))
    role = {index: kinds[k // per_kind] for k, index in enumerate(chosen)}
    for i, sku in enumerate(skus):
        qty, price = rng.randint(0, 50), round(rng.uniform(1, 500), 2)
        kind = role.get(i)
        if kind is DriftKind.OFFER_WITHOUT_PRODUCT:
            offers.append(OfferRow(f"GHOST-{i}", qty, price))
            truth.add((kind.value, None, f"GHOST-{i}"))
            continue
        magento.append(MagentoRow(sku, True, qty, price))
        if kind is DriftKind.MISSING_ON_MARKETPLACE:
            truth.add((kind.value, sku, None))
        elif kind is DriftKind.SKU_FORMAT_MISMATCH:
            offers.append(OfferRow(sku.lower() + " ", qty, price))
            truth.add((kind.value, sku, sku.lower() + " "))
        elif kind is DriftKind.QUANTITY_MISMATCH:
            offers.append(OfferRow(sku, qty + 1, price))
            truth.add((kind.value, sku, sku))
        elif kind is DriftKind.PRICE_MISMATCH:
            offers.append(OfferRow(sku, qty, round(price + 1, 2)))
            truth.add((kind.value, sku, sku))
        elif kind is DriftKind.OFFER_INACTIVE:
            offers.append(OfferRow(sku, qty, price, active=False, inactivity_reasons=("PRODUCT_DISABLED",)))
            truth.add((kind.value, sku, sku))
        else:
            offers.append(OfferRow(sku, qty, price, active=qty > 0, inactivity_reasons=() if qty else ("ZERO_QUANTITY",)))
    rng.shuffle(offers)
    return magento, offers, truth


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=60, max_value=600), per_kind=st.integers(min_value=0, max_value=8),
       seed=st.integers(min_value=0, max_value=10_000))
def test_compare_finds_exactly_the_seeded_drift(n, per_kind, seed):
    magento, offers, truth = seeded(n, per_kind, seed)
    found = {(d.kind.value, d.magento_sku, d.offer_sku) for d in compare(magento, offers)}
    assert found == truth


def test_csv_safe_defuses_formulas():
    assert csv_safe("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert csv_safe("+1") == "'+1" and csv_safe("-2") == "'-2" and csv_safe("@SUM") == "'@SUM"
    assert csv_safe("MB-1") == "MB-1" and csv_safe(None) == ""


# ----------------------------------------------------------------------------- money
def test_a_mapped_price_keeps_every_digit():
    """A price mapped to an attribute is the decimal Magento sent, not a float's ``:g`` (which
    printed 12999.99 as 13000)."""
    from decimal import Decimal

    mappings = (catalogue_domain.AttributeMapping("price_attr", "price"),)
    for price, text in ((Decimal("12999.99"), "12999.99"), (Decimal("20.0"), "20"), (Decimal("19.99"), "19.99")):
        assert catalogue_domain.map_product(product(price=price), mappings, None)["price_attr"] == text


def test_price_drift_is_decided_on_decimals():
    from decimal import Decimal

    magento = [MagentoRow("A", True, 1, Decimal("19.99")), MagentoRow("B", True, 1, Decimal("0.30"))]
    offers = [OfferRow("A", 1, Decimal("19.99")), OfferRow("B", 1, Decimal("0.31"))]
    drifts = compare(magento, offers, AuditRules())
    assert [(d.kind, d.magento_sku, d.expected, d.actual) for d in drifts] == [
        (DriftKind.PRICE_MISMATCH, "B", "0.30", "0.31")]
    # exactly half a penny apart is within the tolerance (0.005), a float could not say so reliably
    assert compare([MagentoRow("A", True, 1, Decimal("1.005"))], [OfferRow("A", 1, Decimal("1.00"))], AuditRules()) == []
