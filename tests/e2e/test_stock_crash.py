"""kill -9 of `marketbridge run` after the stock file was uploaded and before its result was
recorded: the restarted service resumes the batch from its checkpoint, records the result, and the
file is not uploaded twice; the change is not lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from marketbridge.sandbox.catalogue import seed_catalogue
from marketbridge.sandbox.server import free_port
from tests import waiting
from tests.conftest import ON_POSTGRES, TEST_SESSION_SECRET, start_sandboxes

ROOT = Path(__file__).resolve().parents[2]




def rows(db: Path, query: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.skipif(ON_POSTGRES, reason="reads the SQLite file directly")
def test_kill_9_between_upload_and_result_loses_nothing_and_sends_once(migrated_db_url, tmp_path):
    db = Path(migrated_db_url.removeprefix("sqlite:///"))
    port = free_port()
    key = tmp_path / "webhook.pem"
    boxes = start_sandboxes(webhook_url=f"http://127.0.0.1:{port}/webhooks/adobe-commerce",
                            webhook_private_key_path=str(key))
    # the marketplace takes 4 s to process an import: time to kill the service while it waits
    httpx2.post(f"{boxes.mirakl_url}/_sandbox/settings", json={"import_delay_seconds": 4}).raise_for_status()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MARKETBRIDGE_DATABASE_URL": migrated_db_url,
           "MARKETBRIDGE_MAGENTO_BASE_URL": boxes.magento_url, "MARKETBRIDGE_MIRAKL_BASE_URL": boxes.mirakl_url,
           "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": "0.05", "MARKETBRIDGE_STOCK_PUSH_CRON": "* * * * * *",
           "MARKETBRIDGE_STOCK_POLL_CRON": "0 0 * * * *", "MARKETBRIDGE_PRICE_SYNC_ENABLED": "false",
           "MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY_FILE": str(key) + ".pub", "MARKETBRIDGE_EXECUTOR_ID": "local",
           "MARKETBRIDGE_SESSION_SECRET": TEST_SESSION_SECRET}
    cmd = [sys.executable, "-c", "from marketbridge.cli.main import main; main()", "run", "--port", str(port)]

    def start() -> subprocess.Popen:
        # stderr to a file: an unread pipe blocks the service once 64 KiB of log lines fill it
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "service.err", "ab"),  # noqa: SIM115
                                cwd=tmp_path)
        wait_until(lambda: _up(port), timeout=60)
        return proc

    sku = next(p.sku for p in seed_catalogue(120, 7)
               if p.type_id == "simple" and p.marketplace_sku == p.sku and p.status == 1 and p.manage_stock)
    service = start()
    try:
        httpx2.post(f"{boxes.magento_url}/rest/all/V1/inventory/source-items",
                    headers={"Authorization": "Bearer sandbox-magento-token"},
                    json={"sourceItems": [{"sku": sku, "source_code": "default", "quantity": 4242, "status": 1}]}
                    ).raise_for_status()
        expected = httpx2.get(f"{boxes.magento_url}/rest/all/V1/inventory/get-product-salable-quantity/{sku}/1",
                              headers={"Authorization": "Bearer sandbox-magento-token"}).json()
        wait_until(lambda: rows(db, "select id from sync_batches where state='sent' and import_id is not null"))
        service.send_signal(signal.SIGKILL)
        service.wait()
        assert rows(db, "select state from sync_batches") == [("sent",)]  # uploaded, result not recorded
        service = start()
        wait_until(lambda: rows(db, "select state from sync_batches") == [("complete",)])
        assert httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/{sku}").json()["quantity"] == expected
        assert rows(db, f"select published_qty, stock_result from sku_states where sku='{sku}'") == [(expected, "ok")]
        uploads = [c for c in httpx2.get(f"{boxes.mirakl_url}/_sandbox/calls").json() if c["api"] == "STO01"]
        assert len(uploads) == 1
    finally:
        if service.poll() is None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.kill()
        boxes.stop()


def _up(port: int) -> bool:
    try:
        return httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx2.HTTPError:
        return False


def wait_until(predicate, timeout: float = 60.0, every: float = 0.2):
    return waiting.wait_until(predicate, timeout, every)
