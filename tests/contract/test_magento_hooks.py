"""Contract: the Magento simulator's hook deliveries are shaped as Adobe Commerce and Adobe I/O
Events send them (docs/api-notes.md, "Issue 14: Adobe Commerce events"), and a ``*_save_after``
hook can arrive before the save is visible (``commit_after_webhook``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from marketbridge.adapters.magento import io_events
from marketbridge.adapters.magento.webhooks import verify_signature
from marketbridge.sandbox.magento.testing import TOKEN, rest_client, running_sandbox
from marketbridge.sandbox.server import serve_in_thread

SOURCE_ITEMS_SAVE = "plugin.magento.inventory_api.api.source_items_save.execute"
STOCK_ITEM_SAVE = "observer.cataloginventory_stock_item_save_commit_after"
PRODUCT_SAVE = "observer.catalog_product_save_after"


class Receiver:
    """Records each delivery: (hook path part, body, headers); ``during`` runs inside a delivery."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any], bytes, dict[str, str]]] = []
        self.challenges: list[str] = []
        self.during: Any = None
        app = FastAPI()

        @app.get("/hook")
        async def challenge(challenge: str = "") -> JSONResponse:
            self.challenges.append(challenge)
            return JSONResponse({"challenge": challenge})

        @app.post("/hook")
        @app.post("/hook/{name}")
        async def hook(request: Request, name: str = "") -> JSONResponse:
            raw = await request.body()
            if self.during is not None:
                self.during(name)
            self.received.append((name, json.loads(raw), raw, dict(request.headers)))
            return JSONResponse({"op": "success"})

        self.app = app

    def wait(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def by_hook(self, name: str) -> list[dict[str, Any]]:
        return [body for hook, body, _, _ in self.received if hook == name]


@contextmanager
def sandbox_with_receiver(tmp_path, **kwargs: Any) -> Iterator[tuple[Any, Receiver]]:
    receiver = Receiver()
    server = serve_in_thread(receiver.app)
    try:
        with running_sandbox(products=40, webhook_url=server.url + "/hook",
                             webhook_private_key_path=str(tmp_path / "hook.pem"), **kwargs) as (sandbox, _):
            yield sandbox, receiver
    finally:
        server.stop()


def save_source_item(sandbox, sku: str, qty: float) -> None:
    with rest_client(sandbox) as http:
        http.post("/V1/inventory/source-items", json={"sourceItems": [
            {"sku": sku, "source_code": "default", "quantity": qty, "status": 1}]}).raise_for_status()


def test_a_plugin_hook_sends_the_method_arguments_to_its_own_url(tmp_path):
    with sandbox_with_receiver(tmp_path) as (sandbox, receiver):
        save_source_item(sandbox, "MB-000001", 12)
        receiver.wait(1)
    (body,) = receiver.by_hook(SOURCE_ITEMS_SAVE)
    assert "eventName" not in body and body["subject"] == [] and "result" in body
    assert body["sourceItems"] == [{"sku": "MB-000001", "source_code": "default", "quantity": 12, "status": 1}]
    public = (tmp_path / "hook.pem.pub").read_bytes()
    assert all(verify_signature(raw, headers["x-adobe-commerce-webhook-signature"], public)
               for _, _, raw, headers in receiver.received)


def test_observers_carry_data_object_and_a_stock_item_has_no_sku(tmp_path):
    with sandbox_with_receiver(tmp_path) as (sandbox, receiver):
        with rest_client(sandbox) as http:
            http.put("/V1/products/MB-000002/stockItems/1", json={"stockItem": {"qty": 7}}).raise_for_status()
            http.put("/V1/products/MB-000003", json={"product": {"sku": "MB-000003", "price": 9.5}}).raise_for_status()
        receiver.wait(3)
    (item,) = receiver.by_hook(STOCK_ITEM_SAVE)
    assert item["eventName"] == STOCK_ITEM_SAVE and "sku" not in item["data"]["item"]
    assert item["data"]["item"]["product_id"] and item["data"]["data_object"] == item["data"]["item"]
    (product,) = receiver.by_hook(PRODUCT_SAVE)
    assert product["data"]["product"]["sku"] == "MB-000003" and product["data"]["data_object"]["sku"] == "MB-000003"


def test_shapes_fields_and_registered_hooks_are_chosen_per_hook(tmp_path):
    with sandbox_with_receiver(tmp_path, webhook_shapes={SOURCE_ITEMS_SAVE: "observer"},
                               webhook_fields={PRODUCT_SAVE: [("product.sku", "data.product.sku")]},
                               webhook_hooks={SOURCE_ITEMS_SAVE, PRODUCT_SAVE}) as (sandbox, receiver):
        with rest_client(sandbox) as http:
            http.put("/V1/products/MB-000004/stockItems/1", json={"stockItem": {"qty": 3}}).raise_for_status()
            http.put("/V1/products/MB-000005", json={"product": {"sku": "MB-000005", "price": 9.5}}).raise_for_status()
        receiver.wait(2)
        time.sleep(0.3)
    assert sorted(hook for hook, *_ in receiver.received) == [PRODUCT_SAVE, SOURCE_ITEMS_SAVE]  # no stock item
    (source,) = receiver.by_hook(SOURCE_ITEMS_SAVE)
    assert source["eventName"] == SOURCE_ITEMS_SAVE and source["data"]["sourceItems"][0]["sku"] == "MB-000004"
    assert receiver.by_hook(PRODUCT_SAVE) == [{"product": {"sku": "MB-000005"}}]


def test_io_events_mode_shakes_hands_then_sends_signed_cloud_events(tmp_path):
    with sandbox_with_receiver(tmp_path, webhook_mode="io_events") as (sandbox, receiver):
        save_source_item(sandbox, "MB-000006", 4)
        receiver.wait(1)
        state = httpx2.get(f"{sandbox.url}/_sandbox/state").json()
    assert len(receiver.challenges) == 1
    ((hook, event, raw, headers),) = receiver.received
    assert hook == "" and event["specversion"] == "1.0" and event["id"] and event["recipient_client_id"]
    assert event["type"] == f"com.adobe.commerce.{SOURCE_ITEMS_SAVE}"
    assert event["data"]["value"]["sourceItems"][0]["sku"] == "MB-000006"
    first = io_events.load_public_keys((tmp_path / "hook.pem.pub").read_bytes())
    second = io_events.load_public_keys((tmp_path / "hook.pem.second.pub").read_bytes())
    assert io_events.verify(raw, headers, first) and io_events.verify(raw, headers, second)
    assert headers["x-adobe-public-key1-path"].startswith("/prod/keys/pub-key-")
    assert state["webhook_deliveries"][0]["status"] == 200


def test_a_save_after_hook_can_arrive_before_the_save_is_visible(tmp_path):
    """commit_after_webhook: while the product save's hook is being answered, and for the commit
    delay after, the REST API still shows the old quantity; the save's own answer waits for it."""
    seen: list[Any] = []

    def read_now(name: str) -> None:
        if name == PRODUCT_SAVE:
            response = httpx2.get(f"{box[0].url}/rest/all/V1/inventory/get-product-salable-quantity/MB-000007/1",
                                  headers={"Authorization": f"Bearer {TOKEN}"})
            seen.append(response.json())

    box: list[Any] = []
    with sandbox_with_receiver(tmp_path, webhook_hooks={PRODUCT_SAVE}, commit_after_webhook=True,
                               commit_delay_seconds=0.5) as (sandbox, receiver):
        box.append(sandbox)
        receiver.during = read_now
        with rest_client(sandbox) as http:
            before = http.get("/V1/inventory/get-product-salable-quantity/MB-000007/1").json()
            began = time.monotonic()
            http.put("/V1/products/MB-000007", json={"product": {"sku": "MB-000007", "extension_attributes": {
                "stock_item": {"qty": before + 40, "is_in_stock": True}}}}).raise_for_status()
            took = time.monotonic() - began
            after = http.get("/V1/inventory/get-product-salable-quantity/MB-000007/1").json()
    assert seen == [before]  # the hook's receiver read the old value
    assert after > before and took >= 0.5  # committed before the save answered
    (body,) = receiver.by_hook(PRODUCT_SAVE)
    assert body["data"]["product"]["extension_attributes"]["stock_item"]["qty"] == before + 40


def test_without_the_option_the_hook_follows_the_commit(tmp_path):
    seen: list[Any] = []
    lock = threading.Lock()
    with sandbox_with_receiver(tmp_path, webhook_hooks={PRODUCT_SAVE}) as (sandbox, receiver):
        def read_now(name: str) -> None:
            with lock:
                seen.append(httpx2.get(f"{sandbox.url}/rest/all/V1/inventory/get-product-salable-quantity/MB-000008/1",
                                       headers={"Authorization": f"Bearer {TOKEN}"}).json())

        receiver.during = read_now
        with rest_client(sandbox) as http:
            before = http.get("/V1/inventory/get-product-salable-quantity/MB-000008/1").json()
            http.put("/V1/products/MB-000008", json={"product": {"sku": "MB-000008", "extension_attributes": {
                "stock_item": {"qty": 321, "is_in_stock": True}}}}).raise_for_status()
            receiver.wait(1)
            after = http.get("/V1/inventory/get-product-salable-quantity/MB-000008/1").json()
    assert after != before and seen == [after]  # the hook saw the saved value
