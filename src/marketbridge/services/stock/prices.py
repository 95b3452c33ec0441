"""The PRI01 lines of a price batch, by setting ``price_discounts`` (see
:mod:`marketbridge.domain.pricing`): ``magento`` computes price and discount from the stored
Magento facts; ``keep`` reads the offers' current prices from the marketplace (OF21) and sends them
back around our price. A read that fails fails the upload (its values are queued again): sending
our price alone would delete the others."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import structlog

from marketbridge.adapters.errors import TransientError
from marketbridge.adapters.mirakl.models import Offer, OfferPrice, OfferPriceContext
from marketbridge.domain import pricing
from marketbridge.domain.pricing import HeldPrice, PriceLines, VolumePrice
from marketbridge.domain.sku_stock import SkuStock
from marketbridge.services.stock import outbox
from marketbridge.services.stock.rules import load_rules

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.ports.remote import MiraklPort

log = structlog.get_logger(__name__)

#: Up to this many offers, OF21 is asked per SKU; above, its pages are read once for all of them.
PER_SKU_READS = 50
#: After a paged read that missed offers, at most this many are asked for one by one.
RECHECK_MAX = 200


def magento_lines(session: Session, values: Mapping[str, Mapping[str, str]]) -> dict[str, PriceLines]:
    """``magento``: per Magento SKU, its price line with Magento's special price as the discount."""
    states = outbox.store(session).load_states(sorted(values))
    rules = load_rules(session)
    today = dt.datetime.now(dt.UTC).date()
    out: dict[str, PriceLines] = {}
    for sku, value in values.items():
        state = states.get(sku)
        if state is None:
            out[sku] = PriceLines([{"offer-sku": sku, "price": value["price"]}])
            continue
        stock = SkuStock.of(state)
        out[sku] = pricing.magento_lines(sku, stock.price_facts(), stock.product_facts(), rules, today, value["price"])
    return out


def _below(value: Decimal | None, origin: Decimal) -> Decimal | None:
    return value if value is not None and value < origin else None


def held_price(entry: OfferPrice) -> HeldPrice | None:
    """An OF21 ``all_prices`` entry as the domain's :class:`HeldPrice` (None without a price)."""
    origin = entry.unit_origin_price
    if origin is None:
        return None
    context = entry.context or OfferPriceContext()
    channels = tuple(context.channel_codes) or ((entry.channel_code,) if entry.channel_code else ())
    discount = _below(entry.unit_discount_price, origin)
    volume = tuple(VolumePrice(v.quantity_threshold, v.unit_origin_price, _below(v.unit_discount_price, v.unit_origin_price))
                   for v in entry.volume_prices if v.unit_origin_price is not None)
    return HeldPrice(price=origin, discount=discount,
                     discount_start=entry.discount_start_date if discount is not None else None,
                     discount_end=entry.discount_end_date if discount is not None else None,
                     channels=channels, customer_organizations=tuple(context.customer_organization_ids),
                     customer_groups=tuple(context.customer_group_ids), start=context.start_date,
                     end=context.end_date, volume=volume)


def _prices_of(offers: Iterable[Offer]) -> dict[str, list[HeldPrice]]:
    return {o.shop_sku: [h for h in map(held_price, o.all_prices) if h is not None] for o in offers}


def _per_sku(mirakl: MiraklPort, skus: Iterable[str]) -> Iterator[Offer]:
    return (o for sku in sorted(skus) for o in mirakl.list_offers(sku=sku) if o.shop_sku == sku)


def held_prices(mirakl: MiraklPort, offer_skus: Sequence[str]) -> dict[str, list[HeldPrice]]:
    """Per offer SKU, the prices the marketplace holds now (OF21).

    Above :data:`PER_SKU_READS` offers, OF21's pages are read once for all of them. Those pages
    are offsets into a list sorted by price (OF21 sorts by total price, by price or by title,
    nothing steadier), so an offer whose price changes during the read can move behind the reader
    and be missed: keep mode would then send our price alone and delete the offer's discount.
    Fewer distinct offers than a page's ``total_count`` shows it; the wanted offers not
    seen are then asked for one by one, up to :data:`RECHECK_MAX`, and above that the read fails
    (the values wait for the next window) rather than guess."""
    wanted = set(offer_skus)
    if len(wanted) <= PER_SKU_READS:
        return _prices_of(_per_sku(mirakl, wanted))
    totals: list[int] = []
    seen: set[str] = set()

    def listing() -> Iterator[Offer]:
        # a generator, not a list: at 50,000 offers the whole OF21 listing held as models at once
        # doubled the service's peak memory (bench/stock_sync.py: 245 -> 453 MB); each offer is
        # reduced to its prices as its page arrives
        for offer in mirakl.list_offers(on_total=totals.append):
            seen.add(offer.shop_sku)
            if offer.shop_sku in wanted:
                yield offer

    held = _prices_of(listing())
    # the largest total any page gave: an offer deleted during the read lowers the last one and
    # would hide an offer that moved past the reader; one added only costs a few reads by SKU
    skipped = (max(totals) if totals else 0) - len(seen)
    if skipped > 0:
        unseen = wanted - seen
        log.warning("stock.price_listing_moved", skipped=skipped, rechecked=len(unseen))
        if len(unseen) > RECHECK_MAX:
            raise TransientError(f"{skipped} offers moved while their prices were read and {len(unseen)} of "
                                 f"this batch's offers were not seen; reading again at the next window",
                                 api="OF21")
        held.update(_prices_of(_per_sku(mirakl, unseen)))
    return held


def keep_rows(mirakl: MiraklPort, prices: Mapping[str, str],
              dropped: dict[str, tuple[str, ...]] | None = None) -> list[dict[str, str]]:
    """``keep``: per offer SKU (``prices``: offer SKU -> our price), our price and everything else
    the marketplace holds for the offer. What could not be kept (a discount no longer below our
    price) goes into ``dropped`` (offer SKU -> reasons), for the caller to tell Ecommerce once the
    import is sent."""
    held = held_prices(mirakl, list(prices))
    rows: list[dict[str, str]] = []
    for sku, price in prices.items():
        lines = pricing.keep_lines(sku, price, held.get(sku, []))
        if lines.dropped:
            log.warning("stock.price_not_kept", sku=sku, dropped=list(lines.dropped))
            if dropped is not None:
                dropped[sku] = tuple(lines.dropped)
        rows.extend(lines.rows)
    return rows
