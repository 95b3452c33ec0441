"""Contract: the order feed's OR11 read against Mirakl's published seller OpenAPI and the simulator.

* every query parameter the feed sends is one OR11 declares, or one of the offset-pagination and
  sort parameters the operation says it supports ("offset pagination", "Sort fields") but does not
  declare (``max``, ``offset``, ``sort``, ``order``; see SOURCES.md on the spec file);
* the sort it asks for is the one SPEC lists for OR11 (``dateCreated``) and its dates are ISO
  date-times, as the ``date-time`` format of ``start_update_date`` asks;
* every OR11 answer it paged through validates against ``OR11_Response_200``;
* a first read (a long window) sends OR13 a body ``OR13_Request`` accepts, a differential one
  (an update-date range, the kind allowed every 5 minutes), and reads files OR15's schema accepts;
* the simulator keeps SPEC's sort between pages ("dateCreated (Default) - Sort by creation date,
  and then by order identifier (asc by default)"), updated orders included: the feed's "an order
  updated during the read never moves across a page boundary" rests on it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import httpx2
import pytest

from marketbridge.bootstrap import build_runtime
from marketbridge.sandbox.mirakl.app import create_app
from marketbridge.sandbox.server import serve_in_thread
from marketbridge.services import order_feed
from tests.conftest import make_settings
from tests.contract.test_mirakl_contract import (
    SPEC_PATH,
    RecordingTransport,
    _operation,
    assert_valid,
    request_validator,
    response_validator,
)

pytestmark = pytest.mark.skipif(not SPEC_PATH.exists(), reason="Mirakl reference OpenAPI not available")
UNDECLARED_PAGING = {"max", "offset", "sort", "order"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def _feed_on_simulator(database_url: str, *, orders: int, **settings: Any) -> tuple[Any, Any, RecordingTransport, Any]:
    """A Mirakl simulator with ``orders`` one-line orders placed, and a runtime whose client
    records every exchange with it (pages of 2)."""
    from marketbridge.adapters.mirakl import MiraklClient

    app = create_app(products=40, rate_scale=0.00001)
    server = serve_in_thread(app)
    transport = RecordingTransport()
    runtime = build_runtime(make_settings(database_url, mirakl_base_url=server.url, order_poll_page_size=2,
                                          mirakl_rate_limit_scale=0.00001, mirakl_shop_id=2001, **settings))
    runtime.mirakl = MiraklClient.from_settings(runtime.settings, transport=transport)  # type: ignore[assignment]
    skus = [o.shop_sku for o in app.state.sandbox.live_offers() if o.active and o.quantity >= 2][:orders]
    for sku in skus:
        httpx2.post(server.url + "/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]})
    return app, server, transport, runtime


def test_the_feed_asks_or11_only_what_the_spec_documents(spec: dict[str, Any], migrated_db_url: str) -> None:
    operation = _operation(spec, "OR11")
    declared = {p["name"] for p in operation["parameters"]}
    sorts = re.findall(r"<b>(\w+)</b>", operation["description"].split("Sort fields", 1)[1])
    assert sorts == ["dateCreated"]
    app, server, transport, runtime = _feed_on_simulator(migrated_db_url, orders=5,
                                                         order_feed_export_after_seconds=0)  # as tests/conftest.py
    try:
        result = order_feed.read(runtime, force=True)
        assert result.orders == 5 and result.pages == 3
        queries = [request.url.params for code, request, _ in transport.exchanges if code == "OR11"]
        assert len(queries) == 3
        validator = response_validator(spec, "OR11", "200")
        for code, _request, response in transport.exchanges:
            if code == "OR11":
                assert_valid(validator, response.json(), "OR11 answer")
        for params in queries:
            assert set(params.keys()) <= declared | UNDECLARED_PAGING, set(params.keys()) - declared
            assert params["sort"] == sorts[0] and params["order"] == "asc"
            dt.datetime.fromisoformat(params["start_update_date"].replace("Z", "+00:00"))
        assert [p["offset"] for p in queries] == ["0", "2", "4"]
    finally:
        runtime.close()
        server.stop()


def test_the_simulator_keeps_creation_order_across_pages_when_orders_are_updated() -> None:
    app = create_app(products=40, rate_scale=0.00001)
    server = serve_in_thread(app)
    try:
        skus = [o.shop_sku for o in app.state.sandbox.live_offers() if o.active and o.quantity >= 2][:4]
        ids = [httpx2.post(server.url + "/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]})
               .json()["order_id"] for sku in skus]
        httpx2.post(f"{server.url}/_sandbox/orders/{ids[0]}/cancel")  # the oldest is now the newest update
        headers = {"Authorization": "sandbox-mirakl-key"}
        seen: list[str] = []
        for offset in (0, 2):
            page = httpx2.get(server.url + "/api/orders", headers=headers, params={
                "start_update_date": "2000-01-01T00:00:00Z", "sort": "dateCreated", "order": "asc",
                "max": 2, "offset": offset}).json()
            seen += [o["order_id"] for o in page["orders"]]
        assert seen == ids
    finally:
        server.stop()


def test_a_long_windows_export_asks_a_differential_or13_the_spec_accepts(spec: dict[str, Any], migrated_db_url: str) -> None:
    app, server, transport, runtime = _feed_on_simulator(migrated_db_url, orders=3,
                                                         order_feed_export_after_seconds=6 * 3600)  # the default
    try:
        result = order_feed.read(runtime, force=True)
        assert result.source == "OR13 export" and result.orders == 3
        codes = [code for code, _request, _response in transport.exchanges]
        assert "OR11" not in codes and codes.count("OR13") == 1
        (body,) = [json.loads(request.content) for code, request, _ in transport.exchanges if code == "OR13"]
        assert_valid(request_validator(spec, "OR13"), body, "the feed's OR13 body")
        assert set(body) == {"start_update_date", "end_update_date", "megabytes_per_chunk"}  # differential
        files = [response.json() for code, _request, response in transport.exchanges if code == "OR15"]
        for file in files:
            assert_valid(response_validator(spec, "OR15", "200"), file, "OR15 file")
    finally:
        runtime.close()
        server.stop()
