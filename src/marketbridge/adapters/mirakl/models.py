"""Pydantic v2 models of what Mirakl sends us (tolerant) and what we send it (strict), on the two
bases of :mod:`.base`, which says why each is tolerant or strict."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from marketbridge.adapters.mirakl.base import MiraklModel, RequestModel
from marketbridge.adapters.mirakl.order_fields import DeliveryDate, InvoiceDetails, ShippingFrom


# ============================================================================ orders (OR11)
class Address(MiraklModel):
    firstname: str | None = None
    lastname: str | None = None
    company: str | None = None
    street_1: str | None = None
    street_2: str | None = None
    zip_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    country_iso_code: str | None = None
    phone: str | None = None
    civility: str | None = None
    additional_info: str | None = None


class Customer(MiraklModel):
    customer_id: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    civility: str | None = None
    locale: str | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None


class TaxAmount(MiraklModel):
    code: str
    amount: float
    rate: float | None = None
    tax_calculation_rule: str | None = None


class LineRefund(MiraklModel):
    id: str
    order_refund_id: str | None = None
    amount: float | None = None
    shipping_amount: float | None = None
    quantity: int | None = None
    reason_code: str | None = None
    refund_state: str | None = None
    state: str | None = None
    taxes: list[TaxAmount] = Field(default_factory=list)
    shipping_taxes: list[TaxAmount] = Field(default_factory=list)
    created_date: datetime | None = None
    transaction_date: datetime | None = None

    @property
    def status(self) -> str | None:
        return self.refund_state or self.state


class LineCancelation(MiraklModel):
    id: str
    amount: float | None = None
    shipping_amount: float | None = None
    quantity: int | None = None
    reason_code: str | None = None
    created_date: datetime | None = None


class OrderLine(MiraklModel):
    order_line_id: str
    order_line_index: int | None = None
    order_line_state: str
    order_line_state_reason_code: str | None = None
    offer_id: int | None = None
    offer_sku: str
    product_sku: str | None = None
    product_title: str | None = None
    category_code: str | None = None
    quantity: int
    price_unit: float | None = None
    price: float
    shipping_price: float = 0.0
    total_price: float
    taxes: list[TaxAmount] = Field(default_factory=list)
    shipping_taxes: list[TaxAmount] = Field(default_factory=list)
    # "whether the order line full amount can be refunded": the marketplace decides (None: not sent)
    can_refund: bool | None = None
    shipping_from: ShippingFrom | None = None
    refunds: list[LineRefund] = Field(default_factory=list)
    cancelations: list[LineCancelation] = Field(default_factory=list)
    created_date: datetime | None = None
    total_commission: float | None = None  # the finance report reads it (OR11 and OR15 send it)
    last_updated_date: datetime | None = None
    shipped_date: datetime | None = None
    received_date: datetime | None = None


class Order(MiraklModel):
    order_id: str
    commercial_id: str | None = None
    order_state: str
    order_state_reason_code: str | None = None
    created_date: datetime
    last_updated_date: datetime
    acceptance_decision_date: datetime | None = None
    customer_debited_date: datetime | None = None
    shipping_deadline: datetime | None = None
    leadtime_to_ship: int | None = None
    currency_iso_code: str
    price: float
    shipping_price: float = 0.0
    total_price: float
    order_tax_mode: str | None = None
    payment_workflow: str | None = None
    customer: Customer | None = None
    shipping_type_code: str | None = None
    shipping_carrier_code: str | None = None
    shipping_company: str | None = None
    shipping_tracking: str | None = None
    shipping_tracking_url: str | None = None
    can_cancel: bool | None = None  # "if the order can be cancelled" (OR29), as the marketplace decides
    can_shop_ship: bool = False
    has_incident: bool = False
    has_invoice: bool | None = None
    fully_refunded: bool = False
    total_commission: float | None = None  # the finance report reads it (OR11 and OR15 send it)
    delivery_date: DeliveryDate | None = None
    shipping_pudo_id: str | None = None  # click and collect: the PickUp DropOff point
    customer_directly_pays_seller: bool | None = None
    invoice_details: InvoiceDetails | None = None
    order_lines: list[OrderLine]


class OrderPage(MiraklModel):
    orders: list[Order]
    total_count: int


# ============================================================================ order writes
class AcceptLine(RequestModel):
    id: str = Field(min_length=1)
    accepted: bool


class AcceptOrderRequest(RequestModel):
    """OR21 body: a decision for **every** line of the order."""

    order_lines: list[AcceptLine] = Field(min_length=1)


class TrackingRequest(RequestModel):
    """OR23 body. A registered carrier is sent by ``carrier_code`` (from SH21); free text
    (``carrier_name``) is for carriers the marketplace does not know."""

    carrier_code: str | None = None
    carrier_name: str | None = None
    carrier_standard_code: str | None = None
    carrier_url: str | None = None
    tracking_number: str | None = None

    @model_validator(mode="after")
    def _carrier_given(self) -> TrackingRequest:
        if not self.carrier_code and not self.carrier_name:
            raise ValueError("carrier_code (registered carrier) or carrier_name (unregistered) is required")
        return self


class TaxLine(RequestModel):
    code: str
    amount: float = Field(ge=0)


class FeeLine(RequestModel):
    code: str
    amount: float = Field(ge=0)


class RefundLineRequest(RequestModel):
    order_line_id: str = Field(min_length=1)
    amount: float = Field(ge=0)
    shipping_amount: float = Field(ge=0)
    reason_code: str = Field(min_length=1)
    quantity: int | None = Field(default=None, ge=0)
    currency_iso_code: str | None = None
    taxes: list[TaxLine] | None = None
    shipping_taxes: list[TaxLine] | None = None
    fees: list[FeeLine] | None = None
    excluded_from_shipment: bool | None = None
    tax_legal_notice: str | None = None


class RefundRequest(RequestModel):
    """OR28 body."""

    order_tax_mode: Literal["TAX_INCLUDED", "TAX_EXCLUDED"] | None = None
    refunds: list[RefundLineRequest] = Field(min_length=1)


class CancelLineRequest(RequestModel):
    order_line_id: str = Field(min_length=1)
    amount: float = Field(ge=0)
    shipping_amount: float = Field(ge=0)
    quantity: int = Field(ge=0)
    reason_code: str = Field(min_length=1)
    currency_iso_code: str | None = None
    taxes: list[TaxLine] | None = None
    shipping_taxes: list[TaxLine] | None = None
    fees: list[FeeLine] | None = None


class CancelLinesRequest(RequestModel):
    """OR30 body."""

    order_tax_mode: Literal["TAX_INCLUDED", "TAX_EXCLUDED"] | None = None
    cancelations: list[CancelLineRequest] = Field(min_length=1)


class CreatedRefund(MiraklModel):
    refund_id: str
    order_refund_id: str | None = None
    order_line_id: str
    amount: float
    shipping_amount: float = 0.0
    quantity: int | None = None
    reason_code: str | None = None
    taxes: list[TaxAmount] = Field(default_factory=list)
    shipping_taxes: list[TaxAmount] = Field(default_factory=list)


class RefundResponse(MiraklModel):
    order_tax_mode: str | None = None
    refunds: list[CreatedRefund]


class CreatedCancelation(MiraklModel):
    cancelation_id: str
    order_line_id: str
    amount: float
    shipping_amount: float = 0.0
    quantity: int | None = None
    reason_code: str | None = None


class CancelationResponse(MiraklModel):
    order_tax_mode: str | None = None
    cancelations: list[CreatedCancelation]


# ============================================================================ shipments (ST*)
class ShipmentTrackingRequest(RequestModel):
    carrier_code: str | None = None
    carrier_name: str | None = None
    carrier_standard_code: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


class ShipmentLineRequest(RequestModel):
    order_line_id: str | None = None
    offer_sku: str | None = None  # deprecated by Mirakl; prefer order_line_id
    quantity: int = Field(ge=1)
    package_reference: str | None = None


class WarehouseRef(RequestModel):
    code: str


class ShippingFromRequest(RequestModel):
    warehouse: WarehouseRef | None = None


class AdditionalInfo(RequestModel):
    code: str
    type: str
    value: Any


class ShipmentRequest(RequestModel):
    order_id: str = Field(min_length=1)
    shipment_lines: list[ShipmentLineRequest] = Field(min_length=1)
    tracking: ShipmentTrackingRequest | None = None
    shipped: bool | None = None
    invoice_reference: str | None = Field(default=None, max_length=255, pattern=r"^[0-9a-zA-Z_-]*$")
    shipping_from: ShippingFromRequest | None = None
    shipment_additional_information: list[AdditionalInfo] | None = None


class CreateShipmentsRequest(RequestModel):
    """ST01 body (at most 1000 shipments)."""

    shipments: list[ShipmentRequest] = Field(min_length=1, max_length=1000)


class ShipmentTrackingUpdate(RequestModel):
    id: str
    tracking: ShipmentTrackingRequest


class UpdateShipmentTrackingRequest(RequestModel):
    """ST23 body (at most 1000 shipments)."""

    shipments: list[ShipmentTrackingUpdate] = Field(min_length=1, max_length=1000)


class ShipmentId(RequestModel):
    id: str


class ShipShipmentsRequest(RequestModel):
    """ST24 body."""

    shipments: list[ShipmentId] = Field(min_length=1, max_length=1000)


class ShipmentTracking(MiraklModel):
    carrier_code: str | None = None
    carrier_name: str | None = None
    carrier_standard_code: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


class ShipmentLine(MiraklModel):
    order_line_id: str | None = None
    offer_sku: str | None = None
    quantity: int
    package_reference: str | None = None


class Shipment(MiraklModel):
    id: str
    order_id: str
    status: str
    status_customer_debit: str | None = None
    created_date: datetime | None = None
    last_updated_date: datetime | None = None
    shipped_date: datetime | None = None
    shipment_lines: list[ShipmentLine] = Field(default_factory=list)
    tracking: ShipmentTracking | None = None
    invoice_reference: str | None = None


class ShipmentError(MiraklModel):
    order_id: str | None = None
    id: str | None = None
    message: str | None = None


class CreateShipmentsResponse(MiraklModel):
    shipment_success: list[Shipment] = Field(default_factory=list)
    shipment_errors: list[ShipmentError] = Field(default_factory=list)


class ShipmentIdResult(MiraklModel):
    id: str


class ShipmentBatchResponse(MiraklModel):
    shipment_success: list[ShipmentIdResult] = Field(default_factory=list)
    shipment_errors: list[ShipmentError] = Field(default_factory=list)


class ItemToShipLine(MiraklModel):
    order_line_id: str
    offer_sku: str | None = None
    quantity: int
    product_title: str | None = None
    package_reference: str | None = None


class ItemToShip(MiraklModel):
    order_id: str
    shipment_lines: list[ItemToShipLine] = Field(default_factory=list)
    shipping_deadline: datetime | None = None
    shipping_type_code: str | None = None
    shipping_address: Address | None = None


class ItemsToShipPage(MiraklModel):
    """ST12 (seek-paginated)."""

    data: list[ItemToShip]
    next_page_token: str | None = None
    previous_page_token: str | None = None


# ============================================================================ offers
class ProductReference(MiraklModel):
    reference: str
    reference_type: str


class OfferVolumePrice(MiraklModel):
    quantity_threshold: int = 1
    unit_origin_price: Decimal | None = None
    unit_discount_price: Decimal | None = None


class OfferPriceContext(MiraklModel):
    channel_codes: list[str] = Field(default_factory=list)
    customer_group_ids: list[str] = Field(default_factory=list)
    customer_organization_ids: list[str] = Field(default_factory=list)
    start_date: str | None = None
    end_date: str | None = None


class OfferPrice(MiraklModel):
    """One OF21 ``all_prices`` entry: a price line of the offer (default, or for a channel, a
    period, customers), with its discount and volume prices (``OF21.response.200.json``)."""

    channel_code: str | None = None
    context: OfferPriceContext | None = None
    unit_origin_price: Decimal | None = None
    unit_discount_price: Decimal | None = None
    discount_start_date: str | None = None
    discount_end_date: str | None = None
    volume_prices: list[OfferVolumePrice] = Field(default_factory=list)


class Offer(MiraklModel):
    offer_id: int
    shop_sku: str
    product_sku: str | None = None
    product_title: str | None = None
    product_references: list[ProductReference] = Field(default_factory=list)
    category_code: str | None = None
    state_code: str | None = None
    quantity: int
    price: float | None = None
    total_price: float | None = None
    active: bool
    inactivity_reasons: list[str] = Field(default_factory=list)
    leadtime_to_ship: int | None = None
    currency_iso_code: str | None = None
    description: str | None = None
    all_prices: list[OfferPrice] = Field(default_factory=list)


class OfferPage(MiraklModel):
    offers: list[Offer]
    total_count: int


class OfferUpsert(MiraklModel):
    """One OF24 offer. **Replace semantics**: every field you leave out is reset to its default
    (quantity 0, description and discount deleted...). Never use OF24 for stock or price alone."""

    shop_sku: str
    product_id: str
    product_id_type: str
    price: float
    state_code: str
    update_delete: str = ""
    quantity: int | None = None
    description: str | None = None
    internal_description: str | None = None
    leadtime_to_ship: int | None = None
    logistic_class: str | None = None
    min_quantity_alert: int | None = None
    min_order_quantity: int | None = None
    max_order_quantity: int | None = None
    package_quantity: int | None = None
    price_additional_info: str | None = None
    available_started: datetime | None = None
    available_ended: datetime | None = None
    allow_quote_requests: bool | None = None
    product_tax_code: str | None = None
    discount: dict[str, Any] | None = None
    all_prices: list[dict[str, Any]] | None = None
    offer_additional_fields: list[dict[str, Any]] | None = None
    eco_contributions: list[dict[str, Any]] | None = None


class OfferUpsertRequest(MiraklModel):
    offers: list[OfferUpsert]


class ImportCreated(MiraklModel):
    """OF01 / OF24 / STO01 / PRI01 / P41 answer. PRI01 also sends the deprecated ``importId``."""

    import_id: str | None = None
    importId: str | None = None  # noqa: N815 - Mirakl's spelling

    @property
    def id(self) -> str:
        value = self.import_id or self.importId
        if not value:
            raise ValueError("the import answer carries no import id")
        return value


class OfferImportStatus(MiraklModel):
    """OF02."""

    import_id: str
    status: str
    date_created: datetime | None = None
    reason_status: str | None = None
    mode: str | None = None
    lines_read: int = 0
    lines_in_success: int = 0
    lines_in_error: int = 0
    lines_in_pending: int = 0
    offer_inserted: int = 0
    offer_updated: int = 0
    offer_deleted: int = 0
    has_error_report: bool = False


class OfferImportPage(MiraklModel):
    """OF04 (seek-paginated import history)."""

    data: list[OfferImportStatus]
    next_page_token: str | None = None
    previous_page_token: str | None = None


class StockImportStatus(MiraklModel):
    """STO02."""

    import_id: str
    status: str
    date_created: datetime | None = None
    lines_in_success: int = 0
    lines_in_error: int = 0
    has_error_report: bool = False


class PriceImportStatus(MiraklModel):
    """One PRI02 entry."""

    import_id: str
    status: str
    date_created: datetime | None = None
    reason_status: str | None = None
    lines_in_success: int = 0
    lines_in_error: int = 0
    offers_in_error: int = 0
    offers_updated: int = 0
    has_error_report: bool = False


class PriceImportPage(MiraklModel):
    data: list[PriceImportStatus]
    next_page_token: str | None = None
    previous_page_token: str | None = None


class ProductImportStatus(MiraklModel):
    """P42 (and P51 entries)."""

    import_id: str
    import_status: str
    date_created: datetime | None = None
    reason_status: str | None = None
    has_error_report: bool = False
    has_new_product_report: bool = False
    has_transformed_file: bool = False
    has_transformation_error_report: bool = False
    transform_lines_read: int = 0
    transform_lines_in_success: int = 0
    transform_lines_in_error: int = 0

    @property
    def status(self) -> str:
        return self.import_status


class ProductImportPage(MiraklModel):
    """P51."""

    product_import_trackings: list[ProductImportStatus] = Field(default_factory=list)
    total_count: int = 0


class OfferExportRequest(RequestModel):
    """OF52 body. Without ``last_request_date`` the export is full (at most once a day)."""

    export_type: Literal["text/csv", "application/json"] = "application/json"
    last_request_date: datetime | None = None
    include_inactive_offers: bool | None = None
    items_per_chunk: int | None = Field(default=None, ge=1)
    megabytes_per_chunk: int | None = Field(default=None, ge=1)
    include_fields: list[str] | None = None
    channel_codes: list[str] | None = None


class ExportStarted(MiraklModel):
    tracking_id: str


class ExportError(MiraklModel):
    code: str | None = None
    detail: str | None = None


class ExportStatus(MiraklModel):
    """OF53."""

    status: str
    last_updated: datetime | None = None
    urls: list[str] = Field(default_factory=list)
    error: ExportError | None = None


class OrderExportRequest(RequestModel):
    """OR13 body: at least one date range (creation, or last update), each start with its end.

    With an update-date range the export is *differential* (at most every 5 minutes); without one
    it is *full* (at most every 24 hours as well). ``items_per_chunk`` and ``megabytes_per_chunk``
    bound each file; the spec's minimums (10,000 items, 10 MB) are Mirakl's to enforce, since test
    environments may lower them, so only the maximums are checked here.
    """

    start_date: datetime | None = None
    end_date: datetime | None = None
    start_update_date: datetime | None = None
    end_update_date: datetime | None = None
    order_state_codes: list[str] | None = Field(default=None, max_length=100)
    channel_codes: list[str] | None = Field(default=None, max_length=100)
    only_null_channel: bool | None = None
    fulfillment_center_codes: str | None = Field(default=None, max_length=100)
    items_per_chunk: int | None = Field(default=None, ge=1, le=1_000_000)
    megabytes_per_chunk: int | None = Field(default=None, ge=1, le=1024)
    order_tax_mode: Literal["TAX_INCLUDED", "TAX_EXCLUDED"] | None = None

    @model_validator(mode="after")
    def _date_ranges(self) -> OrderExportRequest:
        for start, end in (("start_date", "end_date"), ("start_update_date", "end_update_date")):
            low, high = getattr(self, start), getattr(self, end)
            if (low is None) != (high is None):
                raise ValueError(f"{start} must be used with {end}")
            if low is not None and high is not None and low > high:
                raise ValueError(f"{start} is after {end}")
        if self.start_date is None and self.start_update_date is None:
            raise ValueError("OR13 needs a creation or a last-update date range")
        return self

    @property
    def full(self) -> bool:
        """No update-date range: a full export (once a day), not a differential one."""
        return self.start_update_date is None


class OrderExportStatus(MiraklModel):
    """OR14: PENDING, then COMPLETED with ``urls`` (one per file), or FAILED / CANCELED."""

    status: str
    last_updated: datetime | None = None
    urls: list[str] = Field(default_factory=list)


class OrderExportFile(MiraklModel):
    """OR15: one file of the export, ``{"orders": [...]}``, each an OR11 order."""

    orders: list[Order]


# ============================================================================ reference data
class Carrier(MiraklModel):
    code: str
    label: str
    standard_code: str | None = None
    tracking_url: str | None = None


class CarrierList(MiraklModel):
    carriers: list[Carrier]


class ShippingType(MiraklModel):
    code: str
    label: str
    description: str | None = None
    standard_code: str | None = None
    click_and_collect: bool = False
    delivery_by_operator: bool = False
    mandatory_tracking: bool = False


class ShippingTypeList(MiraklModel):
    shipping_types: list[ShippingType] = Field(default_factory=list)


class Reason(MiraklModel):
    code: str
    label: str
    type: str
    is_shop_right: bool


class ReasonList(MiraklModel):
    reasons: list[Reason]
    total_count: int | None = None


class Translation(MiraklModel):
    locale: str | None = None
    value: str | None = None


class Attribute(MiraklModel):
    code: str
    label: str | None = None
    description: str | None = None
    hierarchy_code: str | None = None
    type: str
    type_parameter: str | None = None
    values_list: str | None = None
    requirement_level: str | None = None
    required: bool | None = None
    variant: bool = False
    validations: str | None = None

    @property
    def is_required(self) -> bool:
        return self.requirement_level == "REQUIRED" or bool(self.required)

    @property
    def max_length(self) -> int | None:
        for rule in (self.validations or "").split(","):
            if rule.startswith("MAX_LENGTH|"):
                try:
                    return int(rule.split("|", 1)[1])
                except ValueError:
                    return None
        return None


class AttributeList(MiraklModel):
    attributes: list[Attribute]


class Hierarchy(MiraklModel):
    code: str
    label: str | None = None
    level: int
    parent_code: str | None = None
    label_translations: list[Translation] = Field(default_factory=list)


class HierarchyList(MiraklModel):
    hierarchies: list[Hierarchy]


class Value(MiraklModel):
    code: str
    label: str | None = None


class ValueList(MiraklModel):
    code: str
    label: str | None = None
    values: list[Value] = Field(default_factory=list)


class ValueListList(MiraklModel):
    values_lists: list[ValueList] = Field(default_factory=list)


class ShopShipping(MiraklModel):
    lead_time_to_ship: int | None = None


class Account(MiraklModel):
    """A01."""

    shop_id: int
    shop_name: str
    shop_state: str
    currency_iso_code: str
    is_professional: bool | None = None
    model: str | None = None
    shipping: ShopShipping | None = None
    offers_count: int | None = None
    orders_count: int | None = None
    channels: list[str] = Field(default_factory=list)


class ErrorBody(MiraklModel):
    """Classic and structured Mirakl error bodies (MIRAKL.md §2.4)."""

    status: int | None = None
    message: str | None = None
    code: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


def unreadable_fields(error: Exception) -> str:
    """Why a payload could not be read, by field name, never by value: pydantic's own message
    quotes each value it refused, and an OR11 order carries the customer's name and address."""
    if isinstance(error, ValidationError):
        fields = sorted({".".join(str(part) for part in e["loc"]) for e in error.errors()})
        return "fields not readable: " + ", ".join(fields[:12])
    return type(error).__name__
