"""Issue 14 item 2: a product import that sits in SENT (sent to John Lewis for integration) must not
let marketbridge send the product's offer early. Against both sandboxes over real HTTP; the Mirakl
sandbox's operator takes two minutes of sandbox time to integrate, moved on by the test's clock."""

from __future__ import annotations

import time

import httpx2
import pytest

from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.bootstrap import build_runtime
from marketbridge.services import catalogue as catalogue_service
from tests.conftest import make_settings
from tests.integration.test_catalogue_publish import create_magento_product


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    yield runtime
    runtime.close()


def _calls(url: str, api: str) -> int:
    return sum(1 for c in httpx2.get(f"{url}/_sandbox/calls").json() if c["api"] == api)


def _pass_until(rt, sku: str, predicate, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        catalogue_service.publish_pass(rt)
        if predicate(catalogue_service.statuses(rt, [sku])[sku]):
            return
        time.sleep(0.1)
    raise AssertionError(f"{sku} never got there: {catalogue_service.statuses(rt, [sku])[sku]}")


def test_a_product_import_sitting_in_sent_for_two_minutes_produces_no_offer_failure(rt, fresh_sandboxes) -> None:
    mirakl = fresh_sandboxes.mirakl_url
    httpx2.post(f"{mirakl}/_sandbox/settings", json={"product_integration_delay_seconds": 120})
    create_magento_product(fresh_sandboxes, "SENT-LAMP-1", qty=4, price=30.0)
    catalogue_service.prepare(rt, ["SENT-LAMP-1"])
    _pass_until(rt, "SENT-LAMP-1", lambda s: s.product_import_id)

    # the transformation is over: P42 says SENT; keep passing through two minutes of integration
    for _ in range(8):
        httpx2.post(f"{mirakl}/_sandbox/clock/advance", json={"seconds": 14})
        catalogue_service.publish_pass(rt)
        time.sleep(0.05)
    with rt.catalogue_store.unit_of_work() as repo:
        [record] = repo.submitted_imports("publish")
        assert (record.api, record.remote_status) == ("P41", "SENT")
    assert _calls(mirakl, "P42") >= 1
    assert _calls(mirakl, "OF01") == 0  # no offer while the product is not integrated
    view = catalogue_service.statuses(rt, ["SENT-LAMP-1"])["SENT-LAMP-1"]
    assert view.status == "pending" and not view.problems

    httpx2.post(f"{mirakl}/_sandbox/clock/advance", json={"seconds": 10})  # integration complete
    _pass_until(rt, "SENT-LAMP-1", lambda s: s.status == "live")
    with rt.db.session() as s:
        assert s.query(IssueRecord).filter_by(type="catalogue_product_rejected").count() == 0
    offer = httpx2.get(f"{mirakl}/_sandbox/offers/SENT-LAMP-1").json()
    assert offer["active"] is True and offer["quantity"] == 4
