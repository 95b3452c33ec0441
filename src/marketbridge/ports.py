"""Ports: what the flows need from Adobe Commerce, from Mirakl and from storage, as
``typing.Protocol`` classes.

Issue 18 (item 2). The services and workflows depend on these, not on the HTTP clients: each port
lists exactly the methods the flows call (nothing else of the adapters' surface), with the
adapters' signatures copied as they are. So

* a flow's dependency on a remote system is written down in one place, and grows only when a flow
  starts calling something new (add it here, and mypy checks the adapter still fits);
* :class:`marketbridge.runtime.Runtime` types ``magento`` / ``mirakl`` as these ports, so mypy
  proves :class:`~marketbridge.adapters.magento.client.MagentoClient` and
  :class:`~marketbridge.adapters.mirakl.client.MiraklClient` satisfy them (structurally: the
  adapters do not inherit from the ports);
* a unit test hands a flow an in-memory fake with only these methods, no HTTP and no sandbox.

The models named in the signatures are the adapters' pydantic models (the wire types): a port is
about who calls what, not a second set of types.

Storage ports, one flow at a time (the shipments flow first): :class:`ShipmentsStore` opens a unit
of work whose :class:`ShipmentsRepository` answers the flow's questions and takes its writes; the
SQLAlchemy implementation is :mod:`marketbridge.adapters.db.shipments` (wired by
:mod:`marketbridge.bootstrap`), and tests/unit/test_shipments_flow.py runs the flow's decisions on
in-memory fakes. The repository hands out the flow's own ``ShipmentOut`` records: the flow changes
them in place and the unit of work keeps the changes (SQLAlchemy's session, or the fake's dict).
The refunds flow follows the same pattern: :class:`RefundsStore` / :class:`RefundsRepository`,
implemented in :mod:`marketbridge.adapters.db.refunds`, with ``RefundOut`` / ``MarketplaceRefund``
records (tests/unit/test_refunds_flow.py on fakes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut, RefundReason
    from marketbridge.adapters.db.models.shipments import CarrierMapping, ShipmentOut
    from marketbridge.adapters.magento import models as magento_models
    from marketbridge.adapters.magento.criteria import SearchCriteria
    from marketbridge.adapters.mirakl import models as mirakl_models
    from marketbridge.adapters.mirakl.client import ImportLineError, ImportResult
    from marketbridge.domain import shipments as shipments_domain
    from marketbridge.domain.issues import IssueReport, IssueType


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
    ) -> Iterator[magento_models.StockSalableQty]:
        """Every row, offset-paged in product ``entity_id`` order (the rows carry no id to keyset
        on), stopping on a short page: ``total_count`` cannot tell the end, it is the page's size.
        """
        ...

    def sources(self) -> list[magento_models.Source]: ...

    def stocks(self) -> list[magento_models.Stock]: ...

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

    def iter_offset(self, code: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every item of an offset-paginated list (``max``/``offset``, ``total_count``).

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

    def list_offers(self, *, sku: str | None = None, page_size: int = 100) -> Iterator[mirakl_models.Offer]:
        """OF21 (meant for page views; use the OF52 export for a full sync)."""
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

    def submit_prices(self, rows: Iterable[Mapping[str, Any]]) -> str:
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


class IssueLog(Protocol):
    """What Ops sees of a flow, as the flow writes it inside its unit of work: the issue records
    (``issue_records``) and the activity log (``audit_log``). Implemented over a session by
    :class:`marketbridge.services.issues.SessionIssueLog`."""

    def record(self, report: IssueReport) -> None:
        """Open a record for ``report``, or update the active one for the same type and object."""
        ...

    def clear(self, type_: IssueType, object_id: str, *, by: str = "system") -> None:
        """Resolve the active record of this type on this object, if any: the condition is gone
        (``by`` the system, or a person who resolved it)."""
        ...

    def audit(self, actor: str, action: str, object_type: str = "", object_id: str = "", **detail: Any) -> None:
        """Write a person's action to the activity log."""
        ...

    def active_ids(self, type_: IssueType) -> list[str]:
        """The object ids of the active records of this type (one page, newest first)."""
        ...

    def resolved_by_a_person(self, type_: IssueType, object_id: str) -> bool:
        """A person (not the system) resolved a record of this type on this object: they want the
        object to go through as it is."""
        ...


class OrderRecords(Protocol):
    """What the shipments and refunds flows ask of the orders flow inside their unit of work.
    Implemented over a session by :class:`marketbridge.services.orders.record.SessionOrderRecords`."""

    def mark_shipped(self, order_id: str, *, carriers: list[str], tracking_numbers: list[str],
                     at: datetime) -> str | None:
        """Move the order record to shipped, with these facts. An order the orders flow does not
        know (made by hand in Magento) or cannot move (already refunded, closed) is left as it is:
        the reason is returned (None when it moved)."""
        ...

    def mark_refunded(self, order_id: str, *, connection: str, source: str) -> str | None:
        """Move the order record to refunded (the marketplace says the order is fully refunded); a
        transition the order state machine does not allow is skipped by it. An order the orders
        flow does not hold (imported before marketbridge, or by hand) is left alone: the reason is
        returned (None otherwise)."""
        ...


class SkuLinks(Protocol):
    """The person-confirmed SKU links (offer SKU -> Adobe Commerce SKU) as a flow reads them in its
    unit of work. Implemented over a session by :class:`marketbridge.services.skus.SessionSkuLinks`."""

    def magento_sku_for(self, offer_sku: str) -> str:
        """The SKU to use in Adobe Commerce for ``offer_sku``: the linked one, else the same SKU."""
        ...

    def all_links(self) -> dict[str, str]:
        """Offer SKU -> Magento SKU for every confirmed link."""
        ...


class ShipmentsRepository(Protocol):
    """What the shipments flow reads and writes in one unit of work: its shipment records, the
    cached SH21 carrier list, people's carrier mappings, its delivery log, and through the other
    ports the issue records it raises and the order records it moves to shipped."""

    @property
    def issues(self) -> IssueLog: ...

    @property
    def orders(self) -> OrderRecords: ...

    def shipment(self, shipment_id: int) -> ShipmentOut | None:
        """The record of one Magento shipment (changes to it are kept by the unit of work)."""
        ...

    def waiting_for_carrier(self) -> Sequence[ShipmentOut]:
        """Every shipment waiting for a carrier mapping."""
        ...

    def ids_waiting_for_carrier_key(self, key: str) -> list[int]:
        """The shipments waiting for a mapping of this carrier key."""
        ...

    def tracking_used_elsewhere(self, tracking_number: str, order_id: str, shipment_id: int) -> ShipmentOut | None:
        """A shipment of another marketplace order that carries this tracking number, if any."""
        ...

    def add_shipment_if_absent(self, values: Mapping[str, Any]) -> bool:
        """Insert the record of a newly seen shipment (``values`` by column) unless one with its id
        is already there (the poll and a webhook may find it at the same moment); True when this
        call inserted it."""
        ...

    def cursor(self, name: str) -> str | None:
        """Where a poll of the flow stopped last (a stream cursor); None before its first run."""
        ...

    def move_cursor(self, name: str, value: str) -> None: ...

    def ids_to_recheck(self, since: datetime) -> list[int]:
        """Shipments detected since ``since`` that wait for tracking or a carrier, or are partial or
        in error: Magento may have added a track since (it does not change their ``updated_at``)."""
        ...

    def due_for_send(self) -> list[tuple[int, int]]:
        """(shipment id, generation) of every shipment a send should run for: new or ready."""
        ...

    def shipments_of_order(self, order_id: str, *, states: Sequence[str] | None = None,
                           exclude: int | None = None) -> Sequence[ShipmentOut]:
        """The shipments of one marketplace order (in ``states`` when given, but ``exclude``)."""
        ...

    def orders_due_besides(self, order_id: str, limit: int) -> list[str]:
        """Up to ``limit`` other marketplace orders with a shipment due (new or ready)."""
        ...

    def record_delivery(self, key: str, api: str, object_id: str, status: str, request: dict[str, Any],
                        error: str = "") -> None:
        """Write one call to the marketplace to the delivery log (``deliveries``), by ``key``:
        ``OR23:<order>:<tracking>``, ``OR24:<order>`` or ``ST01:<shipment>``."""
        ...

    def open_shipments(self) -> Sequence[ShipmentOut]:
        """Every shipment not confirmed yet (``shipments_domain.OPEN_STATES``)."""
        ...

    def orders_with_a_shipment(self) -> set[str]:
        """The marketplace orders that have at least one shipment, in any state."""
        ...

    def cached_carriers(self) -> list[shipments_domain.Carrier]:
        """The cached SH21 carrier list, by label."""
        ...

    def carriers_refreshed_at(self) -> datetime | None:
        """When the cached list was loaded; None when it never was."""
        ...

    def replace_carriers(self, carriers: Sequence[shipments_domain.Carrier], at: datetime) -> None:
        """Replace the cached SH21 list."""
        ...

    def carrier_mappings(self) -> list[shipments_domain.Mapping_]:
        """People's Magento carrier → marketplace carrier mappings."""
        ...

    def carrier_mapping(self, magento_carrier_code: str, title_key: str) -> CarrierMapping | None:
        """The stored mapping of this Magento carrier code and title key, if any (to edit in place)."""
        ...

    def carrier_mapping_by_id(self, mapping_id: int) -> CarrierMapping | None: ...

    def add_carrier_mapping(self, row: CarrierMapping) -> None:
        """Store a new mapping at once (its id is then set)."""
        ...

    def delete_carrier_mapping(self, row: CarrierMapping) -> None: ...


class ShipmentsStore(Protocol):
    """The shipments flow's storage: each :meth:`unit_of_work` is one transaction, committed when
    the block ends normally and rolled back when it raises."""

    def unit_of_work(self) -> AbstractContextManager[ShipmentsRepository]: ...


class RefundsRepository(Protocol):
    """What the refunds flow reads and writes in one unit of work: its credit memo records
    (``refunds_out``), its ledger of marketplace refunds (``marketplace_refunds``), the cached RE01
    reasons, its poll cursors, and through the other ports the issue records it raises, the order
    records it moves to refunded and the SKU links it reads. Records handed out are changed in
    place; the unit of work keeps the changes."""

    @property
    def issues(self) -> IssueLog: ...

    @property
    def orders(self) -> OrderRecords: ...

    @property
    def skus(self) -> SkuLinks: ...

    def memo(self, creditmemo_id: int, *, lock: bool = False) -> RefundOut:
        """The memo's record (created, ``source='manual'``, if missing); ``lock`` takes a row lock
        on PostgreSQL for a check-then-write (SQLite serialises writers anyway)."""
        ...

    def has_memo(self, creditmemo_id: int) -> bool: ...

    def add_memo(self, creditmemo_id: int, *, status: str, source: str) -> None:
        """Store a new memo record at once (an existing one is a constraint error)."""
        ...

    def add_memo_if_absent(self, creditmemo_id: int, *, status: str, source: str) -> bool:
        """Store a new memo record unless another worker stored it first; True when this call did."""
        ...

    def memo_by_key(self, key: str) -> RefundOut | None:
        """A memo by entity id (digits) or increment id."""
        ...

    def memos_in(self, statuses: Sequence[str]) -> Sequence[RefundOut]: ...

    def memo_on_order_in(self, order_id: str, statuses: Sequence[str]) -> bool:
        """Some memo of this marketplace order is in one of ``statuses``."""
        ...

    def list_memos(self, *, status: str | None, order_id: str | None, limit: int) -> Sequence[RefundOut]:
        """Newest first."""
        ...

    def counts_by_status(self) -> list[tuple[str, int]]:
        """Memos per status (only the statuses present), in no particular order."""
        ...

    def claim_send(self, creditmemo_id: int, seen_attempts: int, statuses: Sequence[str], *,
                   status: str) -> bool:
        """Conditionally move the memo to ``status`` (with the attempt time, one more attempt and
        ``in_flight``) only if it still has ``seen_attempts`` and is in ``statuses``: True when this
        call claimed it (another worker may have claimed it after we looked)."""
        ...

    def marketplace_refund(self, refund_id: str) -> MarketplaceRefund | None: ...

    def add_marketplace_refund(self, **values: Any) -> None:
        """Add a refund to the ledger (``values`` by column)."""
        ...

    def known_refund_ids(self) -> set[str]:
        """Every refund id in the ledger."""
        ...

    def refunds_of_memo(self, creditmemo_id: int) -> Sequence[MarketplaceRefund]: ...

    def refund_states(self, refund_ids: Sequence[str]) -> list[str]:
        """The ledger states of these refunds (those found)."""
        ...

    def list_marketplace_refunds(self, *, origin: str | None, order_id: str | None,
                                 limit: int) -> Sequence[MarketplaceRefund]:
        """Newest first."""
        ...

    def order_ids_to_follow(self, sent_status: str) -> list[str]:
        """Marketplace orders of memos in ``sent_status`` and of ledger refunds not yet ``REFUNDED``."""
        ...

    def cursor(self, name: str) -> str | None:
        """Where a poll of the flow stopped last (a stream cursor); None before its first run."""
        ...

    def move_cursor(self, name: str, value: str) -> None: ...

    def valid_reasons(self) -> dict[str, RefundReason]:
        """The cached RE01 reasons of type ``REFUND``, by code."""
        ...

    def store_reason(self, code: str, *, label: str, type_: str, is_shop_right: bool, at: datetime) -> None:
        """Insert or update one cached RE01 reason."""
        ...


class RefundsStore(Protocol):
    """The refunds flow's storage: each :meth:`unit_of_work` is one transaction, committed when the
    block ends normally and rolled back when it raises."""

    def unit_of_work(self) -> AbstractContextManager[RefundsRepository]: ...
