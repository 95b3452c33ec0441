"""The orders JSON API, the CLI's decision path, and the DBOS poll workflow with its per-order
workflows (deterministic ids: a second poll collapses onto the same workflows)."""

from __future__ import annotations

import time

import httpx2
from dbos import DBOS
from starlette.testclient import TestClient

from marketbridge.adapters.db.orders import SqlOrdersRepository
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.services import auth, order_feed
from marketbridge.services import orders as order_service
from marketbridge.web.app import create_app
from marketbridge.workflows import engine
from marketbridge.workflows import orders as order_workflows
from tests.conftest import make_settings
from tests.integration.test_orders_service import in_stock_skus, magento_orders_with, place, read_orders


def test_api_lists_shows_and_decides_held_orders(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, acceptance_policy="hold"))
    try:
        with runtime.db.session() as s:
            people = SqlPeopleRepository(s)
            user = auth.create_user(people, "ops1", Role.OPS, "correct horse battery")
            token = auth.create_token(people, user)
        (sku,) = in_stock_skus(runtime, 1)
        held = place(fresh_sandboxes, [(sku, 1)], currency_iso_code="EUR")
        read_orders(runtime)
        order_service.decide(runtime, held)
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(runtime, start_engine=False)) as client:
            assert client.get("/api/orders").status_code == 401
            listed = client.get("/api/orders?state=held", headers=headers).json()
            assert [o["order_id"] for o in listed] == [held]
            assert client.get("/api/orders?state=nonsense", headers=headers).status_code == 422
            shown = client.get(f"/api/orders/{held}", headers=headers).json()
            assert shown["lines"][0]["reasons"] == ["currency_mismatch"]
            assert [t["to"] for t in shown["transitions"]] == ["received", "held"]
            assert set(shown["transitions"][0]) == {"from", "to", "at", "actor", "facts"}
            with runtime.db.session() as s:  # the API's JSON is the views' JSON, key for key
                assert shown == order_service.to_dict(order_service.get_order_record(SqlOrdersRepository(s), held), detail=True)
                assert listed == [order_service.to_dict(order_service.get_order_record(SqlOrdersRepository(s), held))]
            assert client.get("/api/orders/NOPE-1", headers=headers).status_code == 404
            refused = client.post(f"/api/orders/{held}/refuse", headers=headers)
            assert refused.status_code == 200
            assert refused.json() == {"order_id": held, "state": "refused", "outcome": "refuse"}  # no null keys
            again = client.post(f"/api/orders/{held}/accept", headers=headers)
            assert again.status_code == 409
        remote = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{held}").json()
        assert remote["order_state"] == "REFUSED"
        with runtime.db.session() as s:
            assert order_service.get_order_record(SqlOrdersRepository(s), held).transitions[-1].actor == "ops1"
    finally:
        runtime.close()


def test_openapi_describes_what_the_orders_routes_return(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    try:
        with TestClient(create_app(runtime, start_engine=False)) as client:
            spec = client.get("/openapi.json").json()
    finally:
        runtime.close()
    schemas = spec["components"]["schemas"]

    def returned(path: str, method: str) -> dict:
        return spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    def fields(ref: str) -> set[str]:
        return set(schemas[ref.removeprefix("#/components/schemas/")]["properties"])

    listed = returned("/api/orders", "get")
    assert listed["type"] == "array"
    assert {"order_id", "state", "marketplace_state", "marketplace_totals", "magento_increment_id"} <= fields(
        listed["items"]["$ref"])
    assert {"lines", "transitions", "decision", "magento_totals"} <= fields(
        returned("/api/orders/{order_id}", "get")["$ref"])
    assert "from" in fields("#/components/schemas/TransitionView")  # the wire name, not from_
    assert {"order_line_id", "offer_sku", "magento_sku", "quantity", "accepted"} <= fields(
        "#/components/schemas/OrderLineView")
    for action in ("accept", "refuse"):
        assert fields(returned(f"/api/orders/{{order_id}}/{action}", "post")["$ref"]) == {
            "order_id", "state", "outcome", "rejected"}
    assert fields(returned("/api/orders/{order_id}/retry", "post")["$ref"]) == {"order_id", "workflow_id", "enqueued"}


def test_poll_workflow_runs_the_per_order_workflows_once(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    engine.launch(runtime, schedules=False)
    try:
        (sku,) = in_stock_skus(runtime, 1)
        order_id = place(fresh_sandboxes, [(sku, 1)])
        # the default install: the feed's read stores the order; the poll reads no OR11 of its own
        read = order_feed.read(runtime, force=True)
        first = order_workflows.run_poll_now()
        assert read.orders_new == 1 and first["source"] == "order feed" and first["enqueued"] == 1
        accept = DBOS.retrieve_workflow(f"order-accept:{order_id}").get_result()
        assert accept["state"] == "accepted"
        second = order_workflows.run_poll_now()  # WAITING_DEBIT now: nothing more to do
        assert second["enqueued"] == 0
        httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/debit")
        assert order_feed.read(runtime, force=True).orders_updated == 1  # paid: SHIPPING
        order_workflows.run_poll_now()
        created = DBOS.retrieve_workflow(f"order-create:{order_id}").get_result()
        assert created["magento_increment_id"] and created["finish"]["invoiced"] is True
        # the same action enqueued again (an overlapping poll) returns the finished workflow
        again = order_workflows.enqueue({"phase": "create", "order_id": order_id,
                                         "workflow_id": f"order-create:{order_id}"})
        assert DBOS.retrieve_workflow(again).get_result() == created
        time.sleep(0.5)
        assert len(magento_orders_with(runtime, order_id)) == 1
    finally:
        engine.shutdown()
        runtime.close()


def test_an_unreachable_magento_is_waited_for_then_reported(migrated_db_url, fresh_sandboxes, monkeypatch):
    from marketbridge.domain import orders as orders_domain
    from marketbridge.services import issues as issue_service

    monkeypatch.setattr(order_workflows, "RETRY_WAITS", (1.0, 1.0, 2.0))
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    from marketbridge.adapters.magento.client import MagentoClient

    runtime.__dict__["magento"] = MagentoClient(fresh_sandboxes.magento_url, "sandbox-magento-token",
                                                retry_attempts=1)  # no client-side retries: fast test
    engine.launch(runtime, schedules=False)
    faults = f"{fresh_sandboxes.magento_url}/_sandbox/faults"
    try:
        first_sku, second_sku = in_stock_skus(runtime, 2)
        patient = place(fresh_sandboxes, [(first_sku, 1)])
        hopeless = place(fresh_sandboxes, [(second_sku, 1)])
        read_orders(runtime)
        httpx2.post(faults, json={"rules": [{"endpoint": "/V1/inventory", "error_rate": 1.0}]})
        handle = order_workflows.enqueue({"phase": "accept", "order_id": patient,
                                          "workflow_id": f"order-accept:{patient}"})
        time.sleep(1.5)
        httpx2.delete(faults)  # Magento comes back while the workflow waits
        assert DBOS.retrieve_workflow(handle).get_result()["state"] == "accepted"

        httpx2.post(faults, json={"rules": [{"endpoint": "/V1/inventory", "error_rate": 1.0}]})
        gave_up = order_workflows.enqueue({"phase": "accept", "order_id": hopeless,
                                           "workflow_id": f"order-accept:{hopeless}"})
        result = DBOS.retrieve_workflow(gave_up).get_result()
        assert "transient_error" in result
        with runtime.db.session() as s:
            assert issue_service.is_active(s, orders_domain.ORDER_DECISION_FAILED, hopeless)
            assert order_service.get_order_record(SqlOrdersRepository(s), hopeless).state == "received"
    finally:
        httpx2.delete(faults)
        engine.shutdown()
        runtime.close()
