"""MiraklClient's order export (OR13 + OR14 + OR15) over real HTTP against the Mirakl simulator.

Each test gets its own simulator (serve_in_thread) so call-frequency state never leaks. What the
client must do, from the seller OpenAPI: yield each exported order as OR11's model, wait for the
OR13 pace instead of meeting a 429 (a full export keeps the 5-minute pace and the daily one), poll
OR14 no faster than its pace, download each URL once and only from the Mirakl instance, and stop
on FAILED.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2
import pytest

from marketbridge.adapters.errors import RateLimited, Rejected
from marketbridge.adapters.mirakl import MiraklClient, models
from marketbridge.sandbox.mirakl.app import create_app
from marketbridge.sandbox.server import RunningServer, serve_in_thread

KEY = "test-mirakl-key"


class Simulator:
    def __init__(self, scale: float) -> None:
        self.app = create_app(products=30, api_key=KEY, rate_scale=scale)
        self.state = self.app.state.sandbox
        self.server: RunningServer = serve_in_thread(self.app)
        self.control = httpx2.Client(base_url=self.server.url, timeout=10)
        self.scale = scale

    def client(self, **kw: Any) -> MiraklClient:
        options: dict[str, Any] = {"rate_scale": self.scale, "retry_wait_initial": 0.01, "retry_wait_max": 0.05, **kw}
        return MiraklClient(self.server.url, KEY, shop_id=self.state.shop_id, **options)

    def settings(self, **values: Any) -> None:
        assert self.control.post("/_sandbox/settings", json=values).status_code == 200

    def order(self) -> str:
        with self.state.lock:
            sku = next(o.shop_sku for o in self.state.live_offers() if o.active and o.quantity >= 1)
        created = self.control.post("/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]})
        assert created.status_code == 201, created.text
        return str(created.json()["order_id"])

    def calls(self, api: str) -> list[dict[str, Any]]:
        return [c for c in self.control.get("/_sandbox/calls").json() if c["api"] == api]

    def close(self) -> None:
        self.control.close()
        self.server.stop()


@pytest.fixture
def simulator(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    box = Simulator(getattr(request, "param", 0.002))  # OR13: 0.6 s, full: 173 s; OR14: 4 ms
    try:
        yield box
    finally:
        box.close()


def _created_range(simulator: Simulator) -> models.OrderExportRequest:
    now = simulator.state.clock.now()
    return models.OrderExportRequest(start_date=now - timedelta(hours=1), end_date=now + timedelta(hours=1))


def _updated_range(simulator: Simulator) -> models.OrderExportRequest:
    now = simulator.state.clock.now()
    return models.OrderExportRequest(start_update_date=now - timedelta(hours=1),
                                     end_update_date=now + timedelta(hours=1))


def test_export_orders_yields_the_same_models_as_or11_across_files(simulator: Simulator) -> None:
    simulator.settings(order_export_min_items_per_chunk=1)
    order_ids = [simulator.order() for _ in range(5)]
    with simulator.client() as client:
        client.accept_order(order_ids[0], {f"{order_ids[0]}-1": True})
        request = _created_range(simulator).model_copy(update={"items_per_chunk": 2})
        exported = list(client.export_orders(request))
        listed = list(client.list_orders(order_ids=order_ids))
    assert all(isinstance(order, models.Order) for order in exported)
    assert [o.order_id for o in exported] == order_ids
    assert exported == sorted(listed, key=lambda o: (o.created_date, o.order_id))  # field for field
    assert exported[0].order_state == "WAITING_DEBIT"
    downloads = simulator.calls("OR15")
    assert len(downloads) == 3 and len({c["path"] for c in downloads}) == 1  # 3 files, same path...
    assert {c["status"] for c in downloads} == {200}  # ...three file= URLs, each fetched once
    assert len(simulator.calls("OR13")) == 1


def test_a_second_export_waits_for_the_or13_pace_instead_of_meeting_a_429(simulator: Simulator) -> None:
    simulator.order()
    with simulator.client() as client:
        assert len(list(client.export_orders(_created_range(simulator)))) == 1  # full
        started = time.monotonic()
        assert len(list(client.export_orders(_updated_range(simulator)))) == 1  # differential
        assert time.monotonic() - started >= 0.6 - 0.05  # OR13: 5 minutes x 0.002
        client.max_limiter_wait = 5.0
        with pytest.raises(RateLimited) as caught:  # full again inside 24 hours (x 0.002 = 173 s)
            list(client.export_orders(_created_range(simulator)))
    assert caught.value.status is None  # our own limiter said no: nothing was sent
    assert [c["status"] for c in simulator.calls("OR13")] == [200, 200]
    assert all(c["status"] == 200 for c in simulator.calls("OR14"))


def test_a_failed_export_stops_the_poll(simulator: Simulator) -> None:
    simulator.settings(order_export_delay_seconds=3600)
    simulator.order()

    def fail_when_pending() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pending = [e for e in simulator.control.get("/_sandbox/order-exports").json() if e["status"] == "PENDING"]
            if pending:
                simulator.control.post(f"/_sandbox/order-exports/{pending[0]['tracking_id']}/fail")
                return
            time.sleep(0.02)

    operator = threading.Thread(target=fail_when_pending, daemon=True)
    operator.start()
    with simulator.client() as client, pytest.raises(Rejected, match="FAILED"):
        list(client.export_orders(_created_range(simulator), timeout=10))
    operator.join(5)
    polls = simulator.calls("OR14")
    assert polls and all(c["status"] == 200 for c in polls)  # paced: never refused
    assert not simulator.calls("OR15")


@pytest.mark.parametrize("simulator", [0.001], indirect=True)  # a repeat's Retry-After (87 s) is within the wait bound
def test_a_second_download_of_one_url_fails_at_once_and_blocks_no_other_url(simulator: Simulator) -> None:
    simulator.settings(order_export_min_items_per_chunk=1)
    simulator.order(), simulator.order()
    with simulator.client() as client:
        tracking_id = client.start_order_export(_created_range(simulator).model_copy(update={"items_per_chunk": 1}))
        status = client.order_export_status(tracking_id)
        while status.status != "COMPLETED":
            status = client.order_export_status(tracking_id)
        first, second = status.urls
        assert client.download_order_export_chunk(first)
        outcome: list[BaseException] = []

        def download_again() -> None:
            try:
                client.download_order_export_chunk(first)
            except BaseException as error:  # noqa: BLE001 - handed to the test thread
                outcome.append(error)

        repeat = threading.Thread(target=download_again, daemon=True)
        repeat.start()
        repeat.join(5)  # a client that slept through the Retry-After (87 s) to retry would still be here
        assert not repeat.is_alive() and len(outcome) == 1
        assert isinstance(outcome[0], RateLimited) and outcome[0].status == 429
        assert client.download_order_export_chunk(second)  # the 429 closed nothing else
    assert [c["status"] for c in simulator.calls("OR15")] == [200, 429, 200]


def test_a_url_off_the_mirakl_instance_gets_no_request(simulator: Simulator) -> None:
    with simulator.client() as client, pytest.raises(Rejected, match="not on the Mirakl instance"):
        client.download_order_export_chunk("https://files.example.net/api/orders/async-export/file/x?file=0.json")
    assert not simulator.calls("OR15")

