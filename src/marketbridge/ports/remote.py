"""Ports to the two remote systems: what the flows call on Adobe Commerce and on Mirakl."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from marketbridge.adapters.magento import models as magento_models
    from marketbridge.adapters.magento.criteria import SearchCriteria
    from marketbridge.adapters.mirakl import models as mirakl_models
    from marketbridge.adapters.mirakl.client import ImportLineError, ImportResult


class MagentoPort(Protocol):
    """What the flows call on Adobe Commerce (REST): products and stock, orders, shipments, credit
    memos. Implemented by :class:`marketbridge.adapters.magento.client.MagentoClient`."""

    def last_answer_time(self) -> datetime | None:
        """Magento's own clock (the HTTP ``Date`` header, UTC) at this thread's last answer, or
        None. Cursors on Magento timestamps use it instead of our clock.
        """
        ...

    def get_product(self, sku: str) -> magento_models.Product: ...

    def search_products(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Product]: ...

    def iterate_products(
        self,
        updated_since: datetime | str | None = None,
        *,
        page_size: int = 200,
        criteria: SearchCriteria | None = None,
    ) -> Iterator[magento_models.Product]: ...

    def configurable_children(self, sku: str) -> list[magento_models.Product]: ...

    def bundle_options(self, sku: str) -> list[magento_models.BundleOption]: ...

    def custom_options(self, sku: str) -> list[magento_models.CustomOption]: ...

    def source_items(
        self,
        skus: list[str] | None = None,
        *,
        source_code: str | None = None,
        chunk_size: int = 100,
        page_size: int = 300,
    ) -> list[magento_models.SourceItem]:
        """Source items for ``skus`` (``sku in (...)`` in chunks) or for every SKU."""
        ...

    def iterate_source_items(
        self, *, criteria: SearchCriteria | None = None, page_size: int = 300
    ) -> Iterator[magento_models.SourceItem]: ...

    def iterate_export_stock_salable_qty(
        self,
        sales_channel_type: str = "website",
        sales_channel_code: str = "base",
        *,
        criteria: SearchCriteria | None = None,
        page_size: int = 300,
        at_most: int | None = None,
    ) -> Iterator[magento_models.StockSalableQty]:
        """Every row, offset-paged in product ``entity_id`` order (the rows carry no id to keyset
        on), stopping on a short page: ``total_count`` cannot tell the end, it is the page's size.
        """
        ...

    def sources(self) -> list[magento_models.Source]: ...

    def stocks(self) -> list[magento_models.Stock]: ...

    def resolve_stock(self, sales_channel_type: str, sales_channel_code: str) -> magento_models.Stock:
        """The stock a sales channel (``website``, code) is assigned to (MSI's stock resolver)."""
        ...

    def stock_source_links(self, stock_id: int | None = None) -> list[magento_models.StockSourceLink]: ...

    def salable_quantity(self, sku: str, stock_id: int) -> float: ...

    def search_orders(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Order]: ...

    def iterate_orders(
        self,
        updated_since: datetime | str | None = None,
        *,
        after_entity_id: int | None = None,
        page_size: int = 100,
    ) -> Iterator[magento_models.Order]: ...

    def get_order(self, order_id: int) -> magento_models.Order: ...

    def find_order_by_ext_id(self, ext_order_id: str) -> magento_models.Order | None: ...

    def create_order_via_cart(
        self,
        lines: list[magento_models.CartLine],
        *,
        shipping_address: magento_models.Address,
        billing_address: magento_models.Address | None = None,
        email: str,
        carrier_code: str = "flatrate",
        method_code: str = "flatrate",
        payment_method: str = "checkmo",
        ext_order_id: str | None = None,
        customer_id: int | None = None,
        guest: bool = False,
    ) -> int:
        """Quote flow (reserves stock, Magento computes totals) → order entity id.

        The cart API cannot carry ``ext_order_id``; when given it is written right after placement
        with ``POST /V1/orders {"entity": {"entity_id", "increment_id", "ext_order_id"}}`` (the
        increment id must be resent or Magento generates a new one). If placement times out, the
        cart is re-read: an inactive cart with ``reserved_order_id`` means the order exists.
        """
        ...

    def trial_checkout(self, line: magento_models.CartLine,
                       address: magento_models.Address) -> magento_models.CheckoutOptions:
        """Shipping rates and payment methods a test cart is offered; places nothing."""
        ...

    def set_ext_order_id(self, order_id: int, ext_order_id: str) -> magento_models.Order: ...

    def create_order_direct(self, entity: magento_models.OrderEntity) -> magento_models.Order:
        """``POST /V1/orders``: stores the order as given (marketplace totals kept), **no** MSI reservation."""
        ...

    def cancel_order(self, order_id: int) -> bool: ...

    def add_order_comment(
        self,
        order_id: int,
        comment: str,
        *,
        status: str | None = None,
        notify: bool = False,
        visible_on_front: bool = False,
    ) -> bool: ...

    def invoice_order(
        self,
        order_id: int,
        capture: bool = True,
        *,
        items: list[magento_models.DocumentItemInput] | None = None,
        notify: bool = False,
    ) -> int: ...

    def search_shipments(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Shipment]: ...

    def iterate_shipments(
        self,
        *,
        after_entity_id: int | None = None,
        created_since: datetime | str | None = None,
        order_id: int | None = None,
        page_size: int = 100,
    ) -> Iterator[magento_models.Shipment]: ...

    def get_shipment(self, shipment_id: int) -> magento_models.Shipment: ...

    def search_creditmemos(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Creditmemo]: ...

    def iterate_creditmemos(
        self,
        *,
        after_entity_id: int | None = None,
        created_since: datetime | str | None = None,
        order_id: int | None = None,
        page_size: int = 100,
    ) -> Iterator[magento_models.Creditmemo]: ...

    def get_creditmemo(self, creditmemo_id: int) -> magento_models.Creditmemo: ...

    def refund_order(
        self,
        order_id: int,
        items: list[magento_models.DocumentItemInput] | None = None,
        shipping_amount: float | None = None,
        adjustment_positive: float = 0.0,
        adjustment_negative: float = 0.0,
        *,
        return_to_stock_items: list[int] | None = None,
        notify: bool = False,
        comment: str | None = None,
    ) -> int:
        """Offline credit memo. ``shipping_amount=None`` lets Magento refund the *remaining*
        shipping (its documented default, even for partial refunds): pass 0 to refund items only.
        """
        ...


class MiraklPort(Protocol):
    """What the flows call on Mirakl (seller API): orders, shipments, refunds, offers and their
    imports, reference data. Implemented by :class:`marketbridge.adapters.mirakl.client.MiraklClient`."""

    def iter_offset(self, code: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100,
                    on_total: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of an offset-paginated list (``max``/``offset``, ``total_count``; each page's
        total is passed to ``on_total`` once the page's items have been yielded).

        Only the first page counts against the API's call frequency: the follow-up pages belong
        to the same read (a decision documented in docs/api-notes.md, Mirakl section).
        """
        ...

    def list_orders(
        self,
        *,
        start_update_date: datetime | None = None,
        end_update_date: datetime | None = None,
        start_date: datetime | None = None,
        order_ids: Sequence[str] | None = None,
        order_state_codes: Sequence[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[mirakl_models.Order]:
        """OR11, every page. Poll by ``start_update_date`` (minus an overlap) and de-duplicate on
        ``(order_id, last_updated_date)``: Mirakl itself subtracts a safety delta.
        """
        ...

    def get_order(self, order_id: str) -> mirakl_models.Order:
        """One order through OR11 ``order_ids`` (OR12 is "no integration allowed")."""
        ...

    def start_order_export(self, request: mirakl_models.OrderExportRequest) -> str:
        """OR13 -> tracking id. Differential (update-date range) at most every 5 minutes; full (no
        update-date range) also at most once a day; one export at a time per shop."""
        ...

    def order_export_status(self, tracking_id: str) -> mirakl_models.OrderExportStatus:
        """OR14: PENDING, COMPLETED (with one URL per file), FAILED or CANCELED; every 2 s per export."""
        ...

    def download_order_export_chunk(self, url: str) -> bytes:
        """OR15: one URL returned by OR14, downloaded once; only URLs on the Mirakl instance."""
        ...

    def export_orders(self, request: mirakl_models.OrderExportRequest, *,
                      timeout: float = 3600.0) -> Iterator[mirakl_models.Order]:
        """OR13 + OR14 + OR15, for backfills and volume: every exported order as OR11's model."""
        ...

    def export_order_entries(self, request: mirakl_models.OrderExportRequest, *, timeout: float = 3600.0,
                             on_complete: Callable[[mirakl_models.OrderExportStatus], None] | None = None
                             ) -> Iterator[Any]:
        """The same export, each order as the raw JSON object (what ``iter_offset("OR11")`` yields),
        so an order that does not parse fails alone instead of its whole file. A generator: OR13
        leaves when iteration starts; OR13 refused for its pace raises ``RateLimited(api="OR13")``.
        ``on_complete`` gets OR14's COMPLETED status before the first download."""
        ...

    def accept_order(self, order_id: str, decisions: Mapping[str, bool] | mirakl_models.AcceptOrderRequest) -> None:
        """OR21: ``{order_line_id: accepted}`` for every line. Not retried on failure."""
        ...

    def update_tracking(self, order_id: str, tracking: mirakl_models.TrackingRequest) -> None:
        """OR23. Not retried on failure."""
        ...

    def ship_order(self, order_id: str) -> None:
        """OR24 (no body). Not retried on failure."""
        ...

    def refund(self, request: mirakl_models.RefundRequest) -> mirakl_models.RefundResponse:
        """OR28. Not retried on failure: a repeat could refund twice; re-read the order first."""
        ...

    def create_shipments(self, request: mirakl_models.CreateShipmentsRequest) -> mirakl_models.CreateShipmentsResponse:
        """ST01; per-shipment failures come back in ``shipment_errors`` with a 201."""
        ...

    def list_shipments(self, *, order_ids: Sequence[str] = (), states: Sequence[str] = (),
                       limit: int = 100) -> Iterator[mirakl_models.Shipment]:
        """ST11 (seek pagination; ``order_id`` and ``shipment_state_code`` are repeated parameters)."""
        ...

    def ship_shipments(self, shipment_ids: Sequence[str]) -> mirakl_models.ShipmentBatchResponse:
        """ST24; per-shipment failures come back in ``shipment_errors``."""
        ...

    def list_offers(self, *, sku: str | None = None, page_size: int = 100,
                    on_total: Callable[[int], None] | None = None) -> Iterator[mirakl_models.Offer]:
        """OF21 (meant for page views; use the OF52 export for a full sync). ``on_total`` hears each
        page's ``total_count``: OF21 pages by offset over a list sorted by price, so an offer whose
        price changes while the pages are read can move past the reader and be skipped; fewer
        distinct offers than the last total says that happened."""
        ...

    def start_offer_export(self, request: mirakl_models.OfferExportRequest | None = None) -> str:
        """OF52 -> tracking id. Differential (``last_request_date``) at most once a minute, full once a day."""
        ...

    def offer_export_status(self, tracking_id: str) -> mirakl_models.ExportStatus: ...

    def download_export_chunk(self, url: str) -> bytes:
        """OF54: GET one URL returned by OF53. Only URLs on the Mirakl instance itself are followed:
        the request carries the shop key, which must never go to another host.
        """
        ...

    def submit_stock(self, rows: Iterable[Mapping[str, Any]]) -> str:
        """STO01: rows of ``offer-sku``, ``quantity`` (+ ``warehouse-code``, ``update-delete``)."""
        ...

    def submit_prices(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
        """PRI01: rows of ``offer-sku``, ``price`` (+ discount columns). Replaces every price of each offer."""
        ...

    def submit_offers(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, mode: str = "NORMAL") -> str:
        """OF01 with only ``columns`` (NORMAL mode leaves absent columns untouched)."""
        ...

    def submit_products(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
        """P41 in the operator's format: one column per PM11 attribute code."""
        ...

    def offer_import_status(self, import_id: str) -> mirakl_models.OfferImportStatus: ...

    def product_import_status(self, import_id: str) -> mirakl_models.ProductImportStatus: ...

    def offer_error_report(self, import_id: str) -> list[ImportLineError]: ...

    def product_error_report(self, import_id: str) -> list[ImportLineError]: ...

    def new_product_report(self, import_id: str) -> list[dict[str, str]]:
        """P45: the products the operator integrated (``shop_sku`` and its messages), at COMPLETE."""
        ...

    def transformation_error_report(self, import_id: str) -> list[dict[str, str]]:
        """P47: the rows of a product import that failed the operator's transformation, as read."""
        ...

    def wait_for_import(self, api: str, import_id: str, *, timeout: float = 1800.0) -> Any:
        """Poll the status API (its own frequency limit paces the loop) until a terminal state."""
        ...

    def import_result(self, api: str, import_id: str, skus: Sequence[str], status: Any) -> ImportResult:
        """Combine a terminal status and the error report into per-SKU results."""
        ...

    def carriers(self) -> list[mirakl_models.Carrier]: ...

    def reasons(self, reason_type: str | None = None) -> list[mirakl_models.Reason]: ...

    def attributes(self, hierarchy: str | None = None) -> list[mirakl_models.Attribute]: ...

    def hierarchies(self, hierarchy: str | None = None, max_level: int | None = None) -> list[mirakl_models.Hierarchy]: ...

    def value_lists(self, code: str | None = None) -> list[mirakl_models.ValueList]: ...

    def account(self) -> mirakl_models.Account: ...
