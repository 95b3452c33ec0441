"""The REST routes of the simulator: ``(METHOD, /V1/template, ACL resource, handler)``.

Handlers take a :class:`Ctx` and return the JSON-able response body. Paths are matched against
the *raw* (percent-encoded) request path so that SKUs containing ``/`` (sent as ``%2F``) work, then
each parameter is decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from . import sales
from .catalog import COMPOSITE_TYPES, Product
from .errors import ApiError, bad_request, not_found_entity, required, type_error
from .search import apply, parse_brackets, parse_search_criteria, result
from .state import DEFAULT_SOURCE, DEFAULT_STOCK_ID, SandboxState, SourceItem, _num, utc_now


@dataclass
class Ctx:
    state: SandboxState
    params: dict[str, str]
    query: list[tuple[str, str]]
    body: Any
    store: str

    def query_value(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def int_param(self, name: str) -> int:
        value = self.params[name]
        try:
            return int(value)
        except ValueError:
            raise type_error(name, value, "int") from None


Handler = Callable[[Ctx], Any]


@dataclass
class Route:
    method: str
    template: str
    acl: str | None  # None = anonymous
    handler: Handler
    pattern: re.Pattern[str]


ROUTES: list[Route] = []


def route(method: str, template: str, acl: str | None) -> Callable[[Handler], Handler]:
    regex = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template.rstrip("/"))) + "/?$"

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, template, acl, handler, re.compile(regex)))
        return handler

    return register


def match(method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    for candidate in ROUTES:
        if candidate.method != method:
            continue
        found = candidate.pattern.match(raw_path)
        if found:
            return candidate, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def _search(
    ctx: Ctx,
    records: Any,
    render: Callable[[Any], Any] = lambda r: r,
    getter: Any = None,
    sorted_by: str | None = None,
) -> dict[str, Any]:
    criteria = parse_search_criteria(ctx.query, limits=ctx.state.input_limits)
    if getter:
        page, total = apply(records, criteria, getter, sorted_by=sorted_by)
    else:
        page, total = apply(records, criteria, sorted_by=sorted_by)
    return result([render(r) for r in page], criteria, total)


# =================================================================== catalogue
def _product_getter(product: Product, name: str) -> Any:
    if name in ("entity_id", "id"):
        return product.id
    if name in Product.__slots__ and name not in (
        "attributes",
        "children",
        "bundle_options",
        "custom_options",
    ):  # type: ignore[attr-defined]
        return getattr(product, name)
    return product.attributes.get(name)


@route("GET", "/V1/products", "Magento_Catalog::products")
def list_products(ctx: Ctx) -> Any:
    st = ctx.state
    # dict order is insertion order = ascending entity ids (ids are monotonic)
    criteria = parse_search_criteria(ctx.query, limits=st.input_limits)
    rows, ids = st.product_rows()
    page, total = apply(rows, criteria, _product_getter, sorted_by="entity_id", sorted_keys=ids,
                        lookup=lambda name, keys: _products_by_sku(st, name, keys),
                        lookup_range=st.products_from)
    return result([st.render_product(p, detail=False) for p in page], criteria, total)


def _products_by_sku(st: SandboxState, name: str, keys: list[str]) -> list[Product] | None:
    """``sku`` or ``type_id`` ``eq/in`` from an index, in entity order (that of ``st.products``)."""
    if name not in ("sku", "type_id"):
        return None
    by_sku = st.products_by_lower_sku() if name == "sku" else st.products_by_type()
    found = [p for key in set(keys) for p in by_sku.get(key, ())]
    found.sort(key=lambda p: p.id)
    return found


@route("GET", "/V1/products/{sku}", "Magento_Catalog::products")
def get_product(ctx: Ctx) -> Any:
    return ctx.state.render_product(ctx.state.product(ctx.params["sku"]), detail=True)


def _save_product(ctx: Ctx, sku_from_path: str | None) -> Any:
    st = ctx.state
    data = sales._obj(ctx.body, "product")
    sku = str(data.get("sku") or sku_from_path or "").strip()
    if not sku:
        raise required("sku")
    if sku_from_path is not None and data.get("sku") and str(data["sku"]) != sku_from_path:
        sku = sku_from_path
    product = st.products.get(sku)
    now = utc_now()
    if product is None:
        if not data.get("name"):
            raise bad_request('The "%1" attribute value is empty. Set the attribute and try again.', ["name"])
        product = Product(
            id=st.next_id("product"),
            sku=sku,
            name=str(data["name"]),
            type_id=str(data.get("type_id") or "simple"),
            price=0.0,
            status=1,
            visibility=4,
            weight=0.0,
            created_at=now,
            updated_at=now,
        )
        st._add_product(product)
    for key, cast in (
        ("name", str),
        ("price", float),
        ("status", int),
        ("visibility", int),
        ("weight", float),
        ("type_id", str),
        ("attribute_set_id", int),
    ):
        if data.get(key) is not None:
            try:
                setattr(product, key, cast(data[key]))
            except (TypeError, ValueError):
                raise type_error(key, data[key], cast.__name__) from None
    for attribute in data.get("custom_attributes") or []:
        if isinstance(attribute, dict) and attribute.get("attribute_code"):
            product.attributes[str(attribute["attribute_code"])] = attribute.get("value")
    if isinstance(data.get("options"), list):
        product.custom_options = [dict(o, product_sku=sku) for o in data["options"] if isinstance(o, dict)]
        for index, option in enumerate(product.custom_options, start=1):
            option.setdefault("option_id", product.id * 10 + index)
    ext = data.get("extension_attributes") or {}
    stock = ext.get("stock_item") if isinstance(ext, dict) else None
    if isinstance(stock, dict) and product.type_id not in COMPOSITE_TYPES:
        if "manage_stock" in stock:
            product.manage_stock = bool(stock["manage_stock"])
        if "min_qty" in stock:
            product.min_qty = sales._float("min_qty", stock["min_qty"])
        if "qty" in stock or "is_in_stock" in stock:
            current = st.source_items.get(sku, {}).get(DEFAULT_SOURCE)
            qty = (
                sales._float("qty", stock["qty"])
                if "qty" in stock
                else (current.quantity if current else 0.0)
            )
            status = int(bool(stock.get("is_in_stock", qty > 0)))
            st.save_source_items([SourceItem(sku, DEFAULT_SOURCE, qty, status)])
    product.updated_at = now
    st.products_version += 1  # fields may have changed (type_id...): rebuild the search indexes
    rendered = st.render_product(product, detail=True)
    st.emit("observer.catalog_product_save_after", {"product": rendered})
    return rendered


@route("POST", "/V1/products", "Magento_Catalog::products")
def create_product(ctx: Ctx) -> Any:
    return _save_product(ctx, None)


@route("PUT", "/V1/products/{sku}", "Magento_Catalog::products")
def update_product(ctx: Ctx) -> Any:
    return _save_product(ctx, ctx.params["sku"])


@route("DELETE", "/V1/products/{sku}", "Magento_Catalog::products")
def delete_product(ctx: Ctx) -> Any:
    st = ctx.state
    product = st.product(ctx.params["sku"])
    st.remove_product(product.sku)
    return True


@route("GET", "/V1/products/{sku}/options", "Magento_Catalog::products")
def product_options(ctx: Ctx) -> Any:
    return ctx.state.product(ctx.params["sku"]).custom_options


@route("GET", "/V1/configurable-products/{sku}/children", "Magento_Catalog::products")
def configurable_children(ctx: Ctx) -> Any:
    st = ctx.state
    parent = st.product(ctx.params["sku"])
    return [st.render_product(st.products[c], detail=False) for c in parent.children if c in st.products]


@route("GET", "/V1/configurable-products/{sku}/options/all", "Magento_Catalog::products")
def configurable_options(ctx: Ctx) -> Any:
    st = ctx.state
    parent = st.product(ctx.params["sku"])
    return st._configurable_options(parent) if parent.type_id == "configurable" else []


@route("GET", "/V1/bundle-products/{sku}/options/all", "Magento_Catalog::products")
def bundle_options(ctx: Ctx) -> Any:
    product = ctx.state.product(ctx.params["sku"])
    if product.type_id != "bundle":
        raise bad_request("This is implemented for bundle products only.")
    return product.bundle_options


@route("GET", "/V1/bundle-products/{sku}/children", "Magento_Catalog::products")
def bundle_children(ctx: Ctx) -> Any:
    st = ctx.state
    product = st.product(ctx.params["sku"])
    if product.type_id != "bundle":
        raise bad_request("This is implemented for bundle products only.")
    wanted = ctx.query_value("optionId")
    return [
        link
        for option in product.bundle_options
        for link in option["product_links"]
        if wanted is None or str(option["option_id"]) == wanted
    ]


# =================================================================== legacy stock
@route("GET", "/V1/stockItems/{sku}", "Magento_CatalogInventory::cataloginventory")
def get_stock_item(ctx: Ctx) -> Any:
    return ctx.state.stock_item(ctx.state.product(ctx.params["sku"]))


@route("GET", "/V1/stockStatuses/{sku}", "Magento_CatalogInventory::cataloginventory")
def get_stock_status(ctx: Ctx) -> Any:
    item = ctx.state.stock_item(ctx.state.product(ctx.params["sku"]))
    return {
        "product_id": item["product_id"],
        "stock_id": item["stock_id"],
        "qty": item["qty"],
        "stock_status": int(item["is_in_stock"]),
        "stock_item": item,
    }


@route("PUT", "/V1/products/{sku}/stockItems/{itemId}", "Magento_CatalogInventory::cataloginventory")
def put_stock_item(ctx: Ctx) -> Any:
    """``updateStockItemBySku``: ``{itemId}`` is ignored; writes through to the default source."""
    st = ctx.state
    product = st.product(ctx.params["sku"])
    if product.type_id in COMPOSITE_TYPES:
        raise bad_request("Product type %1 is not supported for stock item update.", [product.type_id])
    data = sales._obj(ctx.body, "stockItem")
    current = st.source_items.get(product.sku, {}).get(DEFAULT_SOURCE)
    qty = sales._float("qty", data["qty"]) if "qty" in data else (current.quantity if current else 0.0)
    status = int(bool(data.get("is_in_stock", qty > 0)))
    if "manage_stock" in data:
        product.manage_stock = bool(data["manage_stock"])
    st.save_source_items([SourceItem(product.sku, DEFAULT_SOURCE, qty, status)])
    # The stock item has no SKU field (events-reference lists product_id, item_id, qty...); the
    # save above went through SourceItemsSaveInterface, whose plugin hook names the SKU.
    st.emit("observer.cataloginventory_stock_item_save_commit_after", {"item": st.stock_item(product)})
    return product.id


# =================================================================== MSI
@route("GET", "/V1/inventory/sources", "Magento_InventoryApi::source")
def list_sources(ctx: Ctx) -> Any:
    return _search(ctx, list(ctx.state.sources.values()))


@route("GET", "/V1/inventory/sources/{sourceCode}", "Magento_InventoryApi::source")
def get_source(ctx: Ctx) -> Any:
    source = ctx.state.sources.get(ctx.params["sourceCode"])
    if source is None:
        raise ApiError(404, 'Source with code "%value" does not exist.', {"value": ctx.params["sourceCode"]})
    return source


def _save_source(ctx: Ctx, code_from_path: str | None) -> Any:
    data = sales._obj(ctx.body, "source")
    code = str(code_from_path or data.get("source_code") or "").strip()
    errors = []
    if not code:
        errors.append({"message": '"%field" can not be empty.', "parameters": {"field": "source_code"}})
    elif re.search(r"\s", code):
        errors.append(
            {"message": '"%field" can not contain whitespaces.', "parameters": {"field": "source_code"}}
        )
    existing = ctx.state.sources.get(code, {})
    if not (data.get("name") or existing.get("name")):
        errors.append({"message": '"%field" can not be empty.', "parameters": {"field": "name"}})
    for name in ("postcode", "country_id"):
        if not (data.get(name) or existing.get(name)):
            errors.append({"message": '"%field" can not be empty.', "parameters": {"field": name}})
    if errors:
        raise ApiError(400, "Validation Failed", errors=errors)
    source = dict(existing) or {"enabled": True, "use_default_carrier_config": True, "carrier_links": []}
    source.update({k: v for k, v in data.items() if k != "extension_attributes"})
    source["source_code"] = code
    if code == DEFAULT_SOURCE:
        source["enabled"] = True  # the default source cannot be disabled
    source["enabled"] = bool(source.get("enabled", True))
    ctx.state.sources[code] = source
    return None


@route("POST", "/V1/inventory/sources", "Magento_InventoryApi::source_edit")
def create_source(ctx: Ctx) -> Any:
    return _save_source(ctx, None)


@route("PUT", "/V1/inventory/sources/{sourceCode}", "Magento_InventoryApi::source_edit")
def update_source(ctx: Ctx) -> Any:
    return _save_source(ctx, ctx.params["sourceCode"])


@route("GET", "/V1/inventory/stocks", "Magento_InventoryApi::stock")
def list_stocks(ctx: Ctx) -> Any:
    return _search(ctx, list(ctx.state.stocks.values()))


@route("GET", "/V1/inventory/stocks/{stockId}", "Magento_InventoryApi::stock")
def get_stock(ctx: Ctx) -> Any:
    return ctx.state.stock_or_404(ctx.int_param("stockId"))


def _save_stock(ctx: Ctx, stock_id: int | None) -> int:
    st = ctx.state
    data = sales._obj(ctx.body, "stock")
    if stock_id is None and data.get("stock_id"):
        stock_id = sales._int("stock_id", data["stock_id"])
    if not data.get("name") and (stock_id is None or stock_id not in st.stocks):
        raise ApiError(
            400,
            "Validation Failed",
            errors=[{"message": '"%field" can not be empty.', "parameters": {"field": "name"}}],
        )
    if stock_id is None:
        stock_id = st.next_id("stock")
    else:
        st.counters["stock"] = max(st.counters.get("stock", 0), stock_id)
    stock = st.stocks.get(stock_id, {"stock_id": stock_id, "extension_attributes": {"sales_channels": []}})
    if data.get("name"):
        stock["name"] = str(data["name"])
    channels = (data.get("extension_attributes") or {}).get("sales_channels")
    if isinstance(channels, list):
        stock["extension_attributes"] = {"sales_channels": channels}
        # a sales channel belongs to one stock (inventory_stock_sales_channel is keyed by type and
        # code): assigning a website to this stock takes it off the one it was on
        taken = {(c.get("type"), c.get("code")) for c in channels if isinstance(c, dict)}
        for other_id, other in st.stocks.items():
            if other_id != stock_id:
                ext = other.setdefault("extension_attributes", {})
                ext["sales_channels"] = [c for c in ext.get("sales_channels") or []
                                         if (c.get("type"), c.get("code")) not in taken]
    st.stocks[stock_id] = stock
    return stock_id


@route("POST", "/V1/inventory/stocks", "Magento_InventoryApi::stock_edit")
def create_stock(ctx: Ctx) -> Any:
    return _save_stock(ctx, None)


@route("PUT", "/V1/inventory/stocks/{stockId}", "Magento_InventoryApi::stock_edit")
def update_stock(ctx: Ctx) -> Any:
    return _save_stock(ctx, ctx.int_param("stockId"))


@route("DELETE", "/V1/inventory/stocks/{stockId}", "Magento_InventoryApi::stock_delete")
def delete_stock(ctx: Ctx) -> Any:
    stock_id = ctx.int_param("stockId")
    ctx.state.stock_or_404(stock_id)
    if stock_id == DEFAULT_STOCK_ID:
        raise bad_request("Default Stock could not be deleted.")
    del ctx.state.stocks[stock_id]
    for key in [k for k in ctx.state.links if k[0] == stock_id]:
        ctx.state.remove_link(*key)
    return None


@route("GET", "/V1/inventory/stock-source-links", "Magento_InventoryApi::stock")
def list_links(ctx: Ctx) -> Any:
    links = [{"stock_id": s, "source_code": c, "priority": p} for (s, c), p in ctx.state.links.items()]
    return _search(ctx, links)


def _links_body(ctx: Ctx) -> list[dict[str, Any]]:
    if not isinstance(ctx.body, dict) or "links" not in ctx.body:
        raise required("links")
    links = ctx.body["links"]
    if not isinstance(links, list) or not links:
        raise bad_request("Input data is empty")
    if not all(isinstance(link, dict) for link in links):
        raise bad_request("Each link must be an object with stock_id and source_code")
    return links


@route("POST", "/V1/inventory/stock-source-links", "Magento_InventoryApi::stock_edit")
def save_links(ctx: Ctx) -> Any:
    st = ctx.state
    links = _links_body(ctx)
    for link in links:
        stock_id = sales._int("stock_id", link.get("stock_id"))
        code = str(link.get("source_code") or "")
        if stock_id not in st.stocks or code not in st.sources:
            raise bad_request("Could not save StockSourceLinks")
    for link in links:
        st.set_link(
            int(link["stock_id"]), str(link["source_code"]), sales._int("priority", link.get("priority", 0))
        )
    return []


@route("POST", "/V1/inventory/stock-source-links-delete", "Magento_InventoryApi::stock_edit")
def delete_links(ctx: Ctx) -> Any:
    for link in _links_body(ctx):
        ctx.state.remove_link(sales._int("stock_id", link.get("stock_id")), str(link.get("source_code")))
    return []


@route(
    "GET",
    "/V1/inventory/get-sources-assigned-to-stock-ordered-by-priority/{stockId}",
    "Magento_InventoryApi::stock",
)
def sources_for_stock(ctx: Ctx) -> Any:
    st = ctx.state
    stock_id = ctx.int_param("stockId")
    st.stock_or_404(stock_id)
    codes = sorted((p, c) for (s, c), p in st.links.items() if s == stock_id)
    return [st.sources[c] for _, c in codes if c in st.sources]


@route("GET", "/V1/inventory/source-items", "Magento_InventoryApi::source")
def list_source_items(ctx: Ctx) -> Any:
    index = ctx.state.source_item_index()
    criteria = parse_search_criteria(ctx.query, limits=ctx.state.input_limits)
    page, total = apply(index.rows, criteria, lambda i, n: getattr(i, n, None),
                        lookup=index.lookup, presorted=index.presorted)
    return result([i.to_api() for i in page], criteria, total)


def _source_items_body(ctx: Ctx, *, delete: bool) -> list[SourceItem]:
    if not isinstance(ctx.body, dict) or "sourceItems" not in ctx.body:
        raise required("sourceItems")
    raw_items = ctx.body["sourceItems"]
    if not isinstance(raw_items, list) or not raw_items:
        raise bad_request("Input data is empty")
    errors: list[dict[str, Any]] = []
    items = []
    for raw in raw_items:
        if not isinstance(raw, dict):
            raise type_error("sourceItems", raw, "object")
        sku = str(raw.get("sku") or "")
        code = str(raw.get("source_code") or "")
        if not sku.strip():
            errors.append({"message": '"%field" can not be empty.', "parameters": {"field": "sku"}})
        if not code.strip():
            errors.append({"message": '"%field" can not be empty.', "parameters": {"field": "source_code"}})
        elif re.search(r"\s", code):
            errors.append(
                {"message": '"%field" can not contain whitespaces.', "parameters": {"field": "source_code"}}
            )
        quantity = 0.0
        status = 0
        if not delete:
            if "quantity" in raw:
                if isinstance(raw["quantity"], bool):
                    raise type_error("quantity", raw["quantity"], "float")
                try:
                    quantity = float(raw["quantity"])
                except (TypeError, ValueError):
                    raise type_error("quantity", raw["quantity"], "float") from None
            else:
                errors.append({"message": '"%field" should be numeric.', "parameters": {"field": "quantity"}})
            if raw.get("status") not in (0, 1, "0", "1"):
                errors.append(
                    {"message": '"%field" should a known status.', "parameters": {"field": "status"}}
                )
            else:
                status = int(raw["status"])
        items.append(SourceItem(sku, code, quantity, status))
    if errors:
        raise ApiError(400, "Validation Failed", errors=errors)
    for item in items:
        if item.source_code not in ctx.state.sources:
            raise bad_request("Could not save Source Item" if not delete else "Could not delete Source Items")
    return items


@route("POST", "/V1/inventory/source-items", "Magento_InventoryApi::source_item_assign")
def save_source_items(ctx: Ctx) -> Any:
    ctx.state.save_source_items(_source_items_body(ctx, delete=False))
    return []


@route("POST", "/V1/inventory/source-items-delete", "Magento_InventoryApi::source_item_assign")
def delete_source_items(ctx: Ctx) -> Any:
    st = ctx.state
    removed = []
    for item in _source_items_body(ctx, delete=True):
        found = st.remove_source_item(item.sku, item.source_code)
        if found is not None:
            removed.append(SourceItem(item.sku, item.source_code, 0.0, 0))
    if removed:
        st.emit(
            "plugin.magento.inventory_api.api.source_items_delete.execute",
            {"sourceItems": [i.to_api() for i in removed]},
        )
    return []


@route(
    "GET", "/V1/inventory/get-product-salable-quantity/{sku}/{stockId}", "Magento_InventorySalesApi::stock"
)
def salable_qty(ctx: Ctx) -> Any:
    return _num(ctx.state.salable_quantity(ctx.params["sku"], ctx.int_param("stockId")))


@route("GET", "/V1/inventory/is-product-salable/{sku}/{stockId}", "Magento_InventorySalesApi::stock")
def is_salable(ctx: Ctx) -> Any:
    st = ctx.state
    stock_id = ctx.int_param("stockId")
    st.stock_or_404(stock_id)
    if ctx.params["sku"] not in st.products:
        return False
    return st.is_salable(ctx.params["sku"], stock_id)


@route(
    "GET",
    "/V1/inventory/is-product-salable-for-requested-qty/{sku}/{stockId}/{requestedQty}",
    "Magento_InventorySalesApi::stock",
)
def is_salable_for_qty(ctx: Ctx) -> Any:
    st = ctx.state
    stock_id = ctx.int_param("stockId")
    st.stock_or_404(stock_id)
    qty = sales._float("requestedQty", ctx.params["requestedQty"])
    if st.is_salable(ctx.params["sku"], stock_id, qty):
        return {"salable": True, "errors": []}
    return {
        "salable": False,
        "errors": [
            {
                "code": "is_salable_with_reservations-not_enough_qty",
                "message": "The requested qty is not available",
            }
        ],
    }


@route("GET", "/V1/inventory/are-products-salable", "Magento_InventorySalesApi::stock")
def are_salable(ctx: Ctx) -> Any:
    st = ctx.state
    tree = parse_brackets(ctx.query)
    raw_skus = tree.get("skus")
    skus = list(raw_skus.values()) if isinstance(raw_skus, dict) else ([raw_skus] if raw_skus else [])
    if "stockId" not in tree:
        raise required("stockId")
    stock_id = sales._int("stockId", tree["stockId"])
    st.stock_or_404(stock_id)
    return [
        {"sku": s, "stock_id": stock_id, "salable": s in st.products and st.is_salable(s, stock_id)}
        for s in skus
    ]


def _stock_for_channel(st: SandboxState, channel_type: str, channel_code: str) -> dict[str, Any]:
    return st.stock_for_channel(channel_type, channel_code)


@route("GET", "/V1/inventory/stock-resolver/{type}/{code}", "Magento_InventorySalesApi::stock")
def stock_resolver(ctx: Ctx) -> Any:
    return _stock_for_channel(ctx.state, ctx.params["type"], ctx.params["code"])


def _export_row(st: SandboxState, product: Product, stock_id: int) -> dict[str, Any] | None:
    """One row as Magento's ``PreciseExportStockProcessor::getItem`` builds it
    (magento/inventory ``InventoryExportStock/Model/PreciseExportStockProcessor.php``), in its
    order of checks:

    1. no source-item management (composites): ``qty`` 0, ``is_salable`` from ``AreProductsSalable``;
    2. ``manage_stock = 0``: ``qty`` is the DI-configured quantity for unmanaged stock, ``null``
       by default, cast to float: 0; ``is_salable`` hard-coded true;
    3. not assigned to the stock (no source item, whatever its status or quantity, in a source
       linked to the stock): ``SkuIsNotAssignedToStockException``, caught by the caller, and
       **the product is left out of the page** (None here);
    4. otherwise ``GetProductSalableQty`` (reservations and ``min_qty`` included) and
       ``AreProductsSalable``.
    """
    if product.type_id in COMPOSITE_TYPES:
        return {"sku": product.sku, "qty": 0, "is_salable": st.is_salable(product.sku, stock_id)}
    if not product.manage_stock:
        return {"sku": product.sku, "qty": 0, "is_salable": True}
    linked = st.stock_sources.get(stock_id, set())
    if not any(code in linked for code in st.source_items.get(product.sku, {})):
        return None
    return {
        "sku": product.sku,
        "qty": _num(st.salable_quantity(product.sku, stock_id)),
        "is_salable": st.is_salable(product.sku, stock_id),
    }


@route(
    "GET",
    "/V1/inventory/export-stock-salable-qty/{salesChannelType}/{salesChannelCode}",
    "Magento_InventoryApi::stock",
)
def export_stock_salable_qty(ctx: Ctx) -> Any:
    """Salable quantity of a page of *products* (the searchCriteria is the product repository's:
    fields, sort and paging are those of ``GET /V1/products``). As in Magento, products not
    assigned to the stock are left out of the page, and ``total_count`` is the number of rows on
    this page, not the number of matching products (magento/inventory#3416)."""
    st = ctx.state
    stock = _stock_for_channel(st, ctx.params["salesChannelType"], ctx.params["salesChannelCode"])
    stock_id = int(stock["stock_id"])
    criteria = parse_search_criteria(ctx.query, limits=st.input_limits)
    rows, ids = st.product_rows()
    page, _total = apply(rows, criteria, _product_getter, sorted_by="entity_id", sorted_keys=ids,
                         lookup=lambda name, keys: _products_by_sku(st, name, keys))
    rows_out = (_export_row(st, product, stock_id) for product in page)
    items = [row for row in rows_out if row is not None]  # unassigned products are left out
    return result(items, criteria, len(items))


# =================================================================== carts
@route("POST", "/V1/carts/", "Magento_Cart::manage")
def new_admin_cart(ctx: Ctx) -> Any:
    return sales.create_cart(ctx.state)


@route("POST", "/V1/customers/{customerId}/carts", "Magento_Cart::manage")
def new_customer_cart(ctx: Ctx) -> Any:
    return sales.create_cart(ctx.state, customer_id=ctx.int_param("customerId"))


@route("POST", "/V1/guest-carts", None)
def new_guest_cart(ctx: Ctx) -> Any:
    return sales.create_cart(ctx.state, guest=True)


def _render_cart(cart: dict[str, Any], st: SandboxState) -> dict[str, Any]:
    customer = st.customers.get(cart["customer_id"]) if cart["customer_id"] else None
    return {
        "id": cart["id"],
        "created_at": cart["created_at"],
        "updated_at": cart["created_at"],
        "is_active": cart["is_active"],
        "is_virtual": False,
        "items": [sales.render_cart_item(i) for i in cart["items"]],
        "items_count": len(cart["items"]),
        "items_qty": _num(sum(i["qty"] for i in cart["items"])),
        "customer": {
            "id": customer["id"],
            "email": customer["email"],
            "firstname": customer["firstname"],
            "lastname": customer["lastname"],
        }
        if customer
        else {"email": None, "firstname": None, "lastname": None},
        "reserved_order_id": cart["reserved_order_id"],
        "orig_order_id": 0,
        "currency": {"base_currency_code": sales.CURRENCY, "quote_currency_code": sales.CURRENCY},
        "customer_is_guest": customer is None,
        "store_id": 1,
    }


def _any_cart(ctx: Ctx, guest: bool) -> dict[str, Any]:
    """GET of a placed cart still answers (``is_active: false``, ``reserved_order_id``) — §7.6."""
    st = ctx.state
    ref = ctx.params["cartId"]
    cart_id = st.masked_carts.get(ref) if guest else (int(ref) if ref.isdigit() else None)
    cart = st.carts.get(cart_id) if cart_id is not None else None
    if cart is None:
        raise ApiError(
            404, "No such entity with %fieldName = %fieldValue", {"fieldName": "cartId", "fieldValue": ref}
        )
    return cart


@route("GET", "/V1/carts/{cartId}", "Magento_Cart::manage")
def get_admin_cart(ctx: Ctx) -> Any:
    return _render_cart(_any_cart(ctx, False), ctx.state)


@route("GET", "/V1/guest-carts/{cartId}", None)
def get_guest_cart(ctx: Ctx) -> Any:
    return _render_cart(_any_cart(ctx, True), ctx.state)


@route("POST", "/V1/carts/{cartId}/items", "Magento_Cart::manage")
def admin_cart_item(ctx: Ctx) -> Any:
    return sales.add_cart_item(
        ctx.state, sales.get_cart(ctx.state, ctx.params["cartId"], guest=False), ctx.body
    )


@route("POST", "/V1/guest-carts/{cartId}/items", None)
def guest_cart_item(ctx: Ctx) -> Any:
    return sales.add_cart_item(
        ctx.state, sales.get_cart(ctx.state, ctx.params["cartId"], guest=True), ctx.body
    )


@route("POST", "/V1/carts/{cartId}/shipping-information", "Magento_Cart::manage")
def admin_shipping(ctx: Ctx) -> Any:
    return sales.set_shipping_information(
        ctx.state, sales.get_cart(ctx.state, ctx.params["cartId"], guest=False), ctx.body
    )


@route("POST", "/V1/guest-carts/{cartId}/shipping-information", None)
def guest_shipping(ctx: Ctx) -> Any:
    return sales.set_shipping_information(
        ctx.state, sales.get_cart(ctx.state, ctx.params["cartId"], guest=True), ctx.body
    )


@route("PUT", "/V1/carts/{cartId}/order", "Magento_Cart::manage")
def admin_place(ctx: Ctx) -> Any:
    cart = sales.get_cart(ctx.state, ctx.params["cartId"], guest=False)
    payment = sales._obj(ctx.body, "paymentMethod", optional=True) if ctx.body is not None else {}
    return sales.place_order(ctx.state, cart, payment)


@route("PUT", "/V1/guest-carts/{cartId}/order", None)
def guest_place(ctx: Ctx) -> Any:
    cart = sales.get_cart(ctx.state, ctx.params["cartId"], guest=True)
    payment = sales._obj(ctx.body, "paymentMethod", optional=True) if ctx.body is not None else {}
    return sales.place_order(ctx.state, cart, payment)


@route("POST", "/V1/guest-carts/{cartId}/payment-information", None)
def guest_payment_information(ctx: Ctx) -> Any:
    cart = sales.get_cart(ctx.state, ctx.params["cartId"], guest=True)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if not body.get("email"):
        raise required("email")
    payment = sales._obj(body, "paymentMethod")
    return sales.place_order(
        ctx.state, cart, payment, email=str(body["email"]), billing=body.get("billingAddress")
    )


# =================================================================== orders
@route("POST", "/V1/orders", "Magento_Sales::create")
def save_order(ctx: Ctx) -> Any:
    return sales.save_order(ctx.state, ctx.body)


@route("PUT", "/V1/orders/create", "Magento_Sales::create")
def create_order(ctx: Ctx) -> Any:
    return sales.save_order(ctx.state, ctx.body)


@route("GET", "/V1/orders", "Magento_Sales::actions_view")
def list_orders(ctx: Ctx) -> Any:
    return _search(ctx, list(ctx.state.orders.values()), sorted_by="entity_id")


@route("GET", "/V1/orders/items", "Magento_Sales::actions_view")
def list_order_items(ctx: Ctx) -> Any:
    items = [i for o in ctx.state.orders.values() for i in o["items"]]
    return _search(ctx, items)


@route("GET", "/V1/orders/{id}", "Magento_Sales::actions_view")
def get_order(ctx: Ctx) -> Any:
    return sales.get_order(ctx.state, ctx.int_param("id"))


@route("GET", "/V1/orders/{id}/statuses", "Magento_Sales::actions_view")
def order_status(ctx: Ctx) -> Any:
    return sales.get_order(ctx.state, ctx.int_param("id"))["status"]


@route("GET", "/V1/orders/{id}/comments", "Magento_Sales::actions_view")
def order_comments(ctx: Ctx) -> Any:
    order = sales.get_order(ctx.state, ctx.int_param("id"))
    criteria = parse_search_criteria(ctx.query, required_param=False)
    return result(order["status_histories"], criteria, len(order["status_histories"]))


@route("POST", "/V1/orders/{id}/comments", "Magento_Sales::comment")
def post_comment(ctx: Ctx) -> Any:
    return sales.add_comment(ctx.state, ctx.int_param("id"), ctx.body)


@route("POST", "/V1/orders/{id}/cancel", "Magento_Sales::cancel")
def cancel(ctx: Ctx) -> Any:
    return sales.cancel_order(ctx.state, ctx.int_param("id"))


@route("POST", "/V1/orders/{id}/hold", "Magento_Sales::hold")
def hold(ctx: Ctx) -> Any:
    return sales.hold_order(ctx.state, ctx.int_param("id"))


@route("POST", "/V1/orders/{id}/unhold", "Magento_Sales::unhold")
def unhold(ctx: Ctx) -> Any:
    return sales.unhold_order(ctx.state, ctx.int_param("id"))


# =================================================================== documents
@route("POST", "/V1/order/{orderId}/invoice", "Magento_Sales::invoice")
def invoice(ctx: Ctx) -> Any:
    return sales.invoice_order(ctx.state, ctx.int_param("orderId"), ctx.body)


@route("GET", "/V1/invoices", "Magento_Sales::sales_invoice")
def list_invoices(ctx: Ctx) -> Any:
    return _search(ctx, list(ctx.state.invoices.values()), sorted_by="entity_id")


@route("GET", "/V1/invoices/{id}", "Magento_Sales::sales_invoice")
def get_invoice(ctx: Ctx) -> Any:
    found = ctx.state.invoices.get(ctx.int_param("id"))
    if found is None:
        raise not_found_entity()
    return found


@route("POST", "/V1/order/{orderId}/ship", "Magento_Sales::ship")
def ship(ctx: Ctx) -> Any:
    return sales.ship_order(ctx.state, ctx.int_param("orderId"), ctx.body)


@route("GET", "/V1/shipments", "Magento_Sales::shipment")
def list_shipments(ctx: Ctx) -> Any:
    return _search(ctx, list(ctx.state.shipments.values()), sorted_by="entity_id")


@route("GET", "/V1/shipment/{id}", "Magento_Sales::shipment")
def get_shipment(ctx: Ctx) -> Any:
    found = ctx.state.shipments.get(ctx.int_param("id"))
    if found is None:
        raise not_found_entity()
    return found


@route("POST", "/V1/shipment/track", "Magento_Sales::shipment")
def add_track(ctx: Ctx) -> Any:
    return sales.add_track(ctx.state, ctx.body)


@route("DELETE", "/V1/shipment/track/{id}", "Magento_Sales::shipment")
def delete_track(ctx: Ctx) -> Any:
    return sales.delete_track(ctx.state, ctx.int_param("id"))


@route("POST", "/V1/order/{orderId}/refund", "Magento_Sales::creditmemo")
def refund_order(ctx: Ctx) -> Any:
    return sales.refund(ctx.state, ctx.int_param("orderId"), ctx.body)


@route("POST", "/V1/invoice/{invoiceId}/refund", "Magento_Sales::sales_invoice")
def refund_invoice(ctx: Ctx) -> Any:
    return sales.refund_invoice(ctx.state, ctx.int_param("invoiceId"), ctx.body)


@route("GET", "/V1/creditmemos", "Magento_Sales::sales_creditmemo")
def list_creditmemos(ctx: Ctx) -> Any:
    return _search(ctx, list(ctx.state.creditmemos.values()), sorted_by="entity_id")


@route("GET", "/V1/creditmemo/{id}", "Magento_Sales::sales_creditmemo")
def get_creditmemo(ctx: Ctx) -> Any:
    found = ctx.state.creditmemos.get(ctx.int_param("id"))
    if found is None:
        raise not_found_entity()
    return found
