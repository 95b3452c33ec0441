"""The order export's pure parts: OR13 request rules on our side, how the simulator cuts files and
keeps OR13/OR14 budgets, and the endpoint table's entries (seller OpenAPI, OR13–OR15)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from marketbridge.adapters.mirakl import models
from marketbridge.adapters.mirakl.endpoints import ENDPOINTS, pacing, resolve
from marketbridge.sandbox.mirakl.order_export import split_into_files
from marketbridge.sandbox.mirakl.ratelimits import CallFrequency

T0 = datetime(2026, 3, 1, tzinfo=UTC)


# ------------------------------------------------------------------------------ OR13 request model
def test_an_or13_request_needs_a_whole_date_range() -> None:
    with pytest.raises(ValidationError, match="creation or a last-update date range"):
        models.OrderExportRequest()
    with pytest.raises(ValidationError, match="start_date must be used with end_date"):
        models.OrderExportRequest(start_date=T0)
    with pytest.raises(ValidationError, match="start_update_date must be used with end_update_date"):
        models.OrderExportRequest(start_date=T0, end_date=T0, end_update_date=T0)
    with pytest.raises(ValidationError, match="after"):
        models.OrderExportRequest(start_update_date=T0, end_update_date=T0 - timedelta(seconds=1))
    with pytest.raises(ValidationError):
        models.OrderExportRequest(start_date=T0, end_date=T0, items_per_chunk=1_000_001)


def test_full_or_differential_and_what_goes_on_the_wire() -> None:
    full = models.OrderExportRequest(start_date=T0, end_date=T0 + timedelta(days=1))
    differential = models.OrderExportRequest(start_update_date=T0, end_update_date=T0 + timedelta(minutes=5),
                                             order_state_codes=["SHIPPING"])
    assert full.full and not differential.full
    wire = differential.wire()
    assert wire == {"start_update_date": "2026-03-01T00:00:00Z", "end_update_date": "2026-03-01T00:05:00Z",
                    "order_state_codes": ["SHIPPING"]}


# ------------------------------------------------------------------------------ files
def _orders(n: int, pad: int = 0) -> list[dict[str, object]]:
    return [{"order_id": f"O-{i}", "pad": "x" * pad} for i in range(n)]


def test_files_are_bounded_by_items() -> None:
    files = split_into_files(_orders(5), max_items=2, max_bytes=10**9)
    assert [len(json.loads(f)["orders"]) for f in files] == [2, 2, 1]
    assert [o["order_id"] for f in files for o in json.loads(f)["orders"]] == [f"O-{i}" for i in range(5)]


def test_files_are_bounded_by_bytes_and_an_oversize_order_gets_its_own() -> None:
    orders = _orders(6, pad=100)
    one = len(json.dumps(orders[0], separators=(",", ":")))
    limit = len(b'{"orders":[]}') + 2 * one + 1  # exactly two orders and their comma
    files = split_into_files(orders, max_items=100, max_bytes=limit)
    assert [len(json.loads(f)["orders"]) for f in files] == [2, 2, 2]
    assert all(len(f) <= limit for f in files)
    assert len(split_into_files(orders, max_items=100, max_bytes=limit - 1)) == 6  # one byte less: one each
    big = split_into_files(_orders(2, pad=5000), max_items=100, max_bytes=100)
    assert len(big) == 2 and all(len(json.loads(f)["orders"]) == 1 for f in big)


def test_no_orders_no_files() -> None:
    assert split_into_files([], max_items=10, max_bytes=10**6) == []


# ------------------------------------------------------------------------------ budgets
def test_a_full_or13_must_fit_both_budgets_and_a_refusal_records_nothing() -> None:
    limits = CallFrequency(rate_scale=1.0, grace=0.0)
    assert limits.check("OR13", 0.0) is None  # differential
    assert limits.check("OR13", 100.0, full_export=True) == 200  # the 5-minute pace binds a full one too
    assert limits.check("OR13", 300.0, full_export=True) is None
    assert limits.check("OR13", 600.0, full_export=True) == 86400 - 300  # daily budget
    assert limits.check("OR13", 600.0) is None  # that refusal did not use the 5-minute slot
    assert limits.check("OR13", 900.0) is None and limits.check("OR13", 1000.0) == 200


def test_or14_is_counted_per_export() -> None:
    limits = CallFrequency(rate_scale=1.0, grace=0.0)
    assert limits.check("OR14", 0.0, scope="a") is None
    assert limits.check("OR14", 0.5, scope="b") is None
    assert limits.check("OR14", 1.0, scope="a") == 1
    assert limits.check("OR14", 2.0, scope="a") is None


# ------------------------------------------------------------------------------ endpoint table
def test_the_endpoint_table_carries_the_documented_frequencies() -> None:
    assert pacing()["OR13"] == 300 and pacing()["OR14"] == 2 and "OR15" not in pacing()
    assert not ENDPOINTS["OR13"].retry_safe and ENDPOINTS["OR14"].retry_safe and ENDPOINTS["OR15"].once_per_url
    assert resolve("POST", "/api/orders/async-export").code == "OR13"  # type: ignore[union-attr]
    assert resolve("GET", "/api/orders/async-export/status/abc").code == "OR14"  # type: ignore[union-attr]
    assert resolve("GET", "/api/orders/async-export/file/abc").code == "OR15"  # type: ignore[union-attr]
    assert resolve("GET", "/api/orders").code == "OR11"  # type: ignore[union-attr]


def test_a_files_entries_come_as_sent_and_only_the_frame_is_checked() -> None:
    from marketbridge.adapters.errors import ServerError
    from marketbridge.adapters.mirakl.order_export import read_order_file_entries

    body = {"orders": [{"order_id": "A-1", "extra": 1}, {"order_id": "B-1"}, "not an order"]}
    assert read_order_file_entries(json.dumps(body).encode()) == body["orders"]  # parsing each is the caller's
    for broken in (b"not json", b"[]", b'{"orders": {}}', b"{}"):
        with pytest.raises(ServerError):
            read_order_file_entries(broken)
