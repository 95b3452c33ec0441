"""``marketbridge orders ...`` against a real database and the sandboxes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from marketbridge.bootstrap import build_runtime
from marketbridge.cli.main import app
from marketbridge.services import orders as order_service
from tests.conftest import make_settings
from tests.integration.test_orders_service import in_stock_skus, place, read_orders


def test_list_show_and_decide_from_the_cli(migrated_db_url, fresh_sandboxes, monkeypatch):
    env = {"MARKETBRIDGE_DATABASE_URL": migrated_db_url, "MARKETBRIDGE_MAGENTO_BASE_URL": fresh_sandboxes.magento_url,
           "MARKETBRIDGE_MIRAKL_BASE_URL": fresh_sandboxes.mirakl_url, "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": "0.01"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    try:
        (sku,) = in_stock_skus(runtime, 1)
        order_id = place(fresh_sandboxes, [(sku, 1)], currency_iso_code="EUR")
        read_orders(runtime)
        assert order_service.decide(runtime, order_id).state == "held"
    finally:
        runtime.close()
    runner = CliRunner()
    listed = runner.invoke(app, ["orders", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [o["order_id"] for o in json.loads(listed.output)] == [order_id]
    shown = runner.invoke(app, ["orders", "show", order_id])
    assert shown.exit_code == 0 and "not the store currency" in shown.output and "held" in shown.output
    missing = runner.invoke(app, ["orders", "show", "NOPE-1"])
    assert missing.exit_code == 1
    accepted = runner.invoke(app, ["orders", "accept", order_id, "--actor", "bob"])
    assert accepted.exit_code == 0, accepted.output
    assert "is now accepted" in accepted.output
    again = runner.invoke(app, ["orders", "refuse", order_id])
    assert again.exit_code == 1 and "only held" in again.output and "is accepted" in again.output
