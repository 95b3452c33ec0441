"""The simulated asynchronous order export (OR13 / OR14 / OR15) against Mirakl's seller OpenAPI.

What each test holds the simulator to, and where it is documented (SPEC = the seller OpenAPI,
operations OR13, OR14, OR15; choices where it is silent are in docs/api-notes.md, "OR13–OR15"):

- every answer validates against the operation's published schema, and an exported order is the
  very order OR11 returns (SPEC: ``OR15_Response_200_Ext_FileStructure_Orders`` is OR11's order);
- a full export (creation range) and a differential one (last-update range), filters applied;
- files bounded by ``items_per_chunk``, each URL served once ("Once per file URL returned by OR14");
- "Only one export request can be created for the same shop account";
- call frequency: OR13 differential every 5 minutes, full every 24 hours; OR14 every 2 seconds per
  OR13 call; refusals are 429 with ``Retry-After`` and ``{"status", "message"}``, as everywhere;
- OR14 statuses PENDING, COMPLETED, FAILED, CANCELED; an unknown tracking id is a 404.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from marketbridge.sandbox.mirakl.app import create_app
from marketbridge.sandbox.mirakl.core import iso
from tests.contract.test_mirakl_contract import KEY, assert_valid, request_validator, response_validator
from tests.contract.test_mirakl_contract import spec as spec  # noqa: F401  (the module fixture)

H = {"Authorization": KEY}
EXPORT, STATUS = "/api/orders/async-export", "/api/orders/async-export/status/{}"


def _app(scale: float = 0.00001, **settings: Any) -> tuple[TestClient, Any]:
    app = create_app(products=20, api_key=KEY, rate_scale=scale)
    client = TestClient(app)
    if settings:
        assert client.post("/_sandbox/settings", json=settings).status_code == 200
    return client, app.state.sandbox


def _order(client: TestClient, state: Any) -> str:
    with state.lock:
        sku = next(o.shop_sku for o in state.live_offers() if o.active and o.quantity >= 1)
    created = client.post("/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]})
    assert created.status_code == 201, created.text
    return str(created.json()["order_id"])


def _around_now(state: Any, name: str = "date") -> dict[str, str]:
    now = state.clock.now()
    return {f"start_{name}": str(iso(now - timedelta(hours=1))), f"end_{name}": str(iso(now + timedelta(hours=1)))}


def _start(client: TestClient, body: dict[str, Any]) -> str:
    answer = client.post(EXPORT, headers=H, json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["tracking_id"])


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _files(client: TestClient, status: dict[str, Any]) -> list[dict[str, Any]]:
    files = []
    for url in status["urls"]:
        answer = client.get(_local(url), headers=H)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
        files.append(answer.json())
    return files


def _refused(answer: Any, status: int) -> dict[str, Any]:
    """The simulator's documented error shape: ``{"status", "message"}``, 429 with Retry-After."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == status and isinstance(body["message"], str) and body["message"]
    if status == 429:
        assert answer.headers["retry-after"].isdigit() and int(answer.headers["retry-after"]) >= 1
    return dict(body)


# ------------------------------------------------------------------------------ full and differential
def test_a_full_export_holds_the_orders_created_in_the_range_exactly_as_or11_shows_them(spec: dict[str, Any]) -> None:  # noqa: F811
    client, state = _app(order_export_delay_seconds=60)
    older = _order(client, state)
    client.post("/_sandbox/clock/advance", json={"seconds": 2 * 86400})
    recent = [_order(client, state), _order(client, state)]
    body = _around_now(state)
    assert_valid(request_validator(spec, "OR13"), body, "our OR13 body")

    started = client.post(EXPORT, headers=H, json=body)
    assert started.status_code == 200
    assert_valid(response_validator(spec, "OR13", "200"), started.json(), "OR13")
    tracking_id = started.json()["tracking_id"]
    pending = client.get(STATUS.format(tracking_id), headers=H).json()
    assert pending["status"] == "PENDING" and "urls" not in pending
    assert_valid(response_validator(spec, "OR14", "200"), pending, "OR14 pending")

    client.post("/_sandbox/clock/advance", json={"seconds": 61})
    done = client.get(STATUS.format(tracking_id), headers=H).json()
    assert_valid(response_validator(spec, "OR14", "200"), done, "OR14 completed")
    assert done["status"] == "COMPLETED" and len(done["urls"]) == 1
    [file] = _files(client, done)
    assert_valid(response_validator(spec, "OR15", "200"), file, "OR15 file")
    assert [o["order_id"] for o in file["orders"]] == recent  # the older order is outside the range

    listed = client.get("/api/orders", headers=H, params={"order_ids": ",".join(recent)}).json()["orders"]
    assert file["orders"] == listed  # the very same rendering as OR11, field for field
    assert older not in {o["order_id"] for o in file["orders"]}


def test_a_differential_export_holds_the_orders_changed_in_the_update_range(spec: dict[str, Any]) -> None:  # noqa: F811
    client, state = _app()
    changed, untouched = _order(client, state), _order(client, state)
    client.post("/_sandbox/clock/advance", json={"seconds": 3600})
    since = state.clock.now()
    accepted = client.put(f"/api/orders/{changed}/accept", headers=H,
                          json={"order_lines": [{"id": f"{changed}-1", "accepted": True}]})
    assert accepted.status_code == 204
    new = _order(client, state)
    body = {"start_update_date": str(iso(since)), "end_update_date": str(iso(since + timedelta(hours=1)))}
    assert_valid(request_validator(spec, "OR13"), body, "our OR13 body")

    first = _start(client, body)
    done = client.get(STATUS.format(first), headers=H).json()
    [file] = _files(client, done)
    assert_valid(response_validator(spec, "OR15", "200"), file, "OR15 file")
    assert [o["order_id"] for o in file["orders"]] == [changed, new] and untouched not in str(file)

    only_accepted = _start(client, {**body, "order_state_codes": ["WAITING_DEBIT"]})  # a filter on top
    [file] = _files(client, client.get(STATUS.format(only_accepted), headers=H).json())
    assert [(o["order_id"], o["order_state"]) for o in file["orders"]] == [(changed, "WAITING_DEBIT")]


def test_channel_and_fulfilment_filters_read_the_exported_order() -> None:
    client, state = _app()
    order_id = _order(client, state)
    channel = client.get(f"/_sandbox/orders/{order_id}").json()["channel"]["code"]
    expectations = [({"channel_codes": [channel]}, [order_id]), ({"channel_codes": ["ELSEWHERE"]}, []),
                    ({"only_null_channel": True}, []), ({"fulfillment_center_codes": "DEFAULT"}, [order_id]),
                    ({"fulfillment_center_codes": "NORTH"}, [])]
    for extra, expected in expectations:
        time.sleep(0.01)  # the OR13 pace, scaled
        status = client.get(STATUS.format(_start(client, {**_around_now(state, "update_date"), **extra})),
                            headers=H).json()
        assert [o["order_id"] for f in _files(client, status) for o in f["orders"]] == expected, extra
    assert status["urls"] == []  # nothing matched: COMPLETED without files


# ------------------------------------------------------------------------------ files
def test_items_per_chunk_bounds_every_file_and_each_url_is_served_once() -> None:
    client, state = _app(order_export_min_items_per_chunk=1)
    orders = [_order(client, state) for _ in range(5)]
    status = client.get(STATUS.format(_start(client, {**_around_now(state), "items_per_chunk": 2})),
                        headers=H).json()
    assert len(status["urls"]) == 3
    files = _files(client, status)
    assert [len(f["orders"]) for f in files] == [2, 2, 1]
    assert [o["order_id"] for f in files for o in f["orders"]] == orders  # each once, oldest first

    again = client.get(_local(status["urls"][0]), headers=H)  # "Once per file URL returned by OR14"
    assert "once per file URL" in _refused(again, 429)["message"]
    missing = client.get(_local(status["urls"][0]).replace("file=0.json", "file=7.json"), headers=H)
    _refused(missing, 404)


def test_chunk_bounds_follow_the_published_ranges() -> None:
    client, state = _app()  # the spec's minimum: 10,000 items per file
    for extra in ({"items_per_chunk": 2}, {"items_per_chunk": 1_000_001}, {"megabytes_per_chunk": 9},
                  {"megabytes_per_chunk": 1025}, {"items_per_chunk": "10000"}):
        _refused(client.post(EXPORT, headers=H, json={**_around_now(state), **extra}), 400)
    assert client.post(EXPORT, headers=H, json={**_around_now(state), "items_per_chunk": 10_000,
                                                "megabytes_per_chunk": 10}).status_code == 200


def test_a_file_is_served_only_once_the_export_completed() -> None:
    client, state = _app(order_export_delay_seconds=600)
    _order(client, state)
    tracking_id = _start(client, _around_now(state))
    _refused(client.get(f"/api/orders/async-export/file/{tracking_id}?file=0.json", headers=H), 404)


# ------------------------------------------------------------------------------ one at a time
def test_only_one_export_at_a_time_for_the_shop() -> None:
    client, state = _app(order_export_delay_seconds=60)
    first = _start(client, _around_now(state, "update_date"))
    time.sleep(0.01)
    busy = client.post(EXPORT, headers=H, json=_around_now(state, "update_date"))
    assert "Only one export request" in _refused(busy, 400)["message"]
    client.post("/_sandbox/clock/advance", json={"seconds": 61})
    assert client.get(STATUS.format(first), headers=H).json()["status"] == "COMPLETED"
    time.sleep(0.01)
    assert _start(client, _around_now(state, "update_date")) != first


# ------------------------------------------------------------------------------ call frequency
def test_or13_differential_every_5_minutes_full_every_24_hours() -> None:
    client, state = _app(0.001, order_export_delay_seconds=0)  # OR13: 0.3 s; full: 86.4 s
    differential, full = _around_now(state, "update_date"), _around_now(state)
    _start(client, differential)
    assert _refused(client.post(EXPORT, headers=H, json=differential), 429)["message"].startswith("Too many requests")
    _refused(client.post(EXPORT, headers=H, json=full), 429)  # a full export keeps the 5-minute pace too
    time.sleep(0.35)
    _start(client, full)
    time.sleep(0.35)
    again = client.post(EXPORT, headers=H, json=full)  # past 5 minutes, inside 24 hours
    _refused(again, 429)
    assert 80 <= int(again.headers["retry-after"]) <= 87
    _start(client, differential)  # the refused full export used up nothing


def test_a_refused_body_uses_no_call_budget() -> None:
    client, state = _app(0.001)  # OR13: 0.3 s
    _refused(client.post(EXPORT, headers=H, json={}), 400)
    _start(client, _around_now(state))  # would be a 429 if the refused call had counted


def test_or14_every_2_seconds_per_export() -> None:
    client, state = _app(0.001, order_export_delay_seconds=600)
    assert client.post("/_sandbox/rate-limits", json={"intervals": {"OR14": 100}}).status_code == 200  # 0.1 s
    first = _start(client, _around_now(state, "update_date"))
    assert client.get(STATUS.format(first), headers=H).status_code == 200
    _refused(client.get(STATUS.format(first), headers=H), 429)
    assert client.post(f"/_sandbox/order-exports/{first}/cancel").status_code == 200
    time.sleep(0.35)  # the OR13 pace
    second = _start(client, _around_now(state, "update_date"))
    assert client.get(STATUS.format(first), headers=H).status_code == 200
    assert client.get(STATUS.format(second), headers=H).status_code == 200  # its own budget
    _refused(client.get(STATUS.format(second), headers=H), 429)


# ------------------------------------------------------------------------------ statuses
def test_or14_statuses_and_an_unknown_tracking_id(spec: dict[str, Any]) -> None:  # noqa: F811
    client, state = _app(order_export_delay_seconds=600)
    validator = response_validator(spec, "OR14", "200")
    seen = {}
    for ending in ("fail", "cancel", None):
        time.sleep(0.01)
        tracking_id = _start(client, _around_now(state, "update_date"))
        if ending:
            assert client.post(f"/_sandbox/order-exports/{tracking_id}/{ending}").status_code == 200
            _refused(client.post(f"/_sandbox/order-exports/{tracking_id}/{ending}"), 400)  # not PENDING any more
            _refused(client.get(f"/api/orders/async-export/file/{tracking_id}?file=0.json", headers=H), 404)
        else:
            client.post("/_sandbox/clock/advance", json={"seconds": 601})
        body = client.get(STATUS.format(tracking_id), headers=H).json()
        assert_valid(validator, body, f"OR14 {body['status']}")
        assert ("urls" in body) == (body["status"] == "COMPLETED")
        seen[ending] = body["status"]
    assert seen == {"fail": "FAILED", "cancel": "CANCELED", None: "COMPLETED"}
    _refused(client.get(STATUS.format("no-such-export"), headers=H), 404)


# ------------------------------------------------------------------------------ refused requests
@pytest.mark.parametrize("extra,status,needle", [
    ({"start_date": None, "end_date": None}, 400, "At least one date range"),
    ({"end_date": None}, 400, "must be used with"),
    ({"start_update_date": "2026-01-01T00:00:00Z"}, 400, "must be used with"),
    ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, 400, "must not be after"),
    ({"start_date": 20260101}, 400, "Error with field start_date"),
    ({"end_date": "yesterday"}, 400, "ISO 8601"),
    ({"order_state_codes": ["SHIPPING", "LOST"]}, 400, "LOST"),
    ({"order_state_codes": "SHIPPING"}, 400, "Error with field order_state_codes"),
    ({"order_tax_mode": "TAX_EXCLUDED"}, 400, "TAX_EXCLUDED"),
    ({"order_tax_mode": "GROSS"}, 400, "Error with field order_tax_mode"),
    ({"shop_ids": [999]}, 403, "999"),
    ({"last_request_date": "2026-01-01T00:00:00Z"}, 400, "Unknown field"),
])
def test_an_invalid_or13_body_is_refused(extra: dict[str, Any], status: int, needle: str) -> None:
    client, state = _app()
    body = {**_around_now(state), **extra}
    body = {k: v for k, v in body.items() if v is not None}
    assert needle in _refused(client.post(EXPORT, headers=H, json=body), status)["message"]


def test_or13_needs_the_key_and_a_json_object() -> None:
    client, state = _app()
    _refused(client.post(EXPORT, json=_around_now(state)), 401)
    _refused(client.post(EXPORT, headers=H, content=b"[1, 2]"), 400)
    _refused(client.post(EXPORT, headers=H, content=b"{not json"), 400)
    _refused(client.get(EXPORT, headers=H), 405)
    assert client.post(EXPORT, headers=H, json={**_around_now(state), "shop_ids": [state.shop_id]}).status_code == 200
