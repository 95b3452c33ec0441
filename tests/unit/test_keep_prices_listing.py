"""Keep mode reads the prices the marketplace holds through OF21's pages, which are offsets into a
list sorted by price. An offer whose price changes between two pages moves behind the reader and
is missed; sending our price alone for it would delete its discount. The read notices (fewer
distinct offers than ``total_count``) and asks for the missed offers one by one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from marketbridge.adapters.errors import TransientError
from marketbridge.adapters.mirakl.models import Offer
from marketbridge.services.stock import prices


def _offer(n: int, price: Decimal, discount: Decimal | None = None) -> Offer:
    entry: dict[str, object] = {"unit_origin_price": str(price)}
    if discount is not None:
        entry |= {"unit_discount_price": str(discount), "discount_start_date": "2026-01-01T00:00:00Z",
                  "discount_end_date": "2099-01-01T00:00:00Z"}
    return Offer.model_validate({"offer_id": n, "shop_sku": f"SKU-{n:04d}", "quantity": 1, "active": True,
                                 "price": float(price), "all_prices": [entry]})


class SortedListing:
    """OF21 as Mirakl pages it: ``max``/``offset`` over the offers sorted by price, sorted again at
    every page, with ``moves`` applied (an operator or a price import) after the given page."""

    def __init__(self, offers: list[Offer], moves: dict[int, Callable[[dict[str, Offer]], None]]) -> None:
        self.offers = {o.shop_sku: o for o in offers}
        self.moves = moves
        self.per_sku: list[str] = []

    def list_offers(self, *, sku: str | None = None, page_size: int = 100,
                    on_total: Callable[[int], None] | None = None) -> Iterator[Offer]:
        if sku is not None:
            self.per_sku.append(sku)
            yield from (o for o in self.offers.values() if o.shop_sku == sku)
            return
        offset, page = 0, 0
        while True:
            ordered = sorted(self.offers.values(), key=lambda o: (o.price, o.offer_id))
            items = ordered[offset:offset + page_size]
            if on_total is not None:
                on_total(len(ordered))
            yield from items
            offset += len(items)
            if page in self.moves:
                self.moves[page](self.offers)
            page += 1
            if not items or offset >= len(ordered):
                return


def _move_to_front(sku: str) -> Callable[[dict[str, Offer]], None]:
    def move(offers: dict[str, Offer]) -> None:
        offers[sku] = offers[sku].model_copy(update={"price": 0.5})  # now sorts before page 2
    return move


def test_an_offer_that_moves_behind_the_reader_keeps_its_discount() -> None:
    offers = [_offer(n, Decimal(10) + n) for n in range(300)]
    offers[250] = _offer(250, Decimal(260), discount=Decimal(200))
    listing = SortedListing(offers, {0: _move_to_front("SKU-0250")})
    held = prices.held_prices(listing, [o.shop_sku for o in offers])  # type: ignore[arg-type]
    assert listing.per_sku == ["SKU-0250"]
    assert [h.discount for h in held["SKU-0250"]] == [Decimal(200)]
    rows = prices.keep_rows(listing, {"SKU-0250": "270.00"})  # type: ignore[arg-type]
    assert rows[0]["discount-price"] == "200.00"
    assert len(held) == 300


def test_an_offer_deleted_during_the_read_does_not_hide_one_that_moved() -> None:
    offers = [_offer(n, Decimal(10) + n) for n in range(300)]
    offers[250] = _offer(250, Decimal(260), discount=Decimal(200))

    def move_and_delete(listed: dict[str, Offer]) -> None:
        _move_to_front("SKU-0250")(listed)
        del listed["SKU-0005"]  # already read on page 0: the next pages' total is one lower

    listing = SortedListing(offers, {0: move_and_delete})
    held = prices.held_prices(listing, [o.shop_sku for o in offers])  # type: ignore[arg-type]
    assert "SKU-0250" in listing.per_sku
    assert [h.discount for h in held["SKU-0250"]] == [Decimal(200)]


def test_a_listing_that_does_not_move_asks_for_nothing_more() -> None:
    offers = [_offer(n, Decimal(10) + n) for n in range(300)]
    listing = SortedListing(offers, {})
    wanted = [o.shop_sku for o in offers[:120]] + ["SKU-NEW-1"]  # an offer not on the marketplace yet
    held = prices.held_prices(listing, wanted)  # type: ignore[arg-type]
    assert listing.per_sku == [] and len(held) == 120 and "SKU-NEW-1" not in held


def test_too_many_offers_missed_fails_the_read_instead_of_guessing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prices, "RECHECK_MAX", 1)
    offers = [_offer(n, Decimal(10) + n) for n in range(300)]
    listing = SortedListing(offers, {0: _move_to_front("SKU-0250")})
    wanted = [o.shop_sku for o in offers] + ["SKU-NEW-1"]
    with pytest.raises(TransientError, match="moved while their prices were read"):
        prices.held_prices(listing, wanted)  # type: ignore[arg-type]
