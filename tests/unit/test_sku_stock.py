"""What one SKU publishes: the pure compute() on its stored state (no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from marketbridge.domain.sku_stock import SkuStock, compute
from marketbridge.domain.stock import Kind, Scope, validate_rule

TODAY = dt.date(2026, 6, 15)


def rule(kind: Kind, scope: Scope = Scope.GLOBAL, key: str = "", **params):
    return validate_rule(kind, scope, key, params)


def values(stock: SkuStock, rules=(), *, as_simple: frozenset[str] = frozenset(), unmanaged_default: int = 100,
           sold: float = 0.0):
    return compute(stock, list(rules), TODAY, as_simple, unmanaged_default=unmanaged_default, sold_not_created=sold)


def row(**changes) -> dict:
    """A ``sku_states`` row as the services load it (only the columns compute reads, and more)."""
    base = {"sku": "MB-1", "type_id": "simple", "enabled": True, "manage_stock": True, "attributes": {},
            "category_ids": [], "magento_qty": 12.0, "published_qty": None, "price": "20.00",
            "special_price": None, "special_from": None, "special_to": None, "min_qty": 0.0, "stock_rule": ""}
    base.update(changes)
    return base


def test_a_simple_product_publishes_its_salable_quantity_and_price():
    assert values(SkuStock(sku="A", magento_qty=7.9, price=Decimal("20.00"))) == ((7, "none"), (Decimal("20.00"), "price"))


@pytest.mark.parametrize("type_id", ["configurable", "bundle", "grouped"])
def test_composites_have_no_offer_of_their_own(type_id):
    assert values(SkuStock(sku="P", type_id=type_id, magento_qty=5, published_qty=3)) == (None, (None, "composite"))


def test_an_excluded_product_publishes_nothing_and_says_why():
    qty, (price, price_rule) = values(SkuStock(sku="V", type_id="virtual", magento_qty=5, price=Decimal("9")))
    assert qty is None and price is None
    assert price_rule.startswith("not on the marketplace: ") and len(price_rule) <= 255


def test_an_excluded_product_that_had_an_offer_is_drained_to_zero():
    stock = SkuStock(sku="E", attributes={"required_options": "1"}, magento_qty=5, published_qty=4)
    (qty, qty_rule), (price, price_rule) = values(stock)
    assert qty == 0 and price is None and qty_rule == price_rule
    assert "required custom option" in qty_rule


def test_a_publish_as_simple_rule_keeps_a_product_with_required_options_on_sale():
    stock = SkuStock(sku="E", attributes={"required_options": "1"}, magento_qty=5)
    assert values(stock, as_simple=frozenset({"E"}))[0] == (5, "none")


def test_disabled_unmanaged_and_unknown_stock():
    assert values(SkuStock(sku="A", enabled=False, magento_qty=9))[0] == (0, "disabled")
    assert values(SkuStock(sku="A", manage_stock=False), unmanaged_default=25)[0] == (25, "unmanaged-default")
    assert values(SkuStock(sku="A", magento_qty=None))[0] == (0, "out-of-stock")


def test_stock_rules_apply_by_scope():
    rules = [rule(Kind.STOCK, buffer=2), rule(Kind.STOCK, Scope.CATEGORY, "12", max_quantity=5),
             rule(Kind.STOCK, Scope.ATTRIBUTE, "brand=Acme", zero_below=20)]
    assert values(SkuStock(sku="A", magento_qty=10), rules)[0][0] == 8
    assert values(SkuStock(sku="A", magento_qty=10, category_ids=("12",)), rules)[0][0] == 5
    assert values(SkuStock(sku="A", magento_qty=10, attributes={"brand": "Acme"}), rules)[0][0] == 0


def test_units_sold_but_not_yet_in_adobe_commerce_stay_off_the_offer():
    qty, qty_rule = values(SkuStock(sku="A", magento_qty=10), sold=3)[0]
    assert qty == 7
    assert qty_rule == "none; 3 sold on the marketplace, not yet in Adobe Commerce"
    assert values(SkuStock(sku="A", magento_qty=2), sold=3)[0][0] == 0  # never negative
    # a product that does not manage stock publishes its default, sale or not, and says nothing of it
    assert values(SkuStock(sku="A", manage_stock=False), sold=3, unmanaged_default=40)[0] == (40, "unmanaged-default")


def test_price_rules_and_special_price_within_its_dates():
    rules = [rule(Kind.PRICE, markup_percent=10, rounding="0.99")]
    assert values(SkuStock(sku="A", price=Decimal("20.00")), rules)[1] == (Decimal("21.99"), "price+global")
    special = SkuStock(sku="A", price=Decimal("20.00"), special_price=Decimal("15.00"),
                       special_from=TODAY - dt.timedelta(days=1), special_to=TODAY + dt.timedelta(days=1))
    assert values(special)[1] == (Decimal("15.00"), "special")
    expired = SkuStock(sku="A", price=Decimal("20.00"), special_price=Decimal("15.00"), special_to=TODAY - dt.timedelta(days=1))
    assert values(expired)[1] == (Decimal("20.00"), "price")
    assert values(SkuStock(sku="A", price=None))[1] == (None, "no-price")


def test_a_stored_row_becomes_the_value_with_bad_fields_read_as_absent():
    stock = SkuStock.of(row(price="19.99", special_price="abc", special_from="2026-06-01 00:00:00", special_to="soon",
                            attributes=None, category_ids=None, enabled=1))
    assert stock == SkuStock(sku="MB-1", magento_qty=12.0, price=Decimal("19.99"), special_from=dt.date(2026, 6, 1))
    assert SkuStock.of(row(price="")).price is None


def test_the_value_is_frozen():
    stock = SkuStock(sku="A")
    with pytest.raises(AttributeError):
        stock.magento_qty = 3  # type: ignore[misc]
