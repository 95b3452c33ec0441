"""Publishing against both sandboxes over real HTTP, with a real database."""

from __future__ import annotations

import time

import httpx2
import pytest

from marketbridge.adapters.db.models.core import ExceptionRecord
from marketbridge.runtime import build_runtime
from marketbridge.services import catalogue as service
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
    states = service.publish(rt, ["NEW-LAMP-1"], timeout=60, poll_seconds=0.2)
    assert states["NEW-LAMP-1"]["status"] == "live", states
    offer = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/NEW-LAMP-1").json()
    assert offer["quantity"] == 7 and offer["price"] == 49.5 and offer["active"] is True
    assert offer["product_title"] == "Reading Lamp"
    calls = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/calls").json()
    codes = [c.get("api") or c.get("code") or str(c) for c in (calls.get("calls", calls) if isinstance(calls, dict) else calls)]
    assert any("P41" in c or "/api/products/imports" in c for c in codes)
    assert any("OF01" in c or "/api/offers/imports" in c for c in codes)
    assert service.statuses(rt, ["NEW-LAMP-1"])["NEW-LAMP-1"]["product_import_id"]


def test_invalid_products_are_not_sent_and_every_problem_is_shown(rt, fresh_sandboxes):
    create_magento_product(fresh_sandboxes, "BAD-1", name="x" * 200,
                           attributes={"image": None, "ean": "123", "mb_category_code": "Garden"})
    states = service.publish(rt, ["BAD-1"], timeout=30, poll_seconds=0.2)
    problems = states["BAD-1"]["problems"]
    assert states["BAD-1"]["status"] == "invalid"
    assert "'Title' is 200 characters long; the limit is 150." in problems
    assert "It has no image; 'Main image' is required." in problems
    assert any("'EAN'" in p for p in problems)
    assert any("('Garden') is not mapped" in p for p in problems)
    with rt.db.session() as s:
        record = s.query(ExceptionRecord).filter_by(type="catalogue_product_invalid", object_id="BAD-1").one()
        assert record.owner == "ecommerce" and "no image" in record.message
    assert httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/BAD-1").status_code == 404

    # ecommerce maps the category, fixes the product; the exception resolves itself
    with rt.db.session() as s:
        service.set_category_mapping(s, "Garden", "home/lighting", actor="tester")
    create_magento_product(fresh_sandboxes, "BAD-1", name="Garden Lamp", attributes={"mb_category_code": "Garden"})
    states = service.publish(rt, ["BAD-1"], timeout=60, poll_seconds=0.2)
    assert states["BAD-1"]["status"] == "live", states
    with rt.db.session() as s:
        assert s.query(ExceptionRecord).filter_by(type="catalogue_product_invalid", object_id="BAD-1").one().state == "resolved"


def test_excluded_types_show_their_reason_and_a_rule_can_publish_them(rt, fresh_sandboxes):
    states = service.publish(rt, ["MB-BUNDLE-0001", "MB-GIFTCARD-0001", "MB-ENGRAVED-0001", "NO-SUCH-SKU"],
                             timeout=30, poll_seconds=0.2)
    assert states["MB-BUNDLE-0001"]["status"] == "excluded" and "Bundles" in states["MB-BUNDLE-0001"]["problems"][0]
    assert states["MB-GIFTCARD-0001"]["status"] == "excluded"
    assert "custom option" in states["MB-ENGRAVED-0001"]["problems"][0]
    assert states["NO-SUCH-SKU"]["status"] == "not_found"
    with rt.db.session() as s:
        service.set_override(s, "MB-ENGRAVED-0001", "publish_as_simple", actor="tester", note="sell without engraving")
    states = service.publish(rt, ["MB-ENGRAVED-0001"], timeout=60, poll_seconds=0.2)
    assert states["MB-ENGRAVED-0001"]["status"] == "live", states


def test_configurable_children_publish_with_the_parent_as_variant_group(rt, fresh_sandboxes):
    with rt.db.session() as s:
        for option_id, code in ((50, "RED"), (51, "BLUE"), (52, "GREEN"), (53, "BLACK"), (54, "WHITE"), (55, "OAK"),
                                (56, "GREY")):
            service.set_value_mapping(s, "color", str(option_id), code, actor="tester")
        for option_id, code in ((167, "S"), (168, "M"), (169, "L")):
            service.set_value_mapping(s, "size", str(option_id), code, actor="tester")
    states = service.publish(rt, ["MB-CFG-0001"], timeout=60, poll_seconds=0.2)
    children = {k: v for k, v in states.items() if k != "MB-CFG-0001"}
    assert states["MB-CFG-0001"]["status"] == "excluded"
    assert len(children) == 6
    assert all(v["variant_group"] == "MB-CFG-0001" for v in children.values())
    assert all(v["status"] == "live" for v in children.values()), children


def test_the_schedule_pass_baselines_then_finds_new_products(rt, fresh_sandboxes):
    first = service.run_scheduled_pass(rt)
    assert first["discovered"] == 0  # existing catalogue: the audit's business, not a bulk publication
    time.sleep(1.1)  # Magento timestamps have one-second resolution
    create_magento_product(fresh_sandboxes, "NEW-LAMP-2")
    second = service.run_scheduled_pass(rt)
    assert second["discovered"] == 1 and second["ready"] == 1 and second["products_import"]
