"""The Mirakl simulator's offer and product imports as documented (issue 14): P41 goes through SENT
while the operator integrates, OF01 NORMAL applies the blank cells of the columns it carries, PRI01
replaces every price of an offer, and the STO03/PRI03 reports put line number and reason first."""

from __future__ import annotations

import pytest

from marketbridge.adapters.mirakl.csvfiles import write_csv
from marketbridge.sandbox.catalogue import seed_catalogue
from marketbridge.sandbox.mirakl.core import SandboxError
from marketbridge.sandbox.mirakl.state import SandboxState

PRODUCT = {"category": "home/kitchen", "shop_sku": "MB-NEW-1", "title": "Kettle", "description": "Steel kettle",
           "brand": "B", "ean": "5012345678900", "main_image": "https://img.example/k.jpg"}


@pytest.fixture
def state() -> SandboxState:
    s = SandboxState(seed_catalogue(40, 7), api_key="k", rate_scale=0.001)
    s.settings.import_delay_seconds = 10.0  # imports only move on when the test moves the clock
    s.settings.product_integration_delay_seconds = 120.0
    return s


def _sku(state: SandboxState) -> str:
    return next(o.shop_sku for o in state.live_offers() if o.active and o.shop_sku.strip() == o.shop_sku)


def _offer_file(product_sku: str) -> bytes:
    return write_csv(["sku", "product-id", "product-id-type", "price", "quantity", "state"],
                     [{"sku": product_sku, "product-id": product_sku, "product-id-type": "SHOP_SKU",
                       "price": "20.00", "quantity": "3", "state": "11"}])


# ------------------------------------------------------------------------------- P41: SENT, then COMPLETE
def test_a_product_import_stays_sent_while_the_operator_integrates_it(state: SandboxState) -> None:
    job = state.submit_import("P41", write_csv(list(PRODUCT), [PRODUCT]))
    assert state.p42_json(state.get_import("P41", str(job.import_id)))["import_status"] == "WAITING"
    state.advance(11)
    p42 = state.p42_json(state.get_import("P41", str(job.import_id)))
    assert p42["import_status"] == "SENT"
    assert p42["has_transformed_file"] is True  # SPEC: filled at SENT or COMPLETE
    assert p42["has_error_report"] is False and p42["has_new_product_report"] is False  # only at COMPLETE

    # an offer for it now is refused, as on Mirakl: the product does not exist yet
    early = state.submit_import("OF01", _offer_file("MB-NEW-1"))
    state.advance(11)
    state.get_import("OF", str(early.import_id))
    assert [m for _, m, _ in early.errors] == ["The product does not exist"]
    assert state.p42_json(state.get_import("P41", str(job.import_id)))["import_status"] == "SENT"

    state.advance(110)  # 10 s of transformation + 120 s of integration have gone by
    p42 = state.p42_json(state.get_import("P41", str(job.import_id)))
    assert p42["import_status"] == "COMPLETE" and p42["has_new_product_report"] is True
    later = state.submit_import("OF01", _offer_file("MB-NEW-1"))
    state.advance(11)
    state.get_import("OF", str(later.import_id))
    assert later.errors == [] and state.offers["MB-NEW-1"].price == 20.0


def test_product_import_errors_appear_only_at_complete(state: SandboxState) -> None:
    bad = {**PRODUCT, "shop_sku": "MB-BAD-1", "ean": "12"}
    job = state.submit_import("P41", write_csv(list(PRODUCT), [bad]))
    state.advance(11)
    assert state.p42_json(state.get_import("P41", str(job.import_id)))["has_error_report"] is False
    with pytest.raises(SandboxError):
        state.error_report(job)
    state.advance(121)
    assert state.p42_json(state.get_import("P41", str(job.import_id)))["has_error_report"] is True
    assert b"13 digits" in state.error_report(job)


def test_the_integration_delay_scales_with_the_rate_scale() -> None:
    assert SandboxState(seed_catalogue(5, 1), rate_scale=0.01).settings.product_integration_delay_seconds == 3.0


# ------------------------------------------------------------------------------- OF01 NORMAL: blanks apply
def test_of01_normal_mode_applies_the_blank_cells_of_the_columns_it_carries(state: SandboxState) -> None:
    a, b = [o.shop_sku for o in state.live_offers() if o.active and o.shop_sku.strip() == o.shop_sku][:2]
    qty_b = state.offers[b].quantity
    state.submit_import("OF01", write_csv(["sku", "quantity", "price", "update-delete"], [
        {"sku": a, "quantity": "7", "price": "", "update-delete": "update"},
        {"sku": b, "quantity": "", "price": "15.00", "update-delete": "update"}]))
    state.advance(11)
    state._process_due_imports()
    offer_a, offer_b = state.offers[a], state.offers[b]
    assert offer_a.quantity == 7 and offer_a.price == 0.0 and "NO_ACTIVE_PRICE" in offer_a.inactivity_reasons()
    assert offer_b.price == 15.0 and offer_b.quantity == 0 != qty_b


def test_of01_partial_update_is_refused_as_deprecated() -> None:
    from fastapi.testclient import TestClient

    from marketbridge.sandbox.mirakl.app import create_app

    app = create_app(products=10, api_key="k", rate_scale=0.001)
    with TestClient(app) as http:
        answer = http.post("/api/offers/imports", headers={"Authorization": "k"},
                           files={"file": ("offers.csv", write_csv(["sku", "quantity"], [{"sku": "X", "quantity": 1}]))},
                           data={"import_mode": "PARTIAL_UPDATE"})
    assert answer.status_code == 400 and "deprecated" in answer.json()["message"]


# ------------------------------------------------------------------------------- PRI01: delete and replace
def test_pri01_replaces_every_price_of_the_offer(state: SandboxState) -> None:
    """SPEC PRI01: "any existing price that is not submitted will be deleted": a back-office discount
    and a channel price are gone after a line with only the price."""
    sku = _sku(state)
    offer = state.offers[sku]
    state.operator_edit_offer(sku, {"price": 50.0, "discount_price": 40.0, "discount_start": "2026-01-01T00:00:00Z",
                                    "channel_prices": {"JL-APP": 45.0}})
    before = state.offer_json(offer)
    assert [b["channel_code"] for b in before["all_prices"]] == [None, "JL-APP"] and before["price"] == 40.0
    state.submit_import("PRI01", write_csv(["offer-sku", "price"], [{"offer-sku": sku, "price": "48.00"}]))
    state.advance(11)
    state._process_due_imports()
    after = state.offer_json(offer)
    assert [b["channel_code"] for b in after["all_prices"]] == [None]
    assert after["price"] == 48.0 and after["discount"]["discount_price"] is None


def test_pri01_keeps_what_the_file_lists_for_the_offer(state: SandboxState) -> None:
    sku = _sku(state)
    columns = ["offer-sku", "price", "discount-price", "discount-start-date", "discount-end-date", "channels"]
    state.submit_import("PRI01", write_csv(columns, [
        {"offer-sku": sku, "price": "50", "discount-price": "40", "discount-start-date": "2026-01-01T00:00:00Z"},
        {"offer-sku": sku, "price": "45", "channels": "JL-APP"}]))
    state.advance(11)
    state._process_due_imports()
    blocks = state.offer_json(state.offers[sku])["all_prices"]
    assert [(b["channel_code"], b["unit_origin_price"], b["unit_discount_price"]) for b in blocks] == [
        (None, 50.0, 40.0), ("JL-APP", 45.0, 45.0)]
    assert blocks[0]["discount_start_date"] == "2026-01-01T00:00:00Z"


# ------------------------------------------------------------------------------- OF21: the listing's order
def _listed(state: SandboxState) -> list[str]:
    return [o.shop_sku for o in state.list_offers(sku=None, offer_state_codes=None, product_id=None)]


def test_of21_lists_by_price_after_every_change_that_moves_an_offer(state: SandboxState) -> None:
    """The simulator keeps the listing's sort between pages (sorting 50,000 offers for every page
    held its lock 33 ms); a price import, an operator edit and a deletion still move the offer."""
    first = _listed(state)
    assert first == [o.shop_sku for o in sorted(state.live_offers(), key=lambda o: (o.price, o.offer_id))]
    cheapest, dearest = first[0], first[-1]
    state.operator_edit_offer(cheapest, {"price": 99999.0})
    assert _listed(state)[-1] == cheapest
    state.submit_import("PRI01", write_csv(["offer-sku", "price"], [{"offer-sku": dearest, "price": "0.01"}]))
    state.advance(11)
    state._process_due_imports()
    assert _listed(state)[0] == dearest
    state.offers[dearest].deleted = True
    assert dearest not in _listed(state) and len(_listed(state)) == len(first) - 1
