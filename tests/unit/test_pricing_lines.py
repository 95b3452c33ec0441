"""Issue 14 item 5: PRI01 deletes every price of an offer it does not list, so the lines we send
are the offer's whole price set, by setting ``price_discounts``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from marketbridge.domain.pricing import HeldPrice, VolumePrice, file_columns, keep_lines, magento_lines
from marketbridge.domain.stock import Kind, PriceFacts, ProductFacts, Rule, Scope

D = Decimal
TODAY = dt.date(2026, 12, 7)
PRODUCT = ProductFacts(sku="A", enabled=True, type_id="simple", manage_stock=True)


def test_keep_sends_our_price_with_the_discount_and_every_other_price_held() -> None:
    held = [HeldPrice(price=D("50"), discount=D("40"), discount_start="2026-12-01T00:00:00Z",
                      discount_end="2026-12-31T23:59:59Z",
                      volume=(VolumePrice(1, D("50"), D("40")), VolumePrice(10, D("45"), D("38")))),
            HeldPrice(price=D("55"), channels=("JL-APP",))]
    lines = keep_lines("A", "48.00", held)
    assert lines.dropped == ()
    default, channel = lines.rows
    assert (default["price"], default["discount-price"], default["discount-start-date"]) == ("48.00", "40.00",
                                                                                              "2026-12-01T00:00:00Z")
    assert (default["price-ranges"], default["discount-ranges"]) == ("1|48.00,10|45.00", "1|40.00,10|38.00")
    assert (channel["price"], channel["channels"], channel["discount-price"]) == ("55.00", "JL-APP", "")
    assert "channels" in file_columns(lines.rows) and "customer-group-ids" not in file_columns(lines.rows)


def test_keep_drops_a_discount_no_longer_below_our_price_and_says_so() -> None:
    lines = keep_lines("A", "39.00", [HeldPrice(price=D("50"), discount=D("40"))])
    assert lines.rows == [{"offer-sku": "A", "price": "39.00", "discount-price": "", "discount-start-date": "",
                           "discount-end-date": "", "channels": "", "start-date": "", "end-date": "",
                           "customer-organization-ids": "", "customer-group-ids": ""}]
    assert lines.dropped and "40.00" in lines.dropped[0]


def test_keep_without_anything_held_sends_the_price_alone() -> None:
    assert keep_lines("A", "10.00", []).rows == [{"offer-sku": "A", "price": "10.00"}]


def test_magento_sends_the_regular_price_and_the_special_price_as_the_discount_with_its_dates() -> None:
    facts = PriceFacts(price=D("50"), special_price=D("40"), special_from=dt.date(2026, 12, 1),
                       special_to=dt.date(2026, 12, 24))
    markup = [Rule(kind=Kind.PRICE, scope=Scope.GLOBAL, scope_key="", params={"markup_percent": 10})]
    [row] = magento_lines("A", facts, PRODUCT, markup, TODAY, "44.00").rows
    assert row == {"offer-sku": "A", "price": "55.00", "discount-price": "44.00",
                   "discount-start-date": "2026-12-01T00:00:00Z", "discount-end-date": "2026-12-24T23:59:59Z"}


def test_magento_sends_a_future_special_price_with_its_dates_and_no_expired_one() -> None:
    future = PriceFacts(price=D("50"), special_price=D("40"), special_from=dt.date(2026, 12, 20))
    [row] = magento_lines("A", future, PRODUCT, [], TODAY, "50.00").rows
    assert (row["discount-price"], row["discount-start-date"], row["discount-end-date"]) == (
        "40.00", "2026-12-20T00:00:00Z", "")
    expired = PriceFacts(price=D("50"), special_price=D("40"), special_to=dt.date(2026, 12, 1))
    assert magento_lines("A", expired, PRODUCT, [], TODAY, "50.00").rows == [{"offer-sku": "A", "price": "50.00"}]
