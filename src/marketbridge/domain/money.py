"""Money is ``Decimal``: the one place where amounts cross into and out of other forms.

Why: a float cannot hold 19.99, and sums of floats drift (0.1 + 0.2 != 0.3), so a total compared
with Adobe Commerce's, or a refund checked against what remains, can be off by a fraction of a
penny. Inside marketbridge every amount (prices, totals, shipping, tax, commission, refunds) is a
``Decimal``; the database stores it in ``NUMERIC`` columns (see the models and migration
``0011_money_decimal``).

The edges, and the form money takes there:

* **In, from JSON** (Mirakl and Adobe Commerce send JSON numbers, which their pydantic wire models
  read as ``float``): :func:`to_money` goes through ``str`` (the shortest repr), so the float read
  from ``19.99`` becomes exactly ``Decimal("19.99")``. Strings (the stock tables keep prices as
  canonical decimal strings, e.g. ``"19.99"``) are read the same way.
* **Out, as JSON numbers** (the OR28 refund body, the Adobe Commerce order and credit memo, our own
  JSON API and CLI, which have always returned numbers): :func:`wire_number` is the only sanctioned
  ``Decimal -> float`` step, done at the last moment, on a value already rounded to its scale.
  A test (tests/unit/test_money_guard.py) fails on any other ``float(...)`` of a money-named value
  in the domain and services.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

PENNY = Decimal("0.01")
"""The scale of stored amounts: ``NUMERIC(12, 2)``, as the refunds tables always used."""
UNIT_PRICE_SCALE = Decimal("0.0001")
"""The scale of a per-unit price derived by division (``NUMERIC(14, 4)``, as Adobe Commerce's own
``decimal(20,4)`` price columns), so ``10.00 / 3`` keeps ``3.3333`` rather than a rounded penny."""
ZERO = Decimal("0.00")


def to_money(value: Any) -> Decimal:
    """An amount as ``Decimal`` (``None`` and ``""`` are zero). Floats go through ``str``."""
    result = to_money_or_none(value)
    return ZERO if result is None else result


def to_money_or_none(value: Any) -> Decimal | None:
    """An amount as ``Decimal``, or ``None`` when absent or not a finite number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def quantize(value: Decimal, scale: Decimal = PENNY) -> Decimal:
    """Round half-up to ``scale`` (pennies by default), as the ``NUMERIC`` columns store it."""
    return value.quantize(scale, rounding=ROUND_HALF_UP)


def canonical(value: Decimal, scale: Decimal = UNIT_PRICE_SCALE) -> str:
    """The canonical decimal string of an amount (``"19.99"``, ``"20"``): rounded half-up to
    ``scale``, trailing zeros dropped. The stock tables store prices in this form."""
    text = f"{quantize(value, scale):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def wire_number(value: Decimal | None) -> float | None:
    """An amount as a JSON number for a wire format that has always carried numbers.

    This is the only ``Decimal -> float`` conversion of money: JSON has no decimal type and the
    receivers (Mirakl, Adobe Commerce, our API's clients) read numbers. The float is the nearest
    double to the decimal, so it prints back as the same digits (``19.99``), which is what the old
    float columns produced too.
    """
    return None if value is None else float(value)
