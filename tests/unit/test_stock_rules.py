"""Pure stock and price rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketbridge.domain.stock import (
    Kind,
    PriceFacts,
    ProductFacts,
    Rounding,
    Rule,
    RuleError,
    Scope,
    channel_price,
    classify_line_error,
    import_rows,
    offer_exclusion,
    plan_lanes,
    publishable_quantity,
    round_price,
    validate_rule,
)

FACTS = ProductFacts(sku="MB-1", attributes={"brand": "Acme"}, category_ids=["12"])


def stock_rule(scope: Scope, key: str = "", **params) -> Rule:
    return validate_rule(Kind.STOCK, scope, key, params)


def test_no_rules_publishes_the_salable_quantity_rounded_down():
    assert publishable_quantity(7.9, FACTS, []) == (7, "none")


def test_state_comes_before_rules():
    rules = [stock_rule(Scope.GLOBAL, buffer=1)]
    assert publishable_quantity(50, ProductFacts(sku="A", enabled=False), rules) == (0, "disabled")
    assert publishable_quantity(0, ProductFacts(sku="A", manage_stock=False), rules, unmanaged_default=25) == (
        25, "unmanaged-default")
    assert publishable_quantity(0, FACTS, rules) == (0, "out-of-stock")
    assert publishable_quantity(None, FACTS, rules) == (0, "out-of-stock")


def test_buffer_allocation_max_and_zero_below_in_that_order():
    rules = [stock_rule(Scope.GLOBAL, buffer=2, allocation_percent=50, max_quantity=20, zero_below=3)]
    assert publishable_quantity(100, FACTS, rules)[0] == 20  # (100-2)*50% = 49 -> capped 20
    assert publishable_quantity(10, FACTS, rules)[0] == 4  # (10-2)*50% = 4
    assert publishable_quantity(7, FACTS, rules)[0] == 0  # (7-2)*50% = 2 < 3 -> 0
    assert publishable_quantity(1, FACTS, rules)[0] == 0  # never negative


def test_more_specific_rules_override_field_by_field():
    rules = [
        stock_rule(Scope.GLOBAL, buffer=5, max_quantity=100),
        stock_rule(Scope.CATEGORY, "12", max_quantity=50),
        stock_rule(Scope.ATTRIBUTE, "brand=Acme", buffer=1),
        stock_rule(Scope.SKU, "MB-1", max_quantity=10),
        stock_rule(Scope.SKU, "OTHER", max_quantity=1),
    ]
    qty, applied = publishable_quantity(200, FACTS, rules)
    assert qty == 10
    assert applied == "global+category:12+attribute:brand=Acme+sku:MB-1"
    assert publishable_quantity(30, FACTS, rules)[0] == 10  # buffer 1 (attribute) then max 10


@pytest.mark.parametrize("scope,key,params,message", [
    (Scope.GLOBAL, "x", {"buffer": 1}, "no scope key"),
    (Scope.SKU, "", {"buffer": 1}, "needs a scope key"),
    (Scope.ATTRIBUTE, "brand", {"buffer": 1}, "code=value"),
    (Scope.GLOBAL, "", {"buffer": -1}, "0 or more"),
    (Scope.GLOBAL, "", {"buffer": 1.5}, "whole number"),
    (Scope.GLOBAL, "", {"allocation_percent": 150}, "between 0 and 100"),
    (Scope.GLOBAL, "", {"markup": 1}, "unknown stock rule field"),
    (Scope.GLOBAL, "", {}, "at least one field"),
])
def test_bad_rules_are_refused_with_a_plain_message(scope, key, params, message):
    with pytest.raises(RuleError, match=message):
        validate_rule(Kind.STOCK, scope, key, params)


def test_price_rounding():
    assert round_price(Decimal("12.30"), Rounding.END_99) == Decimal("11.99")
    assert round_price(Decimal("12.70"), Rounding.END_99) == Decimal("12.99")
    assert round_price(Decimal("0.20"), Rounding.END_99) == Decimal("0.99")
    assert round_price(Decimal("12.345"), Rounding.NONE) == Decimal("12.35")
    assert round_price(Decimal("12.5"), Rounding.WHOLE) == Decimal("13.00")


def test_special_price_only_within_its_dates_and_when_lower():
    today = dt.date(2026, 11, 27)
    facts = PriceFacts(price=Decimal("20"), special_price=Decimal("15"),
                       special_from=dt.date(2026, 11, 1), special_to=dt.date(2026, 11, 30))
    assert channel_price(facts, FACTS, [], today) == (Decimal("15.00"), "special")
    expired = PriceFacts(price=Decimal("20"), special_price=Decimal("15"), special_to=dt.date(2026, 11, 26))
    assert channel_price(expired, FACTS, [], today)[0] == Decimal("20.00")
    higher = PriceFacts(price=Decimal("20"), special_price=Decimal("25"))
    assert channel_price(higher, FACTS, [], today)[0] == Decimal("20.00")
    assert channel_price(PriceFacts(price=None), FACTS, [], today) == (None, "no-price")


def test_price_rules_markup_then_fixed_then_rounding():
    rules = [validate_rule(Kind.PRICE, Scope.GLOBAL, "", {"markup_percent": 10, "fixed_amount": 1.5}),
             validate_rule(Kind.PRICE, Scope.SKU, "MB-1", {"rounding": "0.99"})]
    price, applied = channel_price(PriceFacts(price=Decimal("20")), FACTS, rules, dt.date(2026, 1, 1))
    assert price == Decimal("23.99")  # 20 * 1.1 + 1.5 = 23.50 -> nearest .99 (tie goes up)
    assert applied == "price+global+sku:MB-1"


def test_lanes_never_use_of24_and_share_of01():
    lanes = plan_lanes(stock_enabled=True, price_enabled=True, stock_api="OF01", price_api="OF01")
    assert [(lane.api, lane.kinds) for lane in lanes] == [("OF01", (Kind.STOCK, Kind.PRICE))]
    lanes = plan_lanes(stock_enabled=True, price_enabled=False, stock_api="STO01", price_api="PRI01")
    assert [lane.api for lane in lanes] == ["STO01"]
    with pytest.raises(ValueError, match="never OF24"):
        plan_lanes(stock_enabled=True, price_enabled=True, stock_api="OF24", price_api="PRI01")


def test_of01_stock_file_carries_only_the_stock_columns():
    columns, rows = import_rows("OF01", {"A": {"quantity": "3"}})
    assert columns == ["sku", "quantity", "update-delete"]
    assert rows == [{"sku": "A", "quantity": "3", "update-delete": "update"}]
    assert import_rows("STO01", {"A": {"quantity": "3"}}) == (["offer-sku", "quantity"],
                                                                [{"offer-sku": "A", "quantity": "3"}])


def test_unknown_offer_messages_are_recognised():
    assert classify_line_error("The offer does not exist") == "unknown_offer"
    assert classify_line_error("The product does not exist") == "unknown_offer"
    assert classify_line_error("The quantity 'x' is not a valid positive integer") == "rejected"


@given(salable=st.floats(min_value=-10, max_value=1e6, allow_nan=False),
       buffer=st.integers(0, 50), pct=st.floats(0, 100), cap=st.integers(0, 1000), floor_=st.integers(0, 20))
def test_quantity_is_never_negative_nor_above_cap_nor_above_salable(salable, buffer, pct, cap, floor_):
    rules = [stock_rule(Scope.GLOBAL, buffer=buffer, allocation_percent=pct, max_quantity=cap, zero_below=floor_)]
    qty, _ = publishable_quantity(salable, FACTS, rules)
    assert 0 <= qty <= cap
    assert qty <= max(0, salable)
    assert qty == 0 or qty >= floor_


@given(value=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2),
       rounding=st.sampled_from(list(Rounding)))
def test_rounded_prices_are_positive_and_close(value, rounding):
    result = round_price(value, rounding)
    assert result > 0
    assert abs(result - value) <= Decimal("1.00")
    if rounding is Rounding.END_99:
        assert str(result).endswith(".99")


@pytest.mark.parametrize(("type_id", "attributes", "as_simple", "has_offer"), [
    ("simple", {}, False, True),
    ("simple", {"required_options": "0"}, False, True),
    ("simple", {"required_options": "1"}, False, False),  # engraving text nobody can type in
    ("simple", {"required_options": "1"}, True, True),  # publish_as_simple rule
    ("virtual", {}, False, False),
    ("virtual", {}, True, False),  # a rule cannot make a gift card shippable
    ("downloadable", {}, False, False),
])
def test_stock_pushes_only_what_the_catalogue_publishes(type_id, attributes, as_simple, has_offer):
    reason = offer_exclusion(type_id, attributes, publish_as_simple=as_simple)
    assert (reason is None) is has_offer
    if reason is not None:
        assert len(reason) > 20  # a sentence for the per-SKU view, not a code
