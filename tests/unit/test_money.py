"""The money helpers: where an amount changes form, it keeps its digits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketbridge.domain.money import canonical, quantize, to_money, to_money_or_none, wire_number
from marketbridge.services.stock.reading import _money as stock_price_text


@pytest.mark.parametrize("value, expected", [
    (19.99, "19.99"), ("19.99", "19.99"), (0.1 + 0.2, "0.30000000000000004"), (1234567.89, "1234567.89"),
    (0, "0"), (-4.5, "-4.5"), (Decimal("3.3333"), "3.3333"), (" 7.10 ", "7.10"),
])
def test_to_money_reads_floats_and_strings_by_their_digits(value, expected):
    assert to_money(value) == Decimal(expected) and str(to_money(value)) == expected


@pytest.mark.parametrize("value", [None, "", "abc", float("nan"), float("inf"), True, [1]])
def test_absent_or_unreadable_amounts_are_none(value):
    assert to_money_or_none(value) is None
    assert to_money(value) == Decimal("0.00")


def test_rounding_is_half_up_to_the_scale():
    assert quantize(Decimal("2.675")) == Decimal("2.68") and quantize(Decimal("-2.675")) == Decimal("-2.68")
    assert quantize(to_money(0.1 + 0.2)) == Decimal("0.30")


@given(st.decimals(-10**9, 10**9, places=2))
def test_a_penny_amount_survives_the_json_number_round_trip(amount):
    """Decimal -> JSON number (float) -> back through str: the same amount, for every penny value a
    NUMERIC(12, 2) column holds."""
    assert to_money(wire_number(amount)) == amount


def test_stock_price_strings_are_canonical_and_never_go_through_float():
    assert [stock_price_text(v) for v in (19.99, "19.99", 20.0, 0, "12.3400", 1234567.89, 12999.99)] == [
        "19.99", "19.99", "20", "0", "12.34", "1234567.89", "12999.99"]
    assert stock_price_text(None) is None and stock_price_text("n/a") is None
    assert canonical(Decimal("1.00005")) == "1.0001"  # half-up on the decimal, not on the binary float
