"""Publishing against both sandboxes over real HTTP, with a real database."""

from __future__ import annotations

import time

import httpx2
import pytest

from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.bootstrap import build_runtime
from marketbridge.services import catalogue as catalogue_service
from tests.conftest import make_settings

MAGENTO_HEADERS = {"Authorization": "Bearer sandbox-magento-token"}


def create_magento_product(boxes, sku: str, **overrides) -> None:
    """What a merchandiser does in the Adobe Commerce admin (POST /V1/products)."""
    attributes = {
        "description": "A lamp for reading.", "brand": "Acme", "ean": "5012345678900",
        "image": f"https://images.example.invalid/{sku.lower()}.jpg", "mb_category_code": "home/lighting",
    }
    attributes.update(overrides.pop("attributes", {}))
    product = {"sku": sku, "name": overrides.pop("name", "Reading Lamp"), "price": overrides.pop("price", 49.5),
               "type_id": "simple", "status": 1, "weight": 2,
               "custom_attributes": [{"attribute_code": k, "value": v} for k, v in attributes.items() if v is not None],
               "extension_attributes": {"stock_item": {"qty": overrides.pop("qty", 7), "is_in_stock": True}}}
    product.update(overrides)
    response = httpx2.post(f"{boxes.magento_url}/rest/V1/products", headers=MAGENTO_HEADERS, json={"product": product})
    assert response.status_code == 200, response.text


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    yield runtime
    runtime.close()


def test_a_new_simple_product_becomes_a_live_offer(rt, fresh_sandboxes):
    create_magento_product(fresh_sandboxes, "NEW-LAMP-1", qty=7, price=49.5)
    states = catalogue_service.publish(rt, ["NEW-LAMP-1"], timeout=60, poll_seconds=0.2)
    assert states["NEW-LAMP-1"].status == "live", states
    offer = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/NEW-LAMP-1").json()
    assert offer["quantity"] == 7 and offer["price"] == 49.5 and offer["active"] is True
    assert offer["product_title"] == "Reading Lamp"
    calls = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/calls").json()
    codes = [c.get("api") or c.get("code") or str(c) for c in (calls.get("calls", calls) if isinstance(calls, dict) else calls)]
    assert any("P41" in c or "/api/products/imports" in c for c in codes)
    assert any("OF01" in c or "/api/offers/imports" in c for c in codes)
    assert catalogue_service.statuses(rt, ["NEW-LAMP-1"])["NEW-LAMP-1"].product_import_id


def test_invalid_products_are_not_sent_and_every_problem_is_shown(rt, fresh_sandboxes):
    create_magento_product(fresh_sandboxes, "BAD-1", name="x" * 200,
                           attributes={"image": None, "ean": "123", "mb_category_code": "Garden"})
    states = catalogue_service.publish(rt, ["BAD-1"], timeout=30, poll_seconds=0.2)
    problems = states["BAD-1"].problems
    assert states["BAD-1"].status == "invalid"
    assert "'Title' is 200 characters long; the limit is 150." in problems
    assert "It has no image; 'Main image' is required." in problems
    assert any("'EAN'" in p for p in problems)
    assert any("('Garden') is not mapped" in p for p in problems)
    with rt.db.session() as s:
        record = s.query(IssueRecord).filter_by(type="catalogue_product_invalid", object_id="BAD-1").one()
        assert record.owner == "ecommerce" and "no image" in record.message
    assert httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/BAD-1").status_code == 404

    # ecommerce maps the category, fixes the product; the issue resolves itself
    with rt.catalogue_store.unit_of_work() as repo:
        catalogue_service.set_category_mapping(repo, "Garden", "home/lighting", actor="tester")
    create_magento_product(fresh_sandboxes, "BAD-1", name="Garden Lamp", attributes={"mb_category_code": "Garden"})
    states = catalogue_service.publish(rt, ["BAD-1"], timeout=60, poll_seconds=0.2)
    assert states["BAD-1"].status == "live", states
    with rt.db.session() as s:
        assert s.query(IssueRecord).filter_by(type="catalogue_product_invalid", object_id="BAD-1").one().state == "resolved"


def test_excluded_types_show_their_reason_and_a_rule_can_publish_them(rt, fresh_sandboxes):
    states = catalogue_service.publish(rt, ["MB-BUNDLE-0001", "MB-GIFTCARD-0001", "MB-ENGRAVED-0001", "NO-SUCH-SKU"],
                             timeout=30, poll_seconds=0.2)
    assert states["MB-BUNDLE-0001"].status == "excluded" and "Bundles" in states["MB-BUNDLE-0001"].problems[0]
    assert states["MB-GIFTCARD-0001"].status == "excluded"
    assert "custom option" in states["MB-ENGRAVED-0001"].problems[0]
    assert states["NO-SUCH-SKU"].status == "not_found"
    with rt.catalogue_store.unit_of_work() as repo:
        catalogue_service.set_override(repo, "MB-ENGRAVED-0001", "publish_as_simple", actor="tester", note="sell without engraving")
    states = catalogue_service.publish(rt, ["MB-ENGRAVED-0001"], timeout=60, poll_seconds=0.2)
    assert states["MB-ENGRAVED-0001"].status == "live", states


def test_configurable_children_publish_with_the_parent_as_variant_group(rt, fresh_sandboxes):
    with rt.catalogue_store.unit_of_work() as repo:
        for option_id, code in ((50, "RED"), (51, "BLUE"), (52, "GREEN"), (53, "BLACK"), (54, "WHITE"), (55, "OAK"),
                                (56, "GREY")):
            catalogue_service.set_value_mapping(repo, "color", str(option_id), code, actor="tester")
        for option_id, code in ((167, "S"), (168, "M"), (169, "L")):
            catalogue_service.set_value_mapping(repo, "size", str(option_id), code, actor="tester")
    states = catalogue_service.publish(rt, ["MB-CFG-0001"], timeout=60, poll_seconds=0.2)
    children = {k: v for k, v in states.items() if k != "MB-CFG-0001"}
    assert states["MB-CFG-0001"].status == "excluded"
    assert len(children) == 6
    assert all(v.variant_group == "MB-CFG-0001" for v in children.values())
    assert all(v.status == "live" for v in children.values()), children


def test_the_schedule_pass_baselines_then_finds_new_products(rt, fresh_sandboxes):
    first = catalogue_service.run_scheduled_pass(rt)
    assert first.discovered == 0  # existing catalogue: the audit's business, not a bulk publication
    time.sleep(1.1)  # Magento timestamps have one-second resolution
    create_magento_product(fresh_sandboxes, "NEW-LAMP-2")
    second = catalogue_service.run_scheduled_pass(rt)
    assert second.discovered == 1 and second.ready == 1 and second.products_import


def test_quiet_passes_do_not_read_the_catalogue_again(rt, fresh_sandboxes, monkeypatch):
    """The cursor follows Magento's clock (its Date header), not the newest product: a catalogue
    saved in one second (a seeded store, an import) was re-read on every pass."""
    read: list[str] = []
    real = rt.magento.iterate_products

    def counting(*args, **kwargs):
        for product in real(*args, **kwargs):
            read.append(product.sku)
            yield product

    monkeypatch.setattr(rt.magento, "iterate_products", counting)
    catalogue_service.run_scheduled_pass(rt)  # baseline: one small answer, not the whole catalogue
    assert read == []
    for _ in range(2):
        time.sleep(2.5)  # beyond the pass's look-back of two seconds
        read.clear()
        catalogue_service.run_scheduled_pass(rt)
    assert read == []
    create_magento_product(fresh_sandboxes, "NEW-LAMP-3")
    assert catalogue_service.run_scheduled_pass(rt).discovered == 1
    assert read == ["NEW-LAMP-3"]


def test_a_marketplace_rejection_is_shown_with_its_reason(rt, fresh_sandboxes):
    """PM11 was cached before the operator made the EAN check stricter: our pre-validation passes, the
    marketplace's P44 report rejects, and the reason reaches the listing and ecommerce."""
    import dataclasses

    reference = catalogue_service.market_reference(rt)
    lenient = dataclasses.replace(reference, attributes=tuple(
        dataclasses.replace(a, validations="") if a.code == "ean" else a for a in reference.attributes))
    rt.extras["catalogue.reference"] = (time.monotonic(), lenient)
    create_magento_product(fresh_sandboxes, "REJ-1", attributes={"ean": "12345"})
    states = catalogue_service.publish(rt, ["REJ-1"], timeout=60, poll_seconds=0.2)
    assert states["REJ-1"].status == "rejected", states
    assert states["REJ-1"].problems == ["The 'ean' attribute must be 13 digits."]
    with rt.db.session() as s:
        record = s.query(IssueRecord).filter_by(type="catalogue_product_rejected", object_id="REJ-1").one()
        assert "must be 13 digits" in record.message and record.owner == "ecommerce"


def test_cli_publish_status_and_mappings(rt, fresh_sandboxes, monkeypatch, migrated_db_url):
    import json

    from typer.testing import CliRunner

    from marketbridge.cli.main import app

    monkeypatch.setenv("MARKETBRIDGE_DATABASE_URL", migrated_db_url)
    monkeypatch.setenv("MARKETBRIDGE_MAGENTO_BASE_URL", fresh_sandboxes.magento_url)
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_BASE_URL", fresh_sandboxes.mirakl_url)
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE", "0.01")
    create_magento_product(fresh_sandboxes, "CLI-LAMP-1", attributes={"mb_category_code": "Lamps"})
    runner = CliRunner()
    result = runner.invoke(app, ["catalogue", "publish", "--sku", "CLI-LAMP-1", "--json", "--timeout", "30"])
    assert result.exit_code == 1  # invalid: the category is not mapped
    assert json.loads(result.stdout)["CLI-LAMP-1"]["status"] == "invalid"
    assert runner.invoke(app, ["catalogue", "mapping", "category", "Lamps", "home/lighting"]).exit_code == 0
    # Each CLI command re-reads PM11/H11/VL11 (the reference cache lives in one process) and PM11 is
    # hourly: without this the second publish sat 34 s in the sandbox's scaled Retry-After. Follow-up
    # for the catalogue flow: a command should not wait out the PM11 window (persist the reference).
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/rate-limits/reset").raise_for_status()
    result = runner.invoke(app, ["catalogue", "publish", "--sku", "CLI-LAMP-1", "--json", "--timeout", "60"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["CLI-LAMP-1"]["status"] == "live"
    result = runner.invoke(app, ["catalogue", "status", "CLI-LAMP-1", "--json"])
    assert json.loads(result.stdout)["CLI-LAMP-1"]["status"] == "live"
    assert runner.invoke(app, ["catalogue", "status", "NEVER-SEEN"]).exit_code == 1

    # an operator changes the quantity; `audit --fix` puts Adobe Commerce's value back
    assert httpx2.put(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/CLI-LAMP-1", json={"quantity": 3}).status_code == 200
    result = runner.invoke(app, ["audit", "--json"])
    drifts = json.loads(result.stdout)["drifts"]
    assert {"kind": "quantity_mismatch", "offer_sku": "CLI-LAMP-1", "expected": "7", "actual": "3"}.items() <= next(
        d for d in drifts if d["offer_sku"] == "CLI-LAMP-1").items()
    result = runner.invoke(app, ["audit", "--fix", "--json"])
    assert result.exit_code == 0, result.output
    assert httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/CLI-LAMP-1").json()["quantity"] == 7
    result = runner.invoke(app, ["skus", "near-misses", "--json"])
    assert any(r["offer_sku"] == "MB-TRAILING-0001 " for r in json.loads(result.stdout))
    assert runner.invoke(app, ["skus", "link", "MB-TRAILING-0001 ", "MB-TRAILING-0001"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["skus", "near-misses", "--json"]).stdout) == []
    assert runner.invoke(app, ["skus", "unlink", "MB-TRAILING-0001 "]).exit_code == 0
    assert runner.invoke(app, ["skus", "unlink", "MB-TRAILING-0001 "]).exit_code == 2
