"""Instance data the Mirakl simulator serves: carriers, shipping methods, reasons, categories,
attributes and value lists, and the shop account.

John Lewis's real instance data is not public (MIRAKL.md §12): these are realistic UK values.
Carrier tracking URLs are templates with ``{trackingId}`` as SH21 documents; categories follow
``marketbridge.sandbox.catalogue.CATEGORIES`` so that seeded products have a valid hierarchy.
"""

from __future__ import annotations

from typing import Any

from marketbridge.sandbox.catalogue import CATEGORIES, COLOURS, SIZES

CARRIERS: list[dict[str, str]] = [
    {"code": "APC", "label": "APC Overnight", "standard_code": "APC",
     "tracking_url": "https://apc-overnight.com/receiving-a-parcel/tracking?ref={trackingId}"},
    {"code": "DHL", "label": "DHL UK", "standard_code": "DHL",
     "tracking_url": "https://www.dhl.com/gb-en/home/tracking.html?tracking-id={trackingId}"},
    {"code": "DPD", "label": "DPD UK", "standard_code": "DPD",
     "tracking_url": "https://track.dpd.co.uk/parcels/{trackingId}"},
    {"code": "DX", "label": "DX Delivery", "standard_code": "DX",
     "tracking_url": "https://www.dxdelivery.com/consumer/my-tracking/{trackingId}"},
    {"code": "EVRI", "label": "Evri (Hermes)", "standard_code": "HERMES",
     "tracking_url": "https://www.evri.com/track/parcel/{trackingId}"},
    {"code": "FEDEX", "label": "FedEx", "standard_code": "FEDEX",
     "tracking_url": "https://www.fedex.com/fedextrack/?trknbr={trackingId}"},
    {"code": "PARCELFORCE", "label": "Parcelforce Worldwide", "standard_code": "PARCELFORCE",
     "tracking_url": "https://www.parcelforce.com/track-trace?trackNumber={trackingId}"},
    {"code": "ROYAL_MAIL", "label": "Royal Mail", "standard_code": "ROYAL_MAIL",
     "tracking_url": "https://www.royalmail.com/track-your-item#/tracking-results/{trackingId}"},
    {"code": "UPS", "label": "UPS", "standard_code": "UPS",
     "tracking_url": "https://www.ups.com/track?tracknum={trackingId}"},
    {"code": "YODEL", "label": "Yodel", "standard_code": "YODEL",
     "tracking_url": "https://www.yodel.co.uk/tracking/{trackingId}"},
]
CARRIERS.sort(key=lambda c: c["label"])  # SH21 returns carriers sorted by label

SHIPPING_TYPES: list[dict[str, Any]] = [
    {"code": "STD", "label": "Standard", "description": "Standard delivery (3-5 working days)",
     "standard_code": "CU_ADD-STD", "click_and_collect": False, "delivery_by_operator": False,
     "mandatory_tracking": True, "ignore_lead_time_to_ship": False},
    {"code": "NXD", "label": "Next day", "description": "Next working day, ordered before 8 pm",
     "standard_code": "CU_ADD-NEXT_DAY", "click_and_collect": False, "delivery_by_operator": False,
     "mandatory_tracking": True, "ignore_lead_time_to_ship": False},
    {"code": "LRG", "label": "Large item", "description": "Two-person delivery for large items",
     "standard_code": "CU_ADD-STD", "click_and_collect": False, "delivery_by_operator": False,
     "mandatory_tracking": False, "ignore_lead_time_to_ship": False},
]
SHIPPING_TYPE_BY_CODE = {t["code"]: t for t in SHIPPING_TYPES}

REASONS: list[dict[str, Any]] = [
    {"code": "1", "label": "Item not received", "type": "INCIDENT_OPEN", "is_shop_right": False},
    {"code": "2", "label": "Item damaged", "type": "INCIDENT_OPEN", "is_shop_right": False},
    {"code": "10", "label": "Replacement item sent", "type": "INCIDENT_CLOSE", "is_shop_right": True},
    {"code": "15", "label": "Out of stock", "type": "REFUND", "is_shop_right": True},
    {"code": "16", "label": "Item returned by the customer", "type": "REFUND", "is_shop_right": True},
    {"code": "17", "label": "Item damaged in transit", "type": "REFUND", "is_shop_right": True},
    {"code": "18", "label": "Goodwill gesture", "type": "REFUND", "is_shop_right": True},
    {"code": "19", "label": "Refund requested by the operator", "type": "REFUND", "is_shop_right": False},
    {"code": "34", "label": "Cancelled by the client prior to shipping", "type": "CANCELATION",
     "is_shop_right": True},
    {"code": "35", "label": "Out of stock", "type": "CANCELATION", "is_shop_right": True},
]
REASON_BY_CODE = {r["code"]: r for r in REASONS}


def _slug(code: str) -> str:
    return code.replace("/", "-")


def hierarchies() -> list[dict[str, Any]]:
    """Two levels: departments (``home``) and the leaf categories of the seed catalogue."""
    departments: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for code, _label in CATEGORIES:
        parent = code.split("/")[0]
        if parent not in departments:
            departments[parent] = parent.capitalize()
            rows.append({"code": parent, "label": departments[parent], "level": 1, "parent_code": "",
                         "label_translations": [{"locale": "en_GB", "value": departments[parent]}]})
    for code, label in CATEGORIES:
        rows.append({"code": code, "label": label, "level": 2, "parent_code": code.split("/")[0],
                     "label_translations": [{"locale": "en_GB", "value": label}]})
    return rows


CATEGORY_CODES = {code for code, _ in CATEGORIES}
CATEGORY_LABELS = dict(CATEGORIES)


def _attribute(code: str, label: str, type_: str, level: str, *, max_length: int | None = None,
               values_list: str | None = None, hierarchy_code: str = "", description: str = "",
               variant: bool = False, validations: str | None = None) -> dict[str, Any]:
    checks = []
    if max_length is not None:
        checks.append(f"MAX_LENGTH|{max_length}")
    if validations:
        checks.append(validations)
    row: dict[str, Any] = {
        "code": code, "label": label, "description": description or label,
        "hierarchy_code": hierarchy_code, "type": type_,
        "type_parameter": values_list or "", "values_list": values_list or "",
        "type_parameters": [{"name": "LIST_CODE", "value": values_list}] if values_list else [],
        "requirement_level": level, "required": level == "REQUIRED", "variant": variant,
        "roles": [], "label_translations": [{"locale": "en_GB", "value": label}],
        "description_translations": [{"locale": "en_GB", "value": description or label}],
    }
    if checks:
        row["validations"] = ",".join(checks)
    return row


ATTRIBUTES: list[dict[str, Any]] = [
    _attribute("category", "Category", "TEXT", "REQUIRED", description="Leaf category code (H11)"),
    _attribute("shop_sku", "Seller product SKU", "TEXT", "REQUIRED", max_length=40,
               description="Unique product identifier in the seller's catalogue"),
    _attribute("title", "Title", "TEXT", "REQUIRED", max_length=150),
    _attribute("description", "Description", "LONG_TEXT", "REQUIRED", max_length=5000),
    _attribute("brand", "Brand", "TEXT", "REQUIRED", max_length=60),
    _attribute("ean", "EAN", "TEXT", "REQUIRED", validations="REGEXP|^[0-9]{13}$"),
    _attribute("main_image", "Main image", "MEDIA", "REQUIRED", max_length=2000),
    _attribute("color", "Colour", "LIST", "RECOMMENDED", values_list="colours", variant=True),
    _attribute("size", "Size", "LIST", "OPTIONAL", values_list="sizes", variant=True,
               hierarchy_code="fashion"),
    _attribute("weight_kg", "Weight (kg)", "DECIMAL", "OPTIONAL"),
]
ATTRIBUTE_BY_CODE = {a["code"]: a for a in ATTRIBUTES}


def values_lists() -> list[dict[str, Any]]:
    def entries(values: list[str]) -> list[dict[str, Any]]:
        return [{"code": v.upper(), "label": v, "label_translations": [{"locale": "en_GB", "value": v}]}
                for v in values]

    return [
        {"code": "colours", "label": "Colours", "label_translations": [{"locale": "en_GB", "value": "Colours"}],
         "values": entries(COLOURS)},
        {"code": "sizes", "label": "Sizes", "label_translations": [{"locale": "en_GB", "value": "Sizes"}],
         "values": entries(SIZES)},
    ]


def account(shop_id: int, *, offers_count: int, orders_count: int, now_iso: str) -> dict[str, Any]:
    """A01 body: the shop as the operator sees it (GBP, open, UK address)."""
    return {
        "shop_id": shop_id,
        "shop_name": "Marketbridge Home",
        "shop_state": "OPEN",
        "currency_iso_code": "GBP",
        "date_created": "2026-01-05T09:00:00Z",
        "last_updated_date": now_iso,
        "description": "Homeware and fashion, fulfilled from our own warehouse.",
        "channels": ["JL_WEB"],
        "domains": ["PRODUCT"],
        "is_professional": True,
        "premium": False,
        "free_shipping": False,
        "model": "MARKETPLACE",
        "approval_delay": 3600,
        "approval_rate": 0.99,
        "evaluations_count": 0,
        "grade": 0,
        "offers_count": offers_count,
        "orders_count": orders_count,
        "payment_method_mandatory": False,
        "shipping": {"lead_time_to_ship": 2},
        "shipping_country": "GBR",
        "shipping_types": [t["code"] for t in SHIPPING_TYPES],
        "shipping_zones": ["UK"],
        "shippings": [
            {"shipping_type_code": t["code"], "shipping_type_label": t["label"],
             "shipping_zone_code": "UK", "shipping_zone_label": "United Kingdom"}
            for t in SHIPPING_TYPES
        ],
        "shop_additional_fields": [],
        "applicable_taxes": [{"code": "VAT", "label": "UK VAT", "fee_types": ["COMMISSION"]}],
        "billing_info": {"bank_name": "Sandbox Bank", "owner": "Marketbridge Home Ltd"},
        "contact_informations": {
            "civility": "Mr", "firstname": "Sam", "lastname": "Seller", "email": "seller@example.invalid",
            "street1": "1 Warehouse Way", "city": "Milton Keynes", "zip_code": "MK1 1AA",
            "country": "GBR", "phone": "01908 000000",
        },
        "default_billing_information": {
            "id": "3f0c8e1e-8c1a-4d8e-9a55-000000002001",
            "default_language": "en_GB",
            "corporate_information": {"company_registration_name": "Marketbridge Home Ltd",
                                      "company_registration_number": "01234567"},
            "fiscal_information": {"tax_identification_country": "GBR", "tax_identification_number": "GB123456789"},
            "registration_address": {"street_1": "1 Warehouse Way", "city": "Milton Keynes",
                                     "zip_code": "MK1 1AA", "country_iso_code": "GBR"},
        },
        "payment_details": {"paid_balance": 0.0, "payable_balance": 0.0, "pending_balance": 0.0},
        "pro_details": {"corporate_name": "Marketbridge Home Ltd", "VAT_number": "GB123456789"},
    }
