"""Issue 14: the simulator's new offer and product-import behaviour still answers in the published
shapes: P42 at SENT, OF21 with a whole price set (discount, channel price), and the P41/PRI01
uploads the client sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from marketbridge.adapters.mirakl import MiraklClient
from marketbridge.sandbox.mirakl.app import create_app
from marketbridge.sandbox.server import serve_in_thread
from tests.contract.test_mirakl_contract import KEY, SCALE, assert_valid, response_validator
from tests.contract.test_mirakl_contract import spec as spec  # noqa: F401  (the module fixture)

PRODUCT = {"category": "home/kitchen", "shop_sku": "MB-C-9", "title": "Kettle", "description": "Steel kettle",
           "brand": "B", "ean": "5012345678900", "main_image": "https://img.example/k.jpg"}


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    app = create_app(products=20, api_key=KEY, rate_scale=SCALE)
    app.state.sandbox.settings.product_integration_delay_seconds = 3600.0  # stays SENT for this module
    running = serve_in_thread(app)
    yield running
    running.stop()


def test_a_p42_answer_at_sent_matches_the_schema(spec: dict[str, Any], server: Any) -> None:  # noqa: F811
    with MiraklClient(server.url, KEY, shop_id=2001, rate_scale=SCALE) as client:
        import_id = client.submit_products([PRODUCT])
        answer = client.call("P42", path_params={"import_id": import_id})  # SENT is not terminal: poll by hand
        for _ in range(50):
            if answer.json()["import_status"] == "SENT":
                break
            answer = client.call("P42", path_params={"import_id": import_id})
    body = answer.json()
    assert body["import_status"] == "SENT" and body["has_transformed_file"] is True
    assert_valid(response_validator(spec, "P42", "200"), body, "P42 at SENT")


def test_an_offer_with_a_back_office_discount_and_a_channel_price_matches_the_of21_schema(
        spec: dict[str, Any], server: Any) -> None:  # noqa: F811
    control = httpx2.Client(base_url=server.url)
    offers = httpx2.get(f"{server.url}/api/offers", headers={"Authorization": KEY}, params={"max": 1}).json()
    sku = offers["offers"][0]["shop_sku"]
    price = offers["offers"][0]["all_prices"][0]["unit_origin_price"]
    edit = {"discount_price": round(price / 2, 2), "discount_start": "2026-01-01T00:00:00Z",
            "channel_prices": {"JL-APP": price + 1}}
    assert control.put(f"/_sandbox/offers/{sku}", json=edit).status_code == 200
    body = httpx2.get(f"{server.url}/api/offers", headers={"Authorization": KEY}, params={"sku": sku}).json()
    assert [b["channel_code"] for b in body["offers"][0]["all_prices"]] == [None, "JL-APP"]
    assert_valid(response_validator(spec, "OF21", "200"), body, "OF21 with a price set")
    control.close()
