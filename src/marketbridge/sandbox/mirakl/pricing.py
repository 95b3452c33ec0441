"""PRI01 as documented: "submit all applicable prices for an offer. The import mode is delete and
replace: any existing price that is not submitted will be deleted" (SPEC PRI01).

An offer's price set is its default price (``Offer.price`` with its discount and dates, plus volume
``price-ranges``/``discount-ranges``) and any number of *extra* prices: channel prices (``channels``),
scheduled ones (``start-date``/``end-date``) and customer ones (``customer-organization-ids``,
``customer-group-ids``). A PRI01 file lists every price of an offer on consecutive lines; what an
offer had and the file does not list is gone. At most 50 prices per offer. OF21 shows them in
``all_prices`` (the shape of ``OF21.response.200.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from marketbridge.sandbox.mirakl.core import SandboxError, money, parse_datetime, parse_decimal

if TYPE_CHECKING:
    from marketbridge.sandbox.mirakl.offers import Offer

MAX_PRICES_PER_OFFER = 50
CONTEXT_COLUMNS = ("channels", "start-date", "end-date", "customer-organization-ids", "customer-group-ids")


@dataclass
class ExtraPrice:
    """One price of an offer other than its default one (a channel, a period, customers)."""

    context: dict[str, str]  # the CONTEXT_COLUMNS the line gave, as written
    price: float
    discount_price: float | None = None
    discount_start: str | None = None
    discount_end: str | None = None
    price_ranges: str = ""
    discount_ranges: str = ""


def _ranges(text: str) -> list[tuple[int, Decimal]] | None:
    """``1|20,10|15`` -> [(1, 20), (10, 15)]; None when malformed."""
    out = []
    for part in text.split(","):
        threshold, _, value = part.partition("|")
        amount = parse_decimal(value)
        if not threshold.strip().isdigit() or amount is None or amount < 0:
            return None
        out.append((int(threshold), amount))
    return out


def line_error(row: dict[str, str]) -> str | None:
    """Why one PRI01 line is refused, or None."""
    price = parse_decimal(row.get("price", ""))
    if price is None or price <= 0:
        return f"The price '{row.get('price', '')}' is not a valid positive number"
    if (row.get("discount-price") or "").strip():
        discount = parse_decimal(row["discount-price"])
        if discount is None or discount < 0 or discount >= price:
            return "The discount price must be lower than the price"
    for column in ("price-ranges", "discount-ranges"):
        if (row.get(column) or "").strip() and _ranges(row[column]) is None:
            return f"The {column} value '{row[column]}' is not valid"
    return None


def replace_prices(offer: Offer, rows: list[dict[str, str]]) -> None:
    """Delete and replace: the offer's whole price set becomes the (valid) lines given for it."""
    offer.price, offer.discount_price, offer.discount_start, offer.discount_end = 0.0, None, None, None
    offer.price_ranges = offer.discount_ranges = ""
    offer.extra_prices = []
    for row in rows:
        price = money(parse_decimal(row["price"]))  # type: ignore[arg-type]
        text = (row.get("discount-price") or "").strip()
        discount = money(parse_decimal(text)) if text else None  # type: ignore[arg-type]
        start, end = row.get("discount-start-date") or None, row.get("discount-end-date") or None
        context = {c: row[c].strip() for c in CONTEXT_COLUMNS if (row.get(c) or "").strip()}
        if context:
            offer.extra_prices.append(ExtraPrice(context, price, discount, start, end, row.get("price-ranges") or "",
                                                 row.get("discount-ranges") or ""))
        else:
            offer.price, offer.discount_price, offer.discount_start, offer.discount_end = price, discount, start, end
            offer.price_ranges, offer.discount_ranges = row.get("price-ranges") or "", row.get("discount-ranges") or ""


def in_period(start: str | None, end: str | None, now: datetime) -> bool:
    """Whether ``now`` is inside a discount's dates (open-ended when a date is missing)."""
    try:
        if start and now < parse_datetime(start, "discount-start-date"):
            return False
        return not (end and now > parse_datetime(end, "discount-end-date"))
    except SandboxError:
        return True


def _entry(context: dict[str, str] | None, price: float, discount: float | None, start: str | None, end: str | None,
           price_ranges: str, discount_ranges: str, now: datetime) -> dict[str, Any]:
    unit_discount = discount if discount is not None else price
    effective = unit_discount if in_period(start, end, now) else price
    volume = [{"quantity_threshold": 1, "price": effective, "unit_origin_price": price, "unit_discount_price": unit_discount}]
    more = dict(_ranges(price_ranges) or []) if price_ranges else {}
    cuts = dict(_ranges(discount_ranges) or []) if discount_ranges else {}
    for threshold in sorted(set(more) | set(cuts)):
        if threshold <= 1:
            continue
        origin = float(more.get(threshold, Decimal(str(price))))
        cut = float(cuts[threshold]) if threshold in cuts else origin
        volume.append({"quantity_threshold": threshold, "price": cut, "unit_origin_price": origin,
                       "unit_discount_price": cut})
    block: dict[str, Any] = {"channel_code": None, "price": effective, "unit_origin_price": price,
                             "unit_discount_price": unit_discount, "discount_start_date": start,
                             "discount_end_date": end, "volume_prices": volume}
    if context:
        ctx: dict[str, Any] = {}
        if "channels" in context:
            ctx["channel_codes"] = context["channels"].split("|")
            block["channel_code"] = ctx["channel_codes"][0]
        for column, key in (("customer-organization-ids", "customer_organization_ids"),
                            ("customer-group-ids", "customer_group_ids")):
            if column in context:
                ctx[key] = context[column].split("|")
        for column, key in (("start-date", "start_date"), ("end-date", "end_date")):
            if column in context:
                ctx[key] = context[column]
        block["context"] = ctx
    return block


def all_prices(offer: Offer, now: datetime) -> list[dict[str, Any]]:
    """OF21 ``all_prices``: the default price first, then every extra one. ``price`` is what a
    customer pays now (the discount only inside its dates); ``unit_discount_price`` the discount."""
    blocks = [_entry(None, offer.price, offer.discount_price, offer.discount_start, offer.discount_end,
                     offer.price_ranges, offer.discount_ranges, now)]
    blocks += [_entry(e.context, e.price, e.discount_price, e.discount_start, e.discount_end, e.price_ranges,
                      e.discount_ranges, now) for e in offer.extra_prices]
    return blocks
