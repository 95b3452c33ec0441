"""Reading stock and price facts from Adobe Commerce, in bulk wherever the REST API allows it.

Salable quantity (MAGENTO.md §6.3) = in-stock source items of enabled sources linked to the stock
+ reservations − ``min_qty``. Asking ``get-product-salable-quantity`` for every SKU costs one
call per SKU (50,000 calls for a full resync), so in ``bulk`` mode we compute it:

* the physical part from ``GET /V1/inventory/source-items`` (500 per page, or ``sku in (...)``),
  the stock's source links and the sources' enabled flags;
* ``min_qty`` from the product's stock item when we have read it (default 0);
* reservations are only non-zero for SKUs on orders that are not yet shipped, cancelled or
  refunded; those SKUs (open orders, order events) are read exactly with the per-SKU call.

``export`` mode (the default) reads salable quantities in bulk from Magento's own
``export-stock-salable-qty/{type}/{code}`` (InventoryExportStock): 300 SKUs a call, computed by
``GetProductSalableQty`` — reservations and ``min_qty`` included — so no per-SKU read is needed for
SKUs on open orders. Its blind spots: unmanaged stock (and composites) come back as ``qty 0``
with ``is_salable true``, and fall back to the computed value; products not assigned to the stock
are left out of their page (magento/inventory#3416) and are read by :func:`read_left_out`, never
computed. A store without the endpoint (404) falls back to ``bulk``. Source items are still scanned for the per-SKU fingerprints the poll diffs.

``exact`` mode reads every SKU with the per-SKU call (slower, no assumption).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from marketbridge.adapters.errors import NotFound, Rejected, RemoteError
from marketbridge.adapters.magento.criteria import SearchCriteria, chunks
from marketbridge.domain.money import canonical, to_money_or_none
from marketbridge.ports import MagentoPort

log = structlog.get_logger(__name__)

SKIPPED_ATTRIBUTES = frozenset(
    {"description", "short_description", "meta_title", "meta_keyword", "meta_description", "url_key",
     "image", "small_image", "thumbnail", "swatch_image", "options_container", "gift_message_available"}
)
OPEN_ORDER_STATES = ["new", "pending_payment", "processing", "holded", "payment_review"]


@dataclass
class ProductRead:
    sku: str
    enabled: bool
    type_id: str
    price: str | None
    special_price: str | None
    special_from: str | None
    special_to: str | None
    attributes: dict[str, str] = field(default_factory=dict)
    category_ids: list[str] = field(default_factory=list)
    manage_stock: bool | None = None  # only known from a detail read
    min_qty: float | None = None


def _money(value: Any) -> str | None:
    """A Magento price as the stock tables store it: the canonical decimal string (``"19.99"``,
    ``"20"``; four places at most), read through ``Decimal`` and never through a float. Readers
    turn it back into ``Decimal`` (``domain.sku_stock._decimal``)."""
    amount = to_money_or_none(value)
    return None if amount is None else canonical(amount)


def product_read(product: Any) -> ProductRead:
    attributes: dict[str, str] = {}
    categories: list[str] = []
    for item in product.custom_attributes:
        code = item.attribute_code
        if code == "category_ids":
            value = item.value if isinstance(item.value, list) else str(item.value or "").split(",")
            categories = [str(v).strip() for v in value if str(v).strip()]
            continue
        if code in SKIPPED_ATTRIBUTES or isinstance(item.value, list | dict):
            continue
        text = "" if item.value is None else str(item.value)
        if len(text) <= 64:
            attributes[code] = text
    ext = product.extension_attributes
    for link in getattr(ext, "category_links", None) or []:
        cid = str(getattr(link, "category_id", "") or (link.get("category_id") if isinstance(link, dict) else ""))
        if cid and cid not in categories:
            categories.append(cid)
    stock_item = getattr(ext, "stock_item", None)
    return ProductRead(
        sku=product.sku,
        enabled=product.status == 1,
        type_id=product.type_id or "simple",
        price=_money(product.price),
        special_price=_money(product.attribute("special_price")),
        special_from=(str(product.attribute("special_from_date"))[:10] or None) if product.attribute("special_from_date") else None,
        special_to=(str(product.attribute("special_to_date"))[:10] or None) if product.attribute("special_to_date") else None,
        attributes=attributes,
        category_ids=categories,
        manage_stock=None if stock_item is None else bool(stock_item.manage_stock),
        min_qty=None if stock_item is None else float(stock_item.min_qty or 0.0),
    )


def skus_of_product_ids(magento: MagentoPort, product_ids: Sequence[str]) -> dict[str, str]:
    """``{product id: SKU}`` for Adobe Commerce product ids (``entity_id in``, 100 a call); ids of
    deleted products are left out."""
    out: dict[str, str] = {}
    for batch in chunks(list(product_ids), 100):
        criteria = SearchCriteria().where("entity_id", batch, "in")
        for product in magento.iterate_products(criteria=criteria, page_size=100):
            out[str(product.id)] = product.sku
    return out


def read_products(magento: MagentoPort, skus: Sequence[str] | None, *, page_size: int = 300,
                  progress: Any = None) -> dict[str, ProductRead]:
    """Product facts from the list API (no stock item there; see :func:`read_product_details`)."""
    out: dict[str, ProductRead] = {}
    if skus is None:
        for product in magento.iterate_products(page_size=page_size):
            out[product.sku] = product_read(product)
            if progress is not None:
                progress(1)
        return out
    for batch in chunks(skus, 100):
        criteria = SearchCriteria().where("sku", batch, "in")
        for product in magento.iterate_products(criteria=criteria, page_size=page_size):
            out[product.sku] = product_read(product)
    return out


def read_product_details(magento: MagentoPort, skus: Sequence[str], concurrency: int) -> dict[str, ProductRead]:
    """GET /V1/products/{sku} per SKU: includes the stock item (manage_stock, min_qty)."""

    def one(sku: str) -> ProductRead | None:
        try:
            return product_read(magento.get_product(sku))
        except NotFound:
            return None

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return {r.sku: r for r in pool.map(one, skus) if r is not None}


@dataclass(frozen=True)
class StockTopology:
    stock_id: int
    sources: frozenset[str]  # enabled sources linked to the stock


def read_topology(magento: MagentoPort, stock_id: int) -> StockTopology:
    linked = {link.source_code for link in magento.stock_source_links(stock_id)}
    enabled = {s.source_code for s in magento.sources() if s.enabled}
    return StockTopology(stock_id, frozenset(linked & enabled))


@dataclass(frozen=True)
class Physical:
    quantity: float
    in_stock: bool
    fingerprint: str


def fingerprint(items: Iterable[tuple[str, float, int]]) -> str:
    text = "|".join(f"{code}:{qty:g}:{status}" for code, qty, status in sorted(items))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def physical_from_items(items: Iterable[Any], topology: StockTopology) -> dict[str, Physical]:
    per_sku: dict[str, list[tuple[str, float, int]]] = {}
    for item in items:  # may be a generator (pages are read as they are consumed)
        per_sku.setdefault(item.sku, []).append((item.source_code, float(item.quantity), int(item.status)))
    out = {}
    for sku, rows in per_sku.items():
        qty = 0.0
        in_stock = False
        for code, quantity, status in rows:
            if code in topology.sources and status == 1:
                qty += quantity
                in_stock = True
        out[sku] = Physical(qty, in_stock, fingerprint(rows))
    return out


def read_physical(magento: MagentoPort, skus: Sequence[str] | None, topology: StockTopology,
                  *, progress: Any = None) -> dict[str, Physical]:
    """Source items of the given SKUs (or all), reduced to the stock's physical quantity."""
    if skus is None:

        def counted() -> Iterable[Any]:  # streamed: 100,000 item models are never held at once
            for item in magento.iterate_source_items(page_size=500):
                if progress is not None:
                    progress(1)
                yield item

        return physical_from_items(counted(), topology)
    return physical_from_items(magento.source_items(list(skus), chunk_size=100), topology)


@dataclass(frozen=True)
class Exported:
    """A row of ``export-stock-salable-qty``."""

    qty: float
    is_salable: bool

    @property
    def salable(self) -> float | None:
        """The salable quantity, or None where the export cannot say: Magento writes 0 with
        ``is_salable`` true for unmanaged stock (its configured quantity for those is null)."""
        if self.is_salable and self.qty <= 0:
            return None
        return self.qty


def sales_channel(magento: MagentoPort, stock_id: int, website: str | None = None) -> tuple[str, str] | None:
    """The sales channel the export is asked for: the configured website when the stock serves
    it, else the stock's first website channel; None if the stock has none."""
    for stock in magento.stocks():
        if stock.stock_id == stock_id:
            channels = [(c.type, c.code) for c in stock.extension_attributes.sales_channels]
            if website is not None and ("website", website) in channels:
                return "website", website
            return channels[0] if channels else None
    return None


def read_salable_export(magento: MagentoPort, stock_id: int, skus: Sequence[str] | None = None,
                        *, website: str | None = None, progress: Any = None) -> dict[str, Exported] | None:
    """Salable quantities of every product (or of ``skus``) from ``export-stock-salable-qty``.

    None when it cannot be used: the stock has no sales channel, or the store does not serve the
    endpoint (404, e.g. the InventoryExportStock module is disabled). Products not assigned to the
    stock are not in the answer (see :func:`read_left_out`)."""
    channel = sales_channel(magento, stock_id, website)
    if channel is None:
        return None
    out: dict[str, Exported] = {}
    try:
        if skus is None:
            for row in magento.iterate_export_stock_salable_qty(*channel, page_size=300):
                out[row.sku] = Exported(float(row.qty), bool(row.is_salable))
                if progress is not None:
                    progress(1)
        else:
            for batch in chunks(skus, 100):
                criteria = SearchCriteria().where("sku", batch, "in")
                for row in magento.iterate_export_stock_salable_qty(*channel, criteria=criteria, page_size=300,
                                                                    at_most=len(batch)):
                    out[row.sku] = Exported(float(row.qty), bool(row.is_salable))
    except NotFound as error:
        log.warning("stock.export_unavailable", error=str(error)[:200])
        return None
    return out


def computed_salable(physical: Physical | None, min_qty: float) -> float:
    if physical is None or not physical.in_stock:
        return 0.0
    return max(0.0, physical.quantity - min_qty)


def read_salable_exact(magento: MagentoPort, skus: Sequence[str], stock_id: int,
                       concurrency: int) -> dict[str, float | None]:
    """One ``get-product-salable-quantity`` call per SKU; ``None`` when Magento cannot say."""

    def one(sku: str) -> tuple[str, float | None]:
        try:
            return sku, magento.salable_quantity(sku, stock_id)
        except (NotFound, Rejected):
            return sku, None

    if not skus:
        return {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return dict(pool.map(one, skus))


def read_left_out(magento: MagentoPort, skus: Iterable[str], physical: dict[str, Physical], stock_id: int,
                  concurrency: int) -> tuple[dict[str, float], int]:
    """Salable quantities of the SKUs ``export-stock-salable-qty`` did not list; and how many
    per-SKU calls that took.

    Magento leaves out every product not assigned to the stock (no source item in a source linked
    to it; magento/inventory#3416). Such a SKU has nothing to sell, and neither has one whose
    source items show nothing in stock in the stock's enabled sources: ``GetProductSalableQty``
    answers 0 when the stock index says not salable. Those read 0 without a call. Any other SKU
    (created during the scan, or shifted out of the window by a deletion) is read with
    ``get-product-salable-quantity``, reservations included; one Magento cannot answer (404 for
    a SKU deleted meanwhile, 400) reads 0. Never the computed source quantity: it ignores
    reservations and would offer units already sold."""
    wanted = set(skus)
    values = {sku: 0.0 for sku in wanted if computed_salable(physical.get(sku), 0.0) <= 0}
    ask = sorted(wanted - set(values))
    for sku, value in read_salable_exact(magento, ask, stock_id, concurrency).items():
        values[sku] = 0.0 if value is None else value
    return values, len(ask)


def skus_on_open_orders(magento: MagentoPort) -> set[str]:
    """SKUs of orders that may still hold reservations (not complete, closed or cancelled)."""
    criteria = SearchCriteria().where("state", OPEN_ORDER_STATES, "in")
    skus: set[str] = set()
    try:
        result = magento.search_orders(criteria.page(300, 1))
    except RemoteError as error:
        log.warning("stock.open_orders_unreadable", error=str(error)[:200])
        return skus
    pages = [result]
    total = result.total_count
    page = 2
    while (page - 1) * 300 < total:
        pages.append(magento.search_orders(SearchCriteria().where("state", OPEN_ORDER_STATES, "in").page(300, page)))
        page += 1
    for res in pages:
        for order in res.items:
            for item in order.items:
                if item.qty_ordered - item.qty_shipped - item.qty_canceled - item.qty_refunded > 0:
                    skus.add(item.sku)
    return skus


def skus_of_orders_since(magento: MagentoPort, since: datetime | str) -> tuple[set[str], str | None]:
    """SKUs of orders placed or changed (cancelled...) since ``since``; and the newest updated_at."""
    skus: set[str] = set()
    newest: str | None = None
    for order in magento.iterate_orders(updated_since=since):
        for item in order.items:
            skus.add(item.sku)
        if order.updated_at and (newest is None or order.updated_at > newest):
            newest = order.updated_at
    return skus, newest


def magento_clock(magento: MagentoPort) -> str | None:
    """Magento's time now, as its ``updated_at`` texts are written, from one small answer."""
    magento.search_products(SearchCriteria().page(1, 1))
    answered = magento.last_answer_time()
    return answered.strftime("%Y-%m-%d %H:%M:%S") if answered else None


def skus_of_products_since(magento: MagentoPort, since: datetime | str) -> tuple[dict[str, ProductRead], str | None]:
    """Products saved since ``since``, and the cursor for next time: the newest ``updated_at`` seen
    or, when later, Magento's clock when it answered the first page (everything saved before that
    has been seen). Without the clock, products saved in one second (an import) would be re-read
    by every poll until a newer one appears."""
    out: dict[str, ProductRead] = {}
    newest: str | None = None
    asked_at: datetime | None = None
    for product in magento.iterate_products(updated_since=since):
        if asked_at is None:
            asked_at = magento.last_answer_time()
        out[product.sku] = product_read(product)
        if product.updated_at and (newest is None or product.updated_at > newest):
            newest = product.updated_at
    asked_at = asked_at or magento.last_answer_time()
    if asked_at is not None:
        seen_until = asked_at.strftime("%Y-%m-%d %H:%M:%S")
        if newest is None or seen_until > newest:
            newest = seen_until
    return out, newest
