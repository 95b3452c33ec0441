"""Real shapes (issue 14, offers and product imports): the documented samples and examples under
``../shared/reference/mirakl`` go through our parsers, our catalogue flow and the simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from marketbridge.adapters.mirakl import MiraklClient
from marketbridge.adapters.mirakl.csvfiles import read_csv
from marketbridge.adapters.mirakl.models import Offer, ProductImportStatus
from marketbridge.domain.pricing import keep_lines
from marketbridge.sandbox.catalogue import seed_catalogue
from marketbridge.sandbox.mirakl.state import SandboxState
from marketbridge.services.stock.prices import held_price
from tests.reference import REFERENCE_ROOT, requires_reference

pytestmark = requires_reference
MIRAKL = REFERENCE_ROOT / "mirakl"


def _spec() -> dict[str, Any]:
    return json.loads((MIRAKL / "mirakl-mmp-seller-openapi.json").read_text())


def _client(body: bytes, content_type: str) -> MiraklClient:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, content=body,
                                                                     headers={"content-type": content_type}))
    return MiraklClient("http://mirakl.invalid", "k", transport=transport, rate_scale=0.0001, retry_attempts=1)


def test_the_documented_p42_sample_at_sent_is_not_a_finished_import() -> None:
    """``P42.response.200.json`` is an import at SENT with a transformed file and no reports yet."""
    sample = (MIRAKL / "P42.response.200.json").read_bytes()
    status = ProductImportStatus.model_validate_json(sample)
    assert status.import_status == "SENT" and not status.has_error_report
    from tests.fakes_catalogue import FakeCatalogueMirakl  # the catalogue flow reading that very answer
    from tests.unit.test_catalogue_flow import Flow

    flow = Flow()
    flow.store.add("A", status="pending", stage="product_sent")
    record = flow.store.add_sent_import("P41", "2005", ["A"])
    assert isinstance(flow.mirakl, FakeCatalogueMirakl)
    flow.mirakl.statuses["2005"] = json.loads(sample)
    from marketbridge.services import catalogue

    assert catalogue.follow_imports(flow.runtime) == 0
    assert (record.status, record.remote_status, flow.store.listings_["A"].stage) == ("submitted", "SENT",
                                                                                    "product_sent")


def test_the_documented_of03_example_is_read_by_name() -> None:
    body = (MIRAKL / "OF03.response.200.error-report.csv").read_bytes()
    with _client(body, "text/csv") as client:
        [error] = client.offer_error_report("1")
    assert (error.line, error.sku, error.message) == (2, "OFFER_SKU_004", "The product does not exist")


def test_the_documented_of21_price_set_is_kept_whole() -> None:
    """``OF21.response.200.json``: a default price with a discount and volume prices, a channel
    price and a customer price; keep mode sends every one back around our new price."""
    raw = json.loads((MIRAKL / "OF21.response.200.json").read_text())["offers"][0]
    held = [h for h in map(held_price, Offer.model_validate(raw).all_prices) if h is not None]
    assert [h.is_default for h in held] == [True, False, False]
    assert held[0].discount == Decimal("49") and [v.threshold for v in held[0].volume] == [1, 50, 100]
    assert held[2].channels == ("US",) and held[2].customer_groups == ("Group2", "Group3")
    rows = keep_lines(raw["shop_sku"], "50.00", held).rows
    assert [r.get("channels", "") for r in rows] == ["", "US", "US"]
    assert rows[0]["discount-price"] == "49.00" and rows[2]["customer-organization-ids"] == "Org1"


PRI01_EXAMPLES = ["multipart/form-data-0", "multipart/form-data-1", "multipart/form-data-2", "multipart/form-data-3"]


@pytest.mark.parametrize("example", PRI01_EXAMPLES)
def test_the_documented_pri01_examples_become_the_offers_whole_price_set(example: str) -> None:
    """SPEC PRI01's example files (plain, channel, scheduled and customer pricing) through the
    simulator: every line is a price of SKU001, and nothing else the offer had survives."""
    spec = _spec()
    content = spec["paths"]["/api/offers/pricing/imports"]["post"]["requestBody"]["content"]
    text = content["multipart/form-data"]["examples"][example]["value"]["file"]
    state = SandboxState(seed_catalogue(10, 3), rate_scale=0.001)
    sku = next(o.shop_sku for o in state.live_offers())
    state.offers["SKU001"] = state.offers.pop(sku)
    state.offers["SKU001"].shop_sku = "SKU001"
    state.operator_edit_offer("SKU001", {"channel_prices": {"OLD": 99.0}})
    job = state.submit_import("PRI01", text.encode())
    state.advance(60)
    state.get_import("PRI01", str(job.import_id))
    assert job.errors == []
    lines = read_csv(text.encode())[1]
    blocks = state.offer_json(state.offers["SKU001"])["all_prices"]
    assert len(blocks) == len(lines) and all(b.get("channel_code") != "OLD" for b in blocks)
