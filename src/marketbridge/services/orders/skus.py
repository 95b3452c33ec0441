"""SKU resolution and the facts an acceptance decision needs (salable quantity, channel price,
units other undecided orders already hold).

:func:`resolve_sku` is the one place an offer SKU is mapped to an Adobe Commerce SKU: a
person-confirmed link, else exact, else normalised (whitespace or case), else none.

Storage comes in through ports, not a session: the SKU links (:class:`marketbridge.ports.SkuLinks`),
the stock flow's rules (:class:`marketbridge.ports.StockRecords`) and the other open orders
(:class:`marketbridge.ports.OrdersRepository`), so these facts are computed on fakes in unit tests.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from marketbridge.adapters.errors import NotFound, Rejected
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.magento.criteria import SearchCriteria
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.money import to_money, to_money_or_none
from marketbridge.domain.orders import SkuMatch
from marketbridge.ports import MagentoPort, SkuLinks, StockRecords
from marketbridge.ports.orders import OrdersRepository
from marketbridge.runtime import Runtime
from marketbridge.settings import Settings

if TYPE_CHECKING:
    from marketbridge.domain.stock import Rule


class Catalog:
    """Reads Adobe Commerce products for the SKU checks and the cart, through a small cache shared
    by the whole process (``ttl`` seconds; salable quantities are never cached)."""

    PRODUCT_TTL = 30.0
    PARENTS_TTL = 600.0

    def __init__(self, magento: MagentoPort, shared: dict[str, Any] | None = None) -> None:
        self.magento = magento
        shared = shared if shared is not None else {}
        self._products: dict[str, tuple[float, magento_models.Product | None]] = shared.setdefault("orders.products", {})
        self._parents: dict[str, Any] = shared.setdefault("orders.parents", {})

    @classmethod
    def of(cls, runtime: Runtime) -> Catalog:
        return cls(runtime.magento, runtime.extras)

    def product(self, sku: str) -> magento_models.Product | None:
        cached = self._products.get(sku)
        if cached is not None and time.monotonic() - cached[0] < self.PRODUCT_TTL:
            return cached[1]
        try:
            product: magento_models.Product | None = self.magento.get_product(sku)
        except NotFound:
            product = None
        self._products[sku] = (time.monotonic(), product)
        return product

    def _scan_parents(self) -> dict[int, str]:
        links: dict[int, str] = {}
        criteria = SearchCriteria().where("type_id", "configurable")
        for parent in self.magento.iterate_products(criteria=criteria):
            self._products[parent.sku] = (time.monotonic(), parent)
            for child_id in parent.extension_attributes.configurable_product_links:
                links[int(child_id)] = parent.sku
        self._parents.update({"at": time.monotonic(), "links": links})
        return links

    def parent_of(self, product: magento_models.Product) -> magento_models.Product | None:
        """The configurable parent of a child product. Only products not visible on their own
        (visibility 1, as Magento creates configurable children) are looked up; the child → parent
        map comes from one paged scan of configurable products, cached and rescanned on a miss."""
        if product.id is None or product.visibility not in (None, 1):
            return None
        links = self._parents.get("links")
        age = time.monotonic() - self._parents.get("at", 0.0)
        if links is None or age > self.PARENTS_TTL or (product.id not in links and age > 60):
            links = self._scan_parents()
        sku = links.get(product.id)
        return self.product(sku) if sku else None


def resolve_sku(catalog: Catalog, offer_sku: str, linked: str | None = None) -> tuple[str | None, SkuMatch]:
    """Map a marketplace offer SKU to a Magento SKU: a person-confirmed link (``linked``, from the
    catalogue's SKU link table), else exact, else normalised (stray whitespace or letter case,
    accepted with a warning issue), else none. The one place SKU resolution lives."""
    if linked:
        product = catalog.product(linked)
        if product is not None:
            return product.sku, SkuMatch.LINKED
    product = catalog.product(offer_sku) if offer_sku and offer_sku == offer_sku.strip() else None
    if product is not None and product.sku == offer_sku:
        return product.sku, SkuMatch.EXACT
    candidate = offer_sku.strip()
    if candidate:
        product = catalog.product(candidate)
        if product is None and candidate.upper() != candidate:
            product = catalog.product(candidate.upper())
        if product is not None and orders_domain.normalise_sku(product.sku) == orders_domain.normalise_sku(offer_sku):
            return product.sku, SkuMatch.NORMALISED
    return None, SkuMatch.NONE


def confirmed_links(links: SkuLinks, offer_skus: Iterable[str]) -> dict[str, str]:
    """Person-confirmed offer SKU → Magento SKU links (catalogue flow). A link never names the same
    SKU on both sides (the catalogue refuses it), so a SKU that maps to itself has no link."""
    out = {}
    for sku in set(offer_skus):
        target = links.magento_sku_for(sku)
        if target and target != sku:
            out[sku] = target
    return out


def price_rules(stock: StockRecords) -> list[Rule]:
    """The stock flow's price rules (one definition of the channel price everywhere). No fallback:
    a read that fails must fail loudly, never price an order without its rules."""
    return list(stock.rules())


def _salable(runtime: Runtime, catalog: Catalog, product: magento_models.Product) -> float:
    stock_id = runtime.stock_id
    if product.type_id == "bundle":
        parts = [(link.sku, link.qty or 1.0) for option in runtime.magento.bundle_options(product.sku)
                 for link in option.product_links if link.is_default]
        if not parts:
            return 0.0
        return min(runtime.magento.salable_quantity(sku, stock_id) / qty for sku, qty in parts)
    try:
        return runtime.magento.salable_quantity(product.sku, stock_id)
    except (NotFound, Rejected):
        return 0.0


def _channel_price(product: magento_models.Product, price_rule_rows: Sequence[Any]) -> tuple[Decimal | None, str]:
    """The stock flow's channel price for the product (price rules applied), else Magento's own final
    price (the special price when lower) if the product's data does not fit that rule."""
    from marketbridge.domain import stock as stock_domain

    try:
        facts = stock_domain.PriceFacts(price=to_money_or_none(product.price),
                                       special_price=to_money_or_none(product.special_price) if product.special_price else None)
        attributes = {a.attribute_code: str(a.value) for a in product.custom_attributes if not isinstance(a.value, list)}
        categories: list[Any] = next((a.value for a in product.custom_attributes if a.attribute_code == "category_ids"), []) or []
        pf = stock_domain.ProductFacts(sku=product.sku, enabled=product.enabled, type_id=product.type_id,
                                      attributes=attributes, category_ids=[str(c) for c in categories])
        value, how = stock_domain.channel_price(facts, pf, price_rule_rows, dt.date.today())
        return value, f"channel_price:{how}"
    except (AttributeError, TypeError):
        prices = [to_money(p) for p in (product.price, product.special_price) if p]
        return (min(prices) if prices else None), "magento_price"


def open_reservations(orders: OrdersRepository, settings: Settings, order_id: str) -> dict[str, float]:
    """Per Magento SKU, the units other orders not yet in Adobe Commerce may still take (lines we
    refused take nothing): Magento's salable quantity does not know them yet, so an acceptance
    decision subtracts them before it trusts that quantity."""
    states = [s.value for s in orders_domain.PRE_CREATION_STATES]
    lines = orders.lines_in_states(settings.order_connection, states)
    return orders_domain.reserved_by_other_orders(
        ((line.order_id, line.magento_sku, line.quantity) for line in lines if line.accepted is not False), order_id)
