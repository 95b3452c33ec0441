"""The orders flow with ``marketbridge run`` up and nobody running a command.

A customer order placed through the Mirakl sandbox's control API is accepted by the service on its
own schedule; after the customer is debited exactly one Adobe Commerce order exists with
``ext_order_id`` = the marketplace order id. A second test kills the service with SIGKILL between
the Magento create and our record (a test-only env hook sleeps there), restarts it, and counts the
Magento orders with that ``ext_order_id`` through the sandbox.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from marketbridge.adapters.magento.client import MagentoClient
from marketbridge.adapters.magento.criteria import SearchCriteria
from tests.conftest import ON_POSTGRES, TEST_SESSION_SECRET

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Run before ``marketbridge run`` in the service process when a test needs it to stop at the kill
#: point: right after the order is created in Adobe Commerce, before we record it. The pause is
#: injected here, by wrapping ``services.orders.creation._place`` in the child (the module whose
#: ``create_in_magento`` looks it up), so production code carries no test hook.
PAUSE_AFTER_MAGENTO_CREATE = """
import time
from marketbridge.services.orders import creation as _orders
_original_place = _orders._place
def _place_then_pause(runtime, order):
    entity_id = _original_place(runtime, order)
    print(f"paused-after-magento-create {{order.order_id}}", flush=True)
    time.sleep({seconds})
    return entity_id
_orders._place = _place_then_pause
"""


def start_service(db_url: str, boxes, log: Path, *, pause_after_magento_create: float | None = None,
                  **env_extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MARKETBRIDGE_DATABASE_URL": db_url,
        "MARKETBRIDGE_MAGENTO_BASE_URL": boxes.magento_url,
        "MARKETBRIDGE_MIRAKL_BASE_URL": boxes.mirakl_url,
        "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": "0.01",
        "MARKETBRIDGE_ORDER_POLL_CRON": "*/2 * * * * *",
        "MARKETBRIDGE_ORDER_POLL_OVERLAP_SECONDS": "30",
        "MARKETBRIDGE_WEB_PORT": str(free_port()),
        "MARKETBRIDGE_EXECUTOR_ID": "e2e-orders",
        "MARKETBRIDGE_SESSION_SECRET": TEST_SESSION_SECRET,
        **env_extra,
    }
    prelude = "" if pause_after_magento_create is None else \
        PAUSE_AFTER_MAGENTO_CREATE.format(seconds=float(pause_after_magento_create))
    out = open(log, "ab")  # noqa: SIM115 - the child writes to it for its whole life
    return subprocess.Popen([sys.executable, "-c", prelude + "from marketbridge.cli import main; main()", "run"], env=env,
                            stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT))


def wait_until(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def sandbox_order(boxes, order_id: str) -> dict:
    return httpx2.get(f"{boxes.mirakl_url}/_sandbox/orders/{order_id}").json()


def magento_orders_with(boxes, ext_id: str) -> list:
    with MagentoClient(boxes.magento_url, "sandbox-magento-token") as client:
        items = client.search_orders(SearchCriteria().where("ext_order_id", ext_id)).items
    return [o for o in items if o.ext_order_id == ext_id]


def place_stocked_order(boxes) -> str:
    with MagentoClient(boxes.magento_url, "sandbox-magento-token") as client:
        for i in range(1, 120):
            sku = f"MB-{i:06d}"
            try:
                product = client.get_product(sku)
            except Exception:
                continue
            if product.type_id == "simple" and product.enabled and client.salable_quantity(sku, 1) >= 3:
                offer = httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/{sku}")
                if offer.status_code == 200 and offer.json().get("quantity", 0) >= 3:
                    break
    response = httpx2.post(f"{boxes.mirakl_url}/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]})
    assert response.status_code == 201, response.text
    return response.json()["order_id"]


def completed_polls(db_url: str) -> int:
    """Completed runs of the orders poll, from the engine's own records: "a few more polls" is
    waited for by counting them, not by sleeping (a loaded machine may run none in a fixed sleep)."""
    from dbos import DBOSClient
    from dbos._serialization import DBOSPortableJSONSerializer

    from marketbridge.adapters.db.engine_store import engine_database_url

    client = DBOSClient(system_database_url=engine_database_url(db_url), serializer=DBOSPortableJSONSerializer())
    try:
        return len(client.list_workflows(name="orders.poll", status="SUCCESS", load_input=False, load_output=False))
    finally:
        client.destroy()


def wait_for_more_polls(db_url: str, count: int, log: Path) -> None:
    seen = completed_polls(db_url)
    wait_until(lambda: completed_polls(db_url) >= seen + count, 60, f"{count} more order polls", log)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_order_flows_to_magento_with_nobody_running_a_command(migrated_db_url, fresh_sandboxes, tmp_path):
    log = tmp_path / "service.log"
    service = start_service(migrated_db_url, fresh_sandboxes, log)
    try:
        order_id = place_stocked_order(fresh_sandboxes)
        wait_until(lambda: sandbox_order(fresh_sandboxes, order_id)["order_state"] == "WAITING_DEBIT", 60,
                   "the service to accept the order", log)
        assert httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/debit").status_code == 200
        orders = wait_until(lambda: magento_orders_with(fresh_sandboxes, order_id), 60,
                            "the Magento order", log)
        wait_for_more_polls(migrated_db_url, 2, log)  # a few more polls: still exactly one
        orders = magento_orders_with(fresh_sandboxes, order_id)
        assert len(orders) == 1
        assert orders[0].ext_order_id == order_id
    finally:
        stop(service)


@pytest.mark.slow
@pytest.mark.skipif(ON_POSTGRES, reason="restart recovery by the same executor is exercised on SQLite")
def test_kill_9_between_magento_create_and_our_record_leaves_exactly_one_order(
        migrated_db_url, fresh_sandboxes, tmp_path):
    from sqlalchemy import create_engine, text

    log = tmp_path / "service.log"
    first = start_service(migrated_db_url, fresh_sandboxes, log, pause_after_magento_create=120)
    try:
        order_id = place_stocked_order(fresh_sandboxes)
        wait_until(lambda: sandbox_order(fresh_sandboxes, order_id)["order_state"] == "WAITING_DEBIT", 60,
                   "the service to accept the order", log)
        httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/debit")
        wait_until(lambda: f"paused-after-magento-create {order_id}" in log.read_text(errors="replace"), 60,
                   "the pause after the Magento create", log)
        assert len(magento_orders_with(fresh_sandboxes, order_id)) == 1
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    engine = create_engine(migrated_db_url)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT state, magento_entity_id FROM marketplace_orders WHERE order_id = :o"),
                              {"o": order_id}).one()
    assert before.magento_entity_id is None  # killed before our record

    second = start_service(migrated_db_url, fresh_sandboxes, log)
    try:
        def recorded():
            with engine.connect() as conn:
                row = conn.execute(text("SELECT state, magento_entity_id FROM marketplace_orders WHERE order_id = :o"),
                                   {"o": order_id}).one()
            return row if row.magento_entity_id is not None else None

        row = wait_until(recorded, 60, "the restarted service to record the order", log)
        assert row.state == "created"
        wait_for_more_polls(migrated_db_url, 2, log)
        orders = magento_orders_with(fresh_sandboxes, order_id)
        assert len(orders) == 1
        assert orders[0].entity_id == row.magento_entity_id
    finally:
        stop(second)
        engine.dispose()
