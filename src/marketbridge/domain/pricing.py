"""The PRI01 file of one offer. PRI01 is "delete and replace: any existing price that is not
submitted will be deleted" (SPEC PRI01): one line with only ``price`` wipes the offer's discount and
its dates, its volume prices, and every channel, scheduled or customer price. Two ways never to do
that silently (setting ``price_discounts``):

* ``keep``: the offer's prices as the marketplace holds them now (OF21 ``all_prices``) are sent back
  with ours: our price replaces the default price only; its discount (when still below our price),
  volume prices and every other price line are resent as they are.
* ``magento``: Magento owns the discount: ``price`` is the regular price, ``discount-price`` the
  special price with ``special_from_date``/``special_to_date`` as its dates (both after the price
  rules). Prices set in the Mirakl back office are replaced, by choice.

Wire format (SPEC PRI01 ``file``): ``offer-sku;price;discount-price;discount-start-date;
discount-end-date`` plus ``price-ranges``/``discount-ranges`` (``1|20,10|15``), ``channels``,
``start-date``/``end-date`` and ``customer-organization-ids``/``customer-group-ids`` (``|``-separated).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from marketbridge.domain.stock import PriceFacts, ProductFacts, Rule, channel_price, format_price

PRICE_FILE_COLUMNS = ["offer-sku", "price", "discount-price", "discount-start-date", "discount-end-date",
                      "price-ranges", "discount-ranges", "channels", "start-date", "end-date",
                      "customer-organization-ids", "customer-group-ids"]


BASE_COLUMNS = PRICE_FILE_COLUMNS[:5]


def file_columns(rows: Iterable[dict[str, str]]) -> list[str]:
    """The base columns, plus each advanced-pricing column only when a line uses it: an operator
    without channel, volume, scheduled or customer pricing may not know those columns."""
    rows = list(rows)
    return [c for c in PRICE_FILE_COLUMNS if c in BASE_COLUMNS or any(row.get(c) for row in rows)]


@dataclass(frozen=True)
class VolumePrice:
    threshold: int
    price: Decimal
    discount: Decimal | None = None


@dataclass(frozen=True)
class HeldPrice:
    """One price line of an offer as the marketplace holds it (an OF21 ``all_prices`` entry)."""

    price: Decimal
    discount: Decimal | None = None
    discount_start: str | None = None
    discount_end: str | None = None
    channels: tuple[str, ...] = ()
    customer_organizations: tuple[str, ...] = ()
    customer_groups: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    volume: tuple[VolumePrice, ...] = ()

    @property
    def is_default(self) -> bool:
        return not (self.channels or self.customer_organizations or self.customer_groups or self.start or self.end)


@dataclass(frozen=True)
class PriceLines:
    """An offer's PRI01 lines, and what could not be kept (said in the log and the push result)."""

    rows: list[dict[str, str]]
    dropped: tuple[str, ...] = ()


def _ranges(volume: Iterable[VolumePrice], first: Decimal | None, *, discounts: bool) -> str:
    parts = []
    for v in sorted(volume, key=lambda v: v.threshold):
        value = first if v.threshold <= 1 else (v.discount if discounts else v.price)
        if value is not None:
            parts.append(f"{v.threshold}|{format_price(value)}")
    return ",".join(parts)


def _held_row(sku: str, held: HeldPrice) -> dict[str, str]:
    row = {"offer-sku": sku, "price": format_price(held.price),
           "discount-price": "" if held.discount is None else format_price(held.discount),
           "discount-start-date": held.discount_start or "", "discount-end-date": held.discount_end or "",
           "channels": "|".join(held.channels), "start-date": held.start or "", "end-date": held.end or "",
           "customer-organization-ids": "|".join(held.customer_organizations),
           "customer-group-ids": "|".join(held.customer_groups)}
    if len(held.volume) > 1:
        row["price-ranges"] = _ranges(held.volume, held.price, discounts=False)
        if held.discount is not None or any(v.discount is not None for v in held.volume):
            row["discount-ranges"] = _ranges(held.volume, held.discount, discounts=True)
    return row


def keep_lines(sku: str, price: str, held: Sequence[HeldPrice]) -> PriceLines:
    """``keep``: our ``price`` for the default price line; everything else as the marketplace holds it."""
    new = Decimal(price)
    default = next((h for h in held if h.is_default), None)
    dropped: list[str] = []
    row = {"offer-sku": sku, "price": price}
    if default is not None:
        discount = default.discount
        if discount is not None and discount >= new:
            dropped.append(f"the discount price {format_price(discount)} is not below the new price {price}")
            discount = None
        volume = tuple(v for v in default.volume if v.threshold > 1 and v.price < new)
        if len(volume) < len([v for v in default.volume if v.threshold > 1]):
            dropped.append(f"volume prices not below the new price {price}")
        kept = HeldPrice(price=new, discount=discount, discount_start=default.discount_start if discount else None,
                         discount_end=default.discount_end if discount else None,
                         volume=(VolumePrice(1, new, discount), *volume) if volume else ())
        row = _held_row(sku, kept)
    rows = [row] + [_held_row(sku, h) for h in held if not h.is_default]
    return PriceLines(rows, tuple(dropped))


def _date(day: dt.date | None, *, end: bool) -> str:
    if day is None:
        return ""
    return f"{day.isoformat()}T{'23:59:59' if end else '00:00:00'}Z"


def magento_lines(sku: str, facts: PriceFacts, product: ProductFacts, rules: Sequence[Rule], today: dt.date,
                  fallback: str) -> PriceLines:
    """``magento``: regular price, and Magento's special price as the discount with its dates (the
    special price only when it is below the price and not already over). ``fallback`` (the value
    queued) when the regular price cannot be computed."""
    regular, _ = channel_price(PriceFacts(price=facts.price), product, rules, today)
    if regular is None:
        return PriceLines([{"offer-sku": sku, "price": fallback}])
    row = {"offer-sku": sku, "price": format_price(regular)}
    special = facts.special_price
    current = special is not None and special > 0 and (facts.price is None or special < facts.price) and (
        facts.special_to is None or facts.special_to >= today)
    if current:
        discount, _ = channel_price(PriceFacts(price=special), product, rules, today)
        if discount is not None and discount < regular:
            row.update({"discount-price": format_price(discount),
                        "discount-start-date": _date(facts.special_from, end=False),
                        "discount-end-date": _date(facts.special_to, end=True)})
    return PriceLines([row])


__all__ = ["PRICE_FILE_COLUMNS", "file_columns", "HeldPrice", "PriceLines", "VolumePrice", "keep_lines", "magento_lines"]
