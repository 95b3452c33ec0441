"""``marketbridge carriers ...`` and ``marketbridge shipments ...`` against the sandboxes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from marketbridge.cli.main import app


@pytest.fixture
def run(migrated_db_url, fresh_sandboxes, monkeypatch):
    monkeypatch.setenv("MARKETBRIDGE_DATABASE_URL", migrated_db_url)
    monkeypatch.setenv("MARKETBRIDGE_MAGENTO_BASE_URL", fresh_sandboxes.magento_url)
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_BASE_URL", fresh_sandboxes.mirakl_url)
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE", "0.01")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def test_carriers_list_map_suggest_unmap(run):
    marketplace = run("carriers", "list", "--marketplace", "--json")
    assert marketplace.exit_code == 0
    assert "DPD" in {c["code"] for c in json.loads(marketplace.stdout)}

    suggested = run("carriers", "suggest", "DPD Local", "--json")
    assert suggested.exit_code == 0 and json.loads(suggested.stdout)["suggestions"][0]["code"] == "DPD"

    assert run("carriers", "map", "DPD").exit_code == 2  # nothing to match on
    bad = run("carriers", "map", "--title", "Speedy", "NOPE")
    assert bad.exit_code == 1 and "NOPE" in bad.stdout + (bad.stderr or "")
    ok = run("carriers", "map", "--code", "custom", "--title", "Speedy", "dpd")
    assert ok.exit_code == 0 and "DPD" in ok.stdout

    mappings = json.loads(run("carriers", "list", "--json").stdout)
    assert [(m["magento_carrier_code"], m["title"], m["marketplace_code"]) for m in mappings] == [
        ("custom", "Speedy", "DPD")]
    matched = json.loads(run("carriers", "suggest", "speedy", "--code", "custom", "--json").stdout)
    assert matched["match"]["code"] == "DPD" and matched["match"]["method"] == "mapping"

    assert run("carriers", "unmap", str(mappings[0]["id"])).exit_code == 0
    assert run("carriers", "unmap", str(mappings[0]["id"])).exit_code == 1
    assert json.loads(run("carriers", "list", "--json").stdout) == []


def test_shipments_list_and_retry_of_an_unknown_shipment(run):
    listed = run("shipments", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    assert run("shipments", "retry", "999").exit_code == 1
    assert run("shipments", "show", "999").exit_code == 1
