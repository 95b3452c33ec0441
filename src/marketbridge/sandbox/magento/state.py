"""In-memory state of the simulated Adobe Commerce store: catalogue, MSI inventory, sales documents.

One ``RLock`` guards everything; every API handler runs under it, so the simulator is
thread-safe and each call is atomic (as a database transaction would be).

Salable quantity follows MSI (``GetProductSalableQty``): the sum of ``quantity`` of in-stock source
items in *enabled* sources linked to the stock, plus the running sum of that SKU's reservations on
the stock, minus ``min_qty``; 0 when no linked source item is in stock. Reservations are kept both
as an append-only list (for inspection) and as a running total per (sku, stock), so a read is O(1)
per SKU whatever the catalogue size.
"""

from __future__ import annotations

import bisect
import gc
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marketbridge.sandbox.catalogue import SeedProduct

from .catalog import (
    COLOR_ATTRIBUTE_ID,
    COLOR_OPTION_IDS,
    COMPOSITE_TYPES,
    SIZE_ATTRIBUTE_ID,
    SIZE_OPTION_IDS,
    Product,
)
from .errors import ApiError, not_found_product
from .search import InputLimits, sort_key
from .store_config import CheckoutConfig

DEFAULT_SOURCE = "default"
SECOND_SOURCE = "warehouse-2"
DEFAULT_STOCK_ID = 1
WEBSITE_CODE = "base"
STORES = {"default": 1, "all": 0}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Seeding allocates a few hundred thousand small objects that form no cycles; the cyclic GC
    would rescan them again and again, so it is paused meanwhile (start-up ~2x faster at 100k)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def utc_now() -> str:
    """Magento's timestamp format: UTC, ``YYYY-MM-DD HH:MM:SS``, no zone suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(slots=True)
class SourceItem:
    sku: str
    source_code: str
    quantity: float
    status: int

    def to_api(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "source_code": self.source_code,
            "quantity": self.quantity,
            "status": self.status,
        }


def _num(value: float) -> float | int:
    """Emit whole numbers as ints (``5`` not ``5.0``) as PHP's json_encode does for casts."""
    return int(value) if float(value).is_integer() else round(value, 4)


# The MSI hook as named on Adobe Commerce PaaS (SaaS drops the vendor: ``plugin.inventory_api…``).
SOURCE_ITEMS_SAVE_HOOK = "plugin.magento.inventory_api.api.source_items_save.execute"


class SandboxState:
    def __init__(self, catalogue: list[SeedProduct]) -> None:
        self.lock = threading.RLock()
        self.counters: dict[str, int] = {}
        self.products: dict[str, Product] = {}
        self.products_by_id: dict[int, str] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.stocks: dict[int, dict[str, Any]] = {}
        self.links: dict[tuple[int, str], int] = {}  # (stock_id, source_code) -> priority
        self.stock_sources: dict[int, set[str]] = {}
        self.source_items: dict[str, dict[str, SourceItem]] = {}  # sku -> source_code -> item
        self.checkout = CheckoutConfig()  # enabled payment methods and carriers (a fresh store's)
        self.reservations: list[dict[str, Any]] = []
        self.reserved: dict[tuple[str, int], float] = {}
        self.customers: dict[int, dict[str, Any]] = {
            1: {
                "id": 1,
                "email": "marketplace@marketbridge.example",
                "firstname": "John Lewis",
                "lastname": "Marketplace",
            }
        }
        self.carts: dict[int, dict[str, Any]] = {}
        self.masked_carts: dict[str, int] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.order_meta: dict[int, dict[str, Any]] = {}
        self.invoices: dict[int, dict[str, Any]] = {}
        self.shipments: dict[int, dict[str, Any]] = {}
        self.tracks: dict[int, dict[str, Any]] = {}
        self.creditmemos: dict[int, dict[str, Any]] = {}
        self.calls: deque[dict[str, Any]] = deque(maxlen=20000)
        self.emit: Callable[[str, dict[str, Any]], None] = lambda name, data: None
        # commit_after_webhook (see .commit): the open "transaction" of the request in the handler
        self.pending_commit: Any = None
        self.input_limits: InputLimits | None = None  # None = Magento's default (limits off)
        # Indexes for searches (rebuilt lazily when the set of rows changes; see SourceItemIndex)
        self.source_items_version = 0
        self.products_version = 0
        self._source_index: SourceItemIndex | None = None
        self._product_index: tuple[int, dict[str, list[Product]]] | None = None
        self._product_rows: tuple[int, list[Product], list[float]] | None = None
        self._type_index: tuple[int, dict[str, list[Product]]] | None = None
        self._time_index: dict[str, tuple[int, list[str], list[Product]]] = {}
        with gc_paused():
            self._seed(catalogue)

    # ---------------------------------------------------------------- ids and time
    def next_id(self, kind: str) -> int:
        value = self.counters.get(kind, 0) + 1
        self.counters[kind] = value
        return value

    def next_increment(self, kind: str) -> str:
        return f"{self.next_id(kind + '_increment'):09d}"

    # ---------------------------------------------------------------- seeding
    def _seed(self, catalogue: list[SeedProduct]) -> None:
        now = utc_now()
        self.sources[DEFAULT_SOURCE] = _source(DEFAULT_SOURCE, "Default Source", "GB", "SW1A 1AA")
        self.sources[SECOND_SOURCE] = _source(SECOND_SOURCE, "Second Warehouse", "GB", "M1 1AA")
        self.stocks[DEFAULT_STOCK_ID] = {
            "stock_id": DEFAULT_STOCK_ID,
            "name": "Default Stock",
            "extension_attributes": {"sales_channels": [{"type": "website", "code": WEBSITE_CODE}]},
        }
        self.counters["stock"] = DEFAULT_STOCK_ID
        self.set_link(DEFAULT_STOCK_ID, DEFAULT_SOURCE, 1)
        self.set_link(DEFAULT_STOCK_ID, SECOND_SOURCE, 2)
        for index, seed in enumerate(catalogue):
            product = Product.from_seed(seed, self.next_id("product"), now)
            self._add_product(product)
            if product.type_id in COMPOSITE_TYPES:
                continue
            qty = float(seed.qty)
            # Every fourth stocked product keeps part of its stock at the second warehouse, so
            # multi-source sums are exercised; the total (and so the salable qty) is the seed qty.
            second = float(int(qty // 2)) if index % 4 == 0 and qty >= 2 else 0.0
            self._put_item(SourceItem(seed.sku, DEFAULT_SOURCE, qty - second, 1 if qty - second > 0 else 0))
            if second:
                self._put_item(SourceItem(seed.sku, SECOND_SOURCE, second, 1))
        bundle_option = 0
        link_id = 0
        for product in self.products.values():
            if product.type_id != "bundle":
                continue
            seed = next(s for s in catalogue if s.sku == product.sku)
            for position, child in enumerate(seed.bundle_children, start=1):
                bundle_option += 1
                link_id += 1
                product.bundle_options.append(
                    {
                        "option_id": bundle_option,
                        "title": f"Part {position}",
                        "required": True,
                        "type": "radio",
                        "position": position,
                        "sku": product.sku,
                        "product_links": [
                            {
                                "id": str(link_id),
                                "sku": child,
                                "option_id": bundle_option,
                                "qty": 1,
                                "position": 1,
                                "is_default": True,
                                "price": 0,
                                "price_type": 0,
                                "can_change_quantity": 0,
                            }
                        ],
                    }
                )
        self.counters["bundle_option"] = bundle_option

    def _add_product(self, product: Product) -> None:
        self.products[product.sku] = product
        self.products_by_id[product.id] = product.sku
        self.products_version += 1

    def remove_product(self, sku: str) -> None:
        product = self.products.pop(sku)
        self.products_by_id.pop(product.id, None)
        self.source_items.pop(sku, None)
        self.products_version += 1
        self.source_items_version += 1

    def _put_item(self, item: SourceItem) -> None:
        """Save a source item. An existing row is updated in place (the row stays where it is, as
        a database row does), so a stock change does not invalidate the search indexes; only a
        new (sku, source) pair does."""
        if self.pending_commit is not None:
            self.pending_commit.note(self, item.sku, item.source_code)
        per_sku = self.source_items.setdefault(item.sku, {})
        current = per_sku.get(item.source_code)
        if current is not None:
            current.quantity = item.quantity
            current.status = item.status
            return
        per_sku[item.source_code] = item
        self.source_items_version += 1

    def remove_source_item(self, sku: str, source_code: str) -> SourceItem | None:
        found = self.source_items.get(sku, {}).pop(source_code, None)
        if found is not None:
            self.source_items_version += 1
        return found

    def source_item_index(self) -> SourceItemIndex:
        index = self._source_index
        if index is None or index.version != self.source_items_version:
            index = SourceItemIndex(self.source_items_version, self.all_source_items())
            self._source_index = index
        return index

    def product_rows(self) -> tuple[list[Product], list[float]]:
        """Every product in entity order and its entity ids (cached per change of the set): the
        keyset page ``entity_id gt N`` bisects these instead of rebuilding 100,000 keys a call."""
        cached = self._product_rows
        if cached is None or cached[0] != self.products_version:
            rows = list(self.products.values())
            cached = (self.products_version, rows, [float(p.id) for p in rows])
            self._product_rows = cached
        return cached[1], cached[2]

    def products_from(self, name: str, condition: str, lower_value: str) -> list[Product] | None:
        """Products whose ``updated_at``/``created_at`` text is above ``lower_value`` (``gt``) or
        not below it, in entity order: a sorted copy per field, bisected. The poll's
        ``updated_at gt T`` keyset pages no longer test every product."""
        if name not in ("updated_at", "created_at"):
            return None
        cached = self._time_index.get(name)
        if cached is None or cached[0] != self.products_version:
            pairs = sorted(
                ((str(getattr(p, name)).lower(), p) for p in self.products.values() if getattr(p, name) is not None),
                key=lambda pair: pair[0],
            )
            cached = (self.products_version, [k for k, _ in pairs], [p for _, p in pairs])
            self._time_index[name] = cached
        _, keys, rows = cached
        start = (bisect.bisect_right if condition == "gt" else bisect.bisect_left)(keys, lower_value)
        found = rows[start:]
        found.sort(key=lambda p: p.id)
        return found

    def products_by_type(self) -> dict[str, list[Product]]:
        """type_id (lower-cased) -> products, in entity order: ``type_id eq configurable`` (the
        order flow's scan of parents) no longer tests 100,000 products a page."""
        cached = self._type_index
        if cached is None or cached[0] != self.products_version:
            by_type: dict[str, list[Product]] = {}
            for product in self.products.values():
                by_type.setdefault(str(product.type_id).lower(), []).append(product)
            cached = (self.products_version, by_type)
            self._type_index = cached
        return cached[1]

    def products_by_lower_sku(self) -> dict[str, list[Product]]:
        """SKU (lower-cased, as MySQL's collation compares) -> products, in entity order."""
        cached = self._product_index
        if cached is None or cached[0] != self.products_version:
            by_sku: dict[str, list[Product]] = {}
            for product in self.products.values():
                by_sku.setdefault(product.sku.lower(), []).append(product)
            cached = (self.products_version, by_sku)
            self._product_index = cached
        return cached[1]

    def set_link(self, stock_id: int, source_code: str, priority: int) -> None:
        self.links[(stock_id, source_code)] = priority
        self.stock_sources.setdefault(stock_id, set()).add(source_code)

    def remove_link(self, stock_id: int, source_code: str) -> None:
        self.links.pop((stock_id, source_code), None)
        self.stock_sources.get(stock_id, set()).discard(source_code)

    # ---------------------------------------------------------------- catalogue
    def product(self, sku: str) -> Product:
        product = self.products.get(sku)
        if product is None:
            raise not_found_product()
        return product

    def render_product(self, product: Product, *, detail: bool) -> dict[str, Any]:
        """Detail (GET by SKU) adds ``extension_attributes.stock_item``; lists never do (#36533)."""
        ext: dict[str, Any] = {"website_ids": [1]}
        category_ids = product.attributes.get("category_ids") or []
        ext["category_links"] = [{"position": 0, "category_id": str(c)} for c in category_ids]
        if product.type_id == "configurable":
            ext["configurable_product_options"] = self._configurable_options(product)
            ext["configurable_product_links"] = [
                self.products[c].id for c in product.children if c in self.products
            ]
        if product.type_id == "bundle":
            ext["bundle_product_options"] = product.bundle_options
        if detail and product.type_id not in COMPOSITE_TYPES or detail and product.type_id == "configurable":
            ext["stock_item"] = self.stock_item(product)
        return {
            "id": product.id,
            "sku": product.sku,
            "name": product.name,
            "attribute_set_id": product.attribute_set_id,
            "price": _num(product.price),
            "status": product.status,
            "visibility": product.visibility,
            "type_id": product.type_id,
            "created_at": product.created_at,
            "updated_at": product.updated_at,
            "weight": _num(product.weight),
            "extension_attributes": ext,
            "product_links": [],
            "options": product.custom_options,
            "media_gallery_entries": self._media(product),
            "tier_prices": [],
            "custom_attributes": product.custom_attributes(),
        }

    def _media(self, product: Product) -> list[dict[str, Any]]:
        image = product.attributes.get("image")
        if not image:
            return []
        return [
            {
                "id": product.id,
                "media_type": "image",
                "label": product.name,
                "position": 1,
                "disabled": False,
                "types": ["image", "small_image", "thumbnail"],
                "file": str(image),
            }
        ]

    def _configurable_options(self, product: Product) -> list[dict[str, Any]]:
        colours: list[int] = []
        sizes: list[int] = []
        for child_sku in product.children:
            child = self.products.get(child_sku)
            if child is None:
                continue
            for code, bucket in (("color", colours), ("size", sizes)):
                value = child.attributes.get(code)
                if value is not None and int(value) not in bucket:
                    bucket.append(int(value))
        options = []
        for position, (attr_id, label, values) in enumerate(
            ((COLOR_ATTRIBUTE_ID, "Color", colours), (SIZE_ATTRIBUTE_ID, "Size", sizes))
        ):
            if values:
                options.append(
                    {
                        "id": product.id * 10 + position,
                        "attribute_id": str(attr_id),
                        "label": label,
                        "position": position,
                        "values": [{"value_index": v} for v in values],
                        "product_id": product.id,
                    }
                )
        return options

    def configurable_child(self, parent: Product, options: list[dict[str, Any]]) -> Product | None:
        """Resolve ``configurable_item_options`` [{option_id: attribute id, option_value}] to a child."""
        wanted: dict[str, str] = {}
        by_attr = {str(COLOR_ATTRIBUTE_ID): "color", str(SIZE_ATTRIBUTE_ID): "size"}
        for option in options:
            code = by_attr.get(str(option.get("option_id")))
            if code is None:
                return None
            wanted[code] = str(option.get("option_value"))
        for child_sku in parent.children:
            child = self.products.get(child_sku)
            if child and all(str(child.attributes.get(k)) == v for k, v in wanted.items()):
                return child
        return None

    # ---------------------------------------------------------------- inventory
    def stock_item(self, product: Product) -> dict[str, Any]:
        """Legacy ``cataloginventory`` view: the default source item only (never salable qty)."""
        item = self.source_items.get(product.sku, {}).get(DEFAULT_SOURCE)
        qty = item.quantity if item else 0.0
        return {
            "item_id": product.id,
            "product_id": product.id,
            "stock_id": DEFAULT_STOCK_ID,
            "qty": _num(qty),
            "is_in_stock": bool(item and item.status == 1),
            "is_qty_decimal": False,
            "show_default_notification_message": False,
            "use_config_min_qty": True,
            "min_qty": _num(product.min_qty),
            "use_config_min_sale_qty": 1,
            "min_sale_qty": 1,
            "use_config_max_sale_qty": True,
            "max_sale_qty": 10000,
            "use_config_backorders": True,
            "backorders": 0,
            "use_config_notify_stock_qty": True,
            "notify_stock_qty": 1,
            "use_config_qty_increments": True,
            "qty_increments": 0,
            "use_config_enable_qty_inc": True,
            "enable_qty_increments": False,
            "use_config_manage_stock": True,
            "manage_stock": product.manage_stock,
            "low_stock_date": None,
            "is_decimal_divided": False,
            "stock_status_changed_auto": 0,
        }

    def stock_for_channel(self, channel_type: str, channel_code: str) -> dict[str, Any]:
        """The stock a sales channel is assigned to, as ``StockResolverInterface`` finds it
        (``GET /V1/inventory/stock-resolver/{type}/{code}``); 404 "No linked stock found"."""
        for stock in self.stocks.values():
            for channel in (stock.get("extension_attributes") or {}).get("sales_channels") or []:
                if channel.get("type") == channel_type and channel.get("code") == channel_code:
                    return stock
        raise ApiError(404, "No linked stock found", None)

    def sales_stock_id(self) -> int:
        """The stock an order of the store reserves on and is checked against: MSI resolves it
        from the store's *website* (``GetStockBySalesChannelCache`` / ``StockResolver``), not the
        default stock. The simulated store has one website, ``base`` (store 1)."""
        return int(self.stock_for_channel("website", WEBSITE_CODE)["stock_id"])

    def stock_or_404(self, stock_id: int) -> dict[str, Any]:
        stock = self.stocks.get(stock_id)
        if stock is None:
            raise ApiError(404, 'Stock with id "%value" does not exist.', {"value": str(stock_id)})
        return stock

    def salable_quantity(self, sku: str, stock_id: int) -> float:
        product = self.product(sku)
        if product.type_id in COMPOSITE_TYPES:
            raise ApiError(400, "Can't check requested quantity for products without Source Items support.")
        self.stock_or_404(stock_id)
        linked = self.stock_sources.get(stock_id, set())
        physical = 0.0
        in_stock = False
        for item in self.source_items.get(sku, {}).values():
            if item.source_code in linked and item.status == 1 and self.sources[item.source_code]["enabled"]:
                physical += item.quantity
                in_stock = True
        if not in_stock:
            return 0.0
        return max(0.0, physical + self.reserved.get((sku, stock_id), 0.0) - product.min_qty)

    def is_salable(self, sku: str, stock_id: int, qty: float = 0.0) -> bool:
        product = self.product(sku)
        if product.status != 1:
            return False
        if product.type_id in COMPOSITE_TYPES:
            return any(self.is_salable(child, stock_id) for child in product.children) or (
                product.type_id == "bundle"
                and all(
                    self.is_salable(link["sku"], stock_id)
                    for option in product.bundle_options
                    for link in option["product_links"]
                )
            )
        if not product.manage_stock:
            return True
        salable = self.salable_quantity(sku, stock_id)
        return salable > 0 and salable >= qty

    def reserve(
        self, sku: str, stock_id: int, quantity: float, event: str, object_id: int, increment: str
    ) -> None:
        """Append a reservation (negative = sold, positive = compensation)."""
        if quantity == 0:
            return
        self.reservations.append(
            {
                "reservation_id": self.next_id("reservation"),
                "stock_id": stock_id,
                "sku": sku,
                "quantity": quantity,
                "metadata": json.dumps(
                    {
                        "event_type": event,
                        "object_type": "order",
                        "object_id": str(object_id),
                        "object_increment_id": increment,
                    }
                ),
            }
        )
        key = (sku, stock_id)
        self.reserved[key] = self.reserved.get(key, 0.0) + quantity

    def adjust_source(self, sku: str, source_code: str, delta: float) -> SourceItem:
        item = self.source_items.get(sku, {}).get(source_code)
        if item is None:
            item = SourceItem(sku, source_code, 0.0, 0)
            self._put_item(item)
        item.quantity = round(item.quantity + delta, 4)
        item.status = 1 if item.quantity > 0 else 0
        return item

    def save_source_items(self, items: list[SourceItem]) -> None:
        for item in items:
            self._put_item(item)
        if items:
            self.emit(
                SOURCE_ITEMS_SAVE_HOOK,
                {"sourceItems": [i.to_api() for i in items]},
            )

    def all_source_items(self) -> list[SourceItem]:
        return [item for per_sku in self.source_items.values() for item in per_sku.values()]


class SourceItemIndex:
    """Every source item in table order, by SKU, and (lazily) sorted the way the client pages them.

    Built once per change of the *set* of rows (quantities change in place and need no rebuild).
    Answers exactly what :func:`search.apply` computes by scanning: candidates keep table order and
    the sorted copy is a stable sort of table order on the same keys.
    """

    def __init__(self, version: int, rows: list[SourceItem]) -> None:
        self.version = version
        self.rows = rows
        self.position = {id(row): n for n, row in enumerate(rows)}
        self.by_sku: dict[str, list[SourceItem]] = {}
        for row in rows:
            self.by_sku.setdefault(row.sku.lower(), []).append(row)
        self._sorted: dict[tuple[tuple[str, str], ...], list[SourceItem]] = {}

    def lookup(self, name: str, keys: list[str]) -> list[SourceItem] | None:
        if name != "sku":
            return None
        found = [row for key in set(keys) for row in self.by_sku.get(key, ())]
        found.sort(key=lambda row: self.position[id(row)])
        return found

    def presorted(self, orders: list[tuple[str, str]]) -> list[SourceItem] | None:
        """Rows sorted ascending on text/number fields that are never empty (sku, source_code)."""
        if not orders or any(d != "ASC" or f not in ("sku", "source_code") for f, d in orders):
            return None
        key = tuple(orders)
        cached = self._sorted.get(key)
        if cached is None:
            names = [f for f, _ in orders]
            cached = sorted(self.rows, key=lambda row: tuple(sort_key(getattr(row, n)) for n in names))
            self._sorted[key] = cached
        return cached


def _source(code: str, name: str, country: str, postcode: str) -> dict[str, Any]:
    return {
        "source_code": code,
        "name": name,
        "enabled": True,
        "description": "",
        "latitude": 0,
        "longitude": 0,
        "country_id": country,
        "postcode": postcode,
        "use_default_carrier_config": True,
        "carrier_links": [],
    }


__all__ = [
    "COLOR_OPTION_IDS",
    "DEFAULT_SOURCE",
    "DEFAULT_STOCK_ID",
    "SECOND_SOURCE",
    "SIZE_OPTION_IDS",
    "STORES",
    "SandboxState",
    "SourceItem",
    "SourceItemIndex",
    "utc_now",
]
