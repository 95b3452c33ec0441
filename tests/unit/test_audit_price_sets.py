"""Issue 14 item 5, audit side: our price may be the offer's own price (a back-office discount kept
under it) or its discount (Magento's special price): neither is drift; anything else is."""

from __future__ import annotations

from decimal import Decimal

from marketbridge.adapters.mirakl.models import Offer
from marketbridge.domain.catalogue import DriftKind, compare
from marketbridge.domain.catalogue.drift import MagentoRow, OfferRow
from marketbridge.services.audit.fetching import _offer_from_export, _offer_from_of21

D = Decimal


def _price_drifts(expected: str, offer: OfferRow) -> list[str]:
    drifts = compare([MagentoRow("A", True, 5, D(expected))], [offer])
    return [d.actual for d in drifts if d.kind is DriftKind.PRICE_MISMATCH]


def test_our_price_as_the_offer_price_or_as_its_discount_is_no_drift() -> None:
    offer = OfferRow("A", 5, D("50.00"), discount_price=D("40.00"))
    assert _price_drifts("50.00", offer) == []  # keep: a back-office discount under our price
    assert _price_drifts("40.00", offer) == []  # magento: the special price is the discount
    assert _price_drifts("45.00", offer) == ["50.00"]


def test_offers_are_read_with_their_own_price_and_their_discount() -> None:
    row = _offer_from_export({"shop_sku": "A", "quantity": 5, "price": 50.0, "discount_price": 40.0, "active": True})
    assert row is not None and (row.price, row.discount_price) == (D("50.0"), D("40.0"))
    of21 = Offer.model_validate({
        "offer_id": 1, "shop_sku": "A", "quantity": 5, "price": 40.0, "active": True,
        "all_prices": [{"channel_code": None, "unit_origin_price": 50.0, "unit_discount_price": 40.0},
                       {"channel_code": "JL-APP", "context": {"channel_codes": ["JL-APP"]}, "unit_origin_price": 55.0,
                        "unit_discount_price": 55.0}]})
    row = _offer_from_of21(of21)
    assert (row.price, row.discount_price) == (D("50.0"), D("40.0"))
