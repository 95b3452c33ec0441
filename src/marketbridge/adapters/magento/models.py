"""Pydantic models of the Adobe Commerce payloads the flows use.

Two kinds, on purpose:

* **read models** (``extra="allow"``, lax types) accept what Magento really sends: ids and
  quantities that arrive as strings (``"3.000000"``), ``null`` where the schema says string,
  ``[]`` where an object was expected (PHP's empty array), unknown fields of newer versions;
* **request models** (``extra="forbid"``) are what we send; a typo in a field name is a bug we
  want to see in tests, not a field Magento silently ignores.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


class ReadModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, by_alias=True)


def _empty_list_to_dict(value: Any) -> Any:
    """PHP serialises an empty associative array as ``[]``."""
    return {} if value == [] else value


def _php_object(value: Any) -> Any:
    """``[]`` or ``null`` where Magento means an empty object."""
    return {} if value in ([], None) else value


T = TypeVar("T")


class SearchResult(ReadModel, Generic[T]):
    items: list[T] = Field(default_factory=list)
    total_count: int = 0
    search_criteria: dict[str, Any] = Field(default_factory=dict)


# ------------------------------------------------------------------ catalogue
class CustomAttribute(ReadModel):
    attribute_code: str
    value: Any = None


class StockItem(ReadModel):
    item_id: int | None = None
    product_id: int | None = None
    stock_id: int | None = None
    qty: float | None = None
    is_in_stock: bool = False
    manage_stock: bool = True
    min_qty: float = 0.0


class ConfigurableOptionValue(ReadModel):
    value_index: int


class ConfigurableOption(ReadModel):
    id: int | None = None
    attribute_id: str
    label: str | None = None
    position: int | None = None
    values: list[ConfigurableOptionValue] = Field(default_factory=list)
    product_id: int | None = None


class BundleLink(ReadModel):
    id: str | None = None
    sku: str
    option_id: int | None = None
    qty: float = 1.0
    position: int | None = None
    is_default: bool = False
    price: float = 0.0
    price_type: int | None = None
    can_change_quantity: int | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return None if value is None else str(value)


class BundleOption(ReadModel):
    option_id: int
    title: str | None = None
    required: bool = False
    type: str | None = None
    position: int | None = None
    sku: str | None = None
    product_links: list[BundleLink] = Field(default_factory=list)


class CustomOptionValue(ReadModel):
    title: str
    option_type_id: int | None = None
    price: float = 0.0
    sku: str | None = None


class CustomOption(ReadModel):
    product_sku: str | None = None
    option_id: int | None = None
    title: str
    type: str
    is_require: bool = False
    price: float | None = None
    price_type: str | None = None
    max_characters: int | None = None
    values: list[CustomOptionValue] = Field(default_factory=list)


class ProductExtension(ReadModel):
    website_ids: list[int] = Field(default_factory=list)
    stock_item: StockItem | None = None
    configurable_product_options: list[ConfigurableOption] = Field(default_factory=list)
    configurable_product_links: list[int] = Field(default_factory=list)
    bundle_product_options: list[BundleOption] = Field(default_factory=list)


class Product(ReadModel):
    id: int | None = None
    sku: str
    name: str | None = None
    type_id: str = "simple"
    price: float | None = None
    status: int = 1
    visibility: int | None = None
    weight: float | None = None
    created_at: str | None = None
    updated_at: str | None = None
    extension_attributes: Annotated[ProductExtension, BeforeValidator(_php_object)] = Field(
        default_factory=ProductExtension
    )
    options: list[CustomOption] = Field(default_factory=list)
    custom_attributes: list[CustomAttribute] = Field(default_factory=list)

    def attribute(self, code: str, default: Any = None) -> Any:
        for item in self.custom_attributes:
            if item.attribute_code == code:
                return item.value
        return default

    @property
    def enabled(self) -> bool:
        return self.status == 1

    @property
    def special_price(self) -> Decimal | None:
        """The ``special_price`` custom attribute (Magento sends it as text, ``"15.0000"``) as the
        exact decimal, never a float; ``None`` when absent or not a number."""
        value = self.attribute("special_price")
        if value in (None, "") or isinstance(value, bool | list | dict):
            return None
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return amount if amount.is_finite() else None

    @property
    def has_required_options(self) -> bool:
        return any(o.is_require for o in self.options)


# ------------------------------------------------------------------ inventory
class SourceItem(ReadModel):
    sku: str
    source_code: str
    quantity: float = 0.0
    status: int = 0


class StockSalableQty(ReadModel):
    """A row of ``export-stock-salable-qty``: salable quantity as ``get-product-salable-quantity``
    computes it (reservations and ``min_qty`` included); 0 for unmanaged stock and for products
    with no source item on the stock's sources."""

    sku: str
    qty: float = 0.0
    is_salable: bool = False


class Source(ReadModel):
    source_code: str
    name: str | None = None
    enabled: bool = True
    country_id: str | None = None
    postcode: str | None = None


class SalesChannel(ReadModel):
    type: str
    code: str


class StockExtension(ReadModel):
    sales_channels: list[SalesChannel] = Field(default_factory=list)


class Stock(ReadModel):
    stock_id: int
    name: str | None = None
    extension_attributes: Annotated[StockExtension, BeforeValidator(_php_object)] = Field(
        default_factory=StockExtension
    )


class StockSourceLink(ReadModel):
    stock_id: int
    source_code: str
    priority: int | None = None


class SourceItemRef(RequestModel):
    """A (sku, source) pair, as ``POST /V1/inventory/source-items-delete`` takes it."""

    sku: str
    source_code: str


class SourceItemInput(RequestModel):
    sku: str
    source_code: str
    quantity: float
    status: int = Field(ge=0, le=1)


# ------------------------------------------------------------------ sales
class OrderAddress(ReadModel):
    entity_id: int | None = None
    address_type: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    company: str | None = None
    street: list[str] = Field(default_factory=list)
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country_id: str | None = None
    telephone: str | None = None
    email: str | None = None


class OrderItem(ReadModel):
    item_id: int
    order_id: int | None = None
    parent_item_id: int | None = None
    sku: str
    name: str | None = None
    product_id: int | None = None
    product_type: str | None = None
    price: float = 0.0
    row_total: float = 0.0
    tax_amount: float = 0.0
    qty_ordered: float = 0.0
    qty_invoiced: float = 0.0
    qty_shipped: float = 0.0
    qty_refunded: float = 0.0
    qty_canceled: float = 0.0
    ext_order_item_id: str | None = None
    product_option: Annotated[dict[str, Any] | None, BeforeValidator(_empty_list_to_dict)] = None


class OrderPayment(ReadModel):
    method: str
    amount_ordered: float | None = None
    amount_paid: float | None = None
    amount_refunded: float | None = None
    additional_information: list[Any] = Field(default_factory=list)


class StatusHistory(ReadModel):
    entity_id: int | None = None
    parent_id: int | None = None
    comment: str | None = None
    status: str | None = None
    created_at: str | None = None
    is_customer_notified: int | None = None
    is_visible_on_front: int | None = None


class Shipping(ReadModel):
    address: OrderAddress | None = None
    method: str | None = None


class ShippingAssignment(ReadModel):
    shipping: Shipping = Field(default_factory=Shipping)
    items: list[OrderItem] = Field(default_factory=list)
    stock_id: int | None = None


class OrderExtension(ReadModel):
    shipping_assignments: list[ShippingAssignment] = Field(default_factory=list)


class Order(ReadModel):
    entity_id: int
    increment_id: str
    state: str | None = None
    status: str | None = None
    store_id: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    customer_email: str | None = None
    ext_order_id: str | None = None
    order_currency_code: str | None = None
    grand_total: float = 0.0
    subtotal: float = 0.0
    shipping_amount: float = 0.0
    tax_amount: float = 0.0
    total_paid: float | None = None
    total_invoiced: float | None = None
    total_refunded: float | None = None
    total_due: float | None = None
    items: list[OrderItem] = Field(default_factory=list)
    billing_address: OrderAddress | None = None
    payment: OrderPayment | None = None
    status_histories: list[StatusHistory] = Field(default_factory=list)
    extension_attributes: Annotated[OrderExtension, BeforeValidator(_php_object)] = Field(
        default_factory=OrderExtension
    )

    @property
    def shipping_address(self) -> OrderAddress | None:
        """Magento keeps it in ``extension_attributes.shipping_assignments[0].shipping.address``."""
        for assignment in self.extension_attributes.shipping_assignments:
            if assignment.shipping.address is not None:
                return assignment.shipping.address
        return None

    def top_level_items(self) -> list[OrderItem]:
        return [i for i in self.items if i.parent_item_id is None]


class DocumentItem(ReadModel):
    entity_id: int | None = None
    parent_id: int | None = None
    order_item_id: int
    sku: str | None = None
    name: str | None = None
    qty: float = 0.0
    price: float | None = None
    row_total: float | None = None
    tax_amount: float | None = None
    product_id: int | None = None


class DocumentComment(ReadModel):
    entity_id: int | None = None
    comment: str | None = None
    created_at: str | None = None


class Invoice(ReadModel):
    entity_id: int
    increment_id: str | None = None
    order_id: int
    state: int | None = None
    grand_total: float | None = None
    subtotal: float | None = None
    shipping_amount: float | None = None
    total_qty: float | None = None
    created_at: str | None = None
    items: list[DocumentItem] = Field(default_factory=list)


class ShipmentTrack(ReadModel):
    entity_id: int | None = None
    parent_id: int | None = None
    order_id: int | None = None
    track_number: str
    title: str | None = None
    carrier_code: str | None = None
    created_at: str | None = None


class ShipmentExtension(ReadModel):
    source_code: str | None = None


class Shipment(ReadModel):
    entity_id: int
    increment_id: str | None = None
    order_id: int
    store_id: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    total_qty: float | None = None
    items: list[DocumentItem] = Field(default_factory=list)
    tracks: list[ShipmentTrack] = Field(default_factory=list)
    comments: list[DocumentComment] = Field(default_factory=list)
    extension_attributes: Annotated[ShipmentExtension, BeforeValidator(_php_object)] = Field(
        default_factory=ShipmentExtension
    )


class Creditmemo(ReadModel):
    entity_id: int
    increment_id: str | None = None
    order_id: int
    invoice_id: int | None = None
    state: int | None = None
    grand_total: float = 0.0
    subtotal: float = 0.0
    shipping_amount: float = 0.0
    tax_amount: float = 0.0
    adjustment: float | None = None
    adjustment_positive: float = 0.0
    adjustment_negative: float = 0.0
    order_currency_code: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    items: list[DocumentItem] = Field(default_factory=list)
    comments: list[DocumentComment] = Field(default_factory=list)


class CartItem(ReadModel):
    item_id: int
    sku: str
    qty: float
    name: str | None = None
    price: float | None = None
    product_type: str | None = None
    quote_id: str | None = None


class Totals(ReadModel):
    grand_total: float | None = None
    subtotal: float | None = None
    shipping_amount: float | None = None
    tax_amount: float | None = None
    base_currency_code: str | None = None


class PaymentMethodInfo(ReadModel):
    code: str
    title: str | None = None


class ShippingMethod(ReadModel):
    """A row of ``estimate-shipping-methods`` (``quote-data-shipping-method-interface``)."""

    carrier_code: str
    method_code: str | None = None
    carrier_title: str | None = None
    method_title: str | None = None
    amount: float | None = None
    available: bool = True
    error_message: str | None = None


class CheckoutOptions(ReadModel):
    """What a store offers a test cart: shipping rates for an address and payment methods."""

    shipping_methods: list[ShippingMethod] = Field(default_factory=list)
    payment_methods: list[PaymentMethodInfo] = Field(default_factory=list)


class PaymentDetails(ReadModel):
    payment_methods: list[PaymentMethodInfo] = Field(default_factory=list)
    totals: Totals = Field(default_factory=Totals)


# ------------------------------------------------------------------ requests
class Address(RequestModel):
    firstname: str
    lastname: str
    street: list[str]
    city: str
    postcode: str
    country_id: str
    telephone: str
    email: str | None = None
    company: str | None = None
    region: str | None = None
    region_code: str | None = None
    region_id: int | None = None


class ConfigurableItemOption(RequestModel):
    option_id: str
    option_value: int


class BundleSelection(RequestModel):
    option_id: int
    option_qty: float = 1
    option_selections: list[int]


class CustomOptionValueInput(RequestModel):
    option_id: str
    option_value: str


class ProductOptionExtension(RequestModel):
    configurable_item_options: list[ConfigurableItemOption] | None = None
    bundle_options: list[BundleSelection] | None = None
    custom_options: list[CustomOptionValueInput] | None = None


class ProductOption(RequestModel):
    extension_attributes: ProductOptionExtension


class CartItemInput(RequestModel):
    sku: str
    qty: float = Field(gt=0)
    quote_id: str
    product_option: ProductOption | None = None
    extension_attributes: dict[str, Any] | None = None


class CartLine(RequestModel):
    """One line to buy: a simple SKU, a configurable parent + options, a bundle + selections."""

    sku: str
    qty: float = Field(gt=0)
    configurable_options: dict[str, int] | None = None  # attribute id -> option value id
    bundle_selections: list[BundleSelection] | None = None
    custom_options: dict[str, str] | None = None  # option id -> value

    def product_option(self) -> ProductOption | None:
        ext = ProductOptionExtension(
            configurable_item_options=[
                ConfigurableItemOption(option_id=str(k), option_value=v)
                for k, v in self.configurable_options.items()
            ]
            if self.configurable_options
            else None,
            bundle_options=self.bundle_selections,
            custom_options=[
                CustomOptionValueInput(option_id=str(k), option_value=v)
                for k, v in self.custom_options.items()
            ]
            if self.custom_options
            else None,
        )
        if (
            ext.configurable_item_options is None
            and ext.bundle_options is None
            and ext.custom_options is None
        ):
            return None
        return ProductOption(extension_attributes=ext)


class AddressInformation(RequestModel):
    shipping_address: Address
    billing_address: Address
    shipping_carrier_code: str
    shipping_method_code: str


class PaymentMethod(RequestModel):
    method: str
    po_number: str | None = None


class DocumentItemInput(RequestModel):
    order_item_id: int
    qty: float = Field(gt=0)


class TrackInput(RequestModel):
    track_number: str = Field(min_length=1)
    title: str
    carrier_code: str


class CommentInput(RequestModel):
    comment: str
    is_visible_on_front: int | None = None


class ShipArgumentsExtension(RequestModel):
    source_code: str | None = None


class ShipArguments(RequestModel):
    extension_attributes: ShipArgumentsExtension


class ShipRequest(RequestModel):
    items: list[DocumentItemInput] | None = None
    notify: bool = False
    appendComment: bool | None = None
    comment: CommentInput | None = None
    tracks: list[TrackInput] | None = None
    arguments: ShipArguments | None = None


class InvoiceRequest(RequestModel):
    capture: bool = True
    items: list[DocumentItemInput] | None = None
    notify: bool = False
    appendComment: bool | None = None
    comment: CommentInput | None = None


class RefundArgumentsExtension(RequestModel):
    return_to_stock_items: list[int] | None = None


class RefundArguments(RequestModel):
    shipping_amount: float | None = Field(default=None, ge=0)
    adjustment_positive: float | None = Field(default=None, ge=0)
    adjustment_negative: float | None = Field(default=None, ge=0)
    extension_attributes: RefundArgumentsExtension | None = None


class RefundRequest(RequestModel):
    items: list[DocumentItemInput] | None = None
    notify: bool = False
    appendComment: bool | None = None
    comment: CommentInput | None = None
    arguments: RefundArguments | None = None
    isOnline: bool | None = None


class TrackEntity(RequestModel):
    order_id: int
    parent_id: int
    track_number: str = Field(min_length=1)
    title: str
    carrier_code: str
    weight: float | None = None
    qty: float | None = None
    description: str | None = None

    def payload(self) -> dict[str, Any]:
        """The schema marks weight/qty/description required: always send them (null when unknown)."""
        return self.model_dump(by_alias=True)


class StatusHistoryInput(RequestModel):
    comment: str
    is_customer_notified: int = 0
    is_visible_on_front: int = 0
    parent_id: int | None = None
    status: str | None = None


class OrderItemInput(RequestModel):
    sku: str
    name: str
    qty_ordered: float = Field(gt=0)
    price: float
    base_price: float | None = None
    row_total: float | None = None
    base_row_total: float | None = None
    product_id: int | None = None
    product_type: str = "simple"
    store_id: int | None = None
    ext_order_item_id: str | None = None


class OrderAddressInput(RequestModel):
    address_type: str
    firstname: str
    lastname: str
    street: list[str]
    city: str
    postcode: str
    country_id: str
    telephone: str
    email: str | None = None
    company: str | None = None
    region: str | None = None


class OrderPaymentInput(RequestModel):
    """The schema marks ``account_status``, ``cc_last4`` and ``additional_information`` required;
    Magento's own order-creation tests send them empty, so they go out as null / [] explicitly."""

    method: str
    amount_ordered: float | None = None
    additional_information: list[str] = Field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {**super().payload(), "account_status": None, "cc_last4": None}


class OrderShippingInput(RequestModel):
    address: OrderAddressInput
    method: str | None = None


class OrderShippingAssignmentInput(RequestModel):
    shipping: OrderShippingInput
    items: list[OrderItemInput] = Field(default_factory=list)


class OrderExtensionInput(RequestModel):
    shipping_assignments: list[OrderShippingAssignmentInput] | None = None


class OrderEntity(RequestModel):
    """Body of ``POST /V1/orders`` for a direct (reservation-less) order save."""

    customer_email: str
    customer_firstname: str | None = None
    customer_lastname: str | None = None
    customer_is_guest: int = 1
    base_currency_code: str = "GBP"
    order_currency_code: str = "GBP"
    global_currency_code: str = "GBP"
    store_currency_code: str = "GBP"
    base_grand_total: float
    grand_total: float
    subtotal: float | None = None
    base_subtotal: float | None = None
    shipping_amount: float | None = None
    base_shipping_amount: float | None = None
    shipping_description: str | None = None
    total_due: float | None = None
    base_total_due: float | None = None
    state: str = "new"
    status: str = "pending"
    store_id: int = 1
    ext_order_id: str | None = None
    increment_id: str | None = None
    billing_address: OrderAddressInput
    items: list[OrderItemInput] = Field(min_length=1)
    payment: OrderPaymentInput
    extension_attributes: OrderExtensionInput | None = None

    def payload(self) -> dict[str, Any]:
        body = super().payload()
        body["payment"] = self.payment.payload()
        return body


__all__ = [
    name
    for name in dir()
    if name[0].isupper()
    and name not in ("Any", "Annotated", "BeforeValidator", "Generic", "TypeVar", "BaseModel")
]
