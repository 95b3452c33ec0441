"""MiraklClient pieces that need no sandbox: error mapping, retry rules, limiters, CSV, models.
Remote behaviour is faked with httpx2.MockTransport (respx does not patch httpx2)."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx2
import pytest
from pydantic import ValidationError

from marketbridge.adapters.errors import (
    AuthFailed,
    NetworkError,
    NotFound,
    Rejected,
    ServerError,
)
from marketbridge.adapters.mirakl import (
    ENDPOINTS,
    InProcessCallLimiter,
    MiraklClient,
    SqliteCallLimiter,
    models,
)
from marketbridge.adapters.mirakl.client import _parse_retry_after
from marketbridge.adapters.mirakl.csvfiles import CsvFormatError, read_csv, write_csv
from marketbridge.adapters.mirakl.endpoints import resolve


def _client(handler, **kw) -> MiraklClient:
    options = {"rate_scale": 0.0001, "retry_wait_initial": 0.001, "retry_wait_max": 0.002, "retry_attempts": 3}
    options.update(kw)
    return MiraklClient("http://mirakl.invalid", "k3y-secret", transport=httpx2.MockTransport(handler), **options)


# ------------------------------------------------------------------------------ error mapping
@pytest.mark.parametrize("status,body,error,message,code", [
    (400, {"status": 400, "message": "Error with field refunds. Please check the field datatype."}, Rejected,
     "Error with field refunds. Please check the field datatype.", None),
    (400, {"errors": [{"code": "shop.bad", "field": "x", "message": "Structured"}]}, Rejected, "Structured", "shop.bad"),
    (400, {"status": 400, "message": "Invalid", "code": "ORDER_INVALID_STATE"}, Rejected, "Invalid", "ORDER_INVALID_STATE"),
    (401, {"status": 401, "message": "Unauthorized"}, AuthFailed, "Unauthorized", None),
    (403, "forbidden", AuthFailed, "forbidden", None),
    (404, {"status": 404, "message": "Order not found"}, NotFound, "Order not found", None),
    (409, {}, Rejected, "Conflict", None),
    (503, "<html>down</html>", ServerError, "<html>down</html>", None),
])
def test_errors_map_to_the_shared_tree(status, body, error, message, code) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if isinstance(body, str):
            return httpx2.Response(status, text=body)
        return httpx2.Response(status, json=body)

    with _client(handler) as client, pytest.raises(error) as caught:
        client.accept_order("JL-1-A", {"JL-1-A-1": True})
    assert caught.value.message == message and caught.value.code == code
    assert caught.value.status == status and caught.value.api == "OR21"
    assert "k3y-secret" not in str(caught.value)


def test_network_failures_retry_reads_but_never_writes() -> None:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.method)
        raise httpx2.ConnectError("refused")

    with _client(handler) as client:
        with pytest.raises(NetworkError):
            client.carriers()
        assert calls == ["GET", "GET", "GET"]
        calls.clear()
        for write in (lambda: client.ship_order("A"), lambda: client.refund(models.RefundRequest(refunds=[
                models.RefundLineRequest(order_line_id="A-1", amount=1, shipping_amount=0, reason_code="15")]))):
            with pytest.raises(NetworkError):
                write()
        assert calls == ["PUT", "PUT"]


def test_a_429_is_retried_even_for_writes_after_exactly_retry_after() -> None:
    answers = [httpx2.Response(429, headers={"Retry-After": "0.3"}, json={"status": 429, "message": "slow"}),
               httpx2.Response(204)]
    seen: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(time.monotonic())
        return answers.pop(0)

    with _client(handler) as client:
        client.ship_order("JL-1-A")
    assert len(seen) == 2 and seen[1] - seen[0] >= 0.29


def test_retry_after_parsing() -> None:
    assert _parse_retry_after("7", 1) == 7
    assert _parse_retry_after("0.5", 1) == 0.5
    assert _parse_retry_after(None, 3) == 3
    assert _parse_retry_after("soon", 3) == 3
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= _parse_retry_after(later, 1) <= 30


# ------------------------------------------------------------------------------ endpoints as data
def test_endpoint_table_matches_the_documented_frequencies() -> None:
    minutes = {code: e.min_interval for code, e in ENDPOINTS.items()}
    assert minutes["OR11"] == 60 and minutes["STO02"] == 15 and minutes["OF53"] == 10 and minutes["P41"] == 900
    assert minutes["PM11"] == 3600 and minutes["SH21"] == 86400 and minutes["A01"] == 86400
    assert all(minutes[c] is None for c in ("OR21", "OR23", "OR24", "OR28", "OR29", "OR30", "ST01", "ST24"))
    assert not any(ENDPOINTS[c].retry_safe for c in ("OR21", "OR23", "OR24", "OR28", "OR29", "STO01", "OF01", "P41"))
    assert resolve("PUT", "/api/orders/refund").code == "OR28"
    assert resolve("PUT", "/api/orders/JL-1-A/cancel").code == "OR29"
    assert resolve("PUT", "/api/orders/cancel").code == "OR30"
    assert resolve("GET", "/api/offers/stock/imports/abc/status").code == "STO02"
    assert resolve("GET", "/api/nothing") is None


def test_path_parameters_are_escaped() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.url.raw_path.decode())
        return httpx2.Response(204)

    with _client(handler) as client:
        client.ship_order("A/B C")
    assert seen == ["/api/orders/A%2FB%20C/ship"]


# ------------------------------------------------------------------------------ limiters
def test_in_process_limiter_spaces_calls_and_refuses_long_waits() -> None:
    limiter = InProcessCallLimiter()
    start = time.monotonic()
    assert limiter.acquire("OR11", 0.1, 1)
    assert limiter.acquire("OR11", 0.1, 1)
    assert limiter.acquire("OR11", 0.1, 1)
    assert time.monotonic() - start >= 0.19
    assert limiter.acquire("STO02", 0.1, 1) and time.monotonic() - start < 0.35  # keys are independent
    assert not limiter.acquire("A01-day", 1000, 1) or not limiter.acquire("A01-day", 1000, 1)


def _hammer(path: str, out: multiprocessing.Queue[float]) -> None:
    limiter = SqliteCallLimiter(path)
    for _ in range(3):
        assert limiter.acquire("OR11", 0.5, 10)
        out.put(time.time())


def test_sqlite_limiter_is_shared_between_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "limits.sqlite")
    queue: multiprocessing.Queue[float] = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_hammer, args=(path, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
        assert w.exitcode == 0
    stamps = sorted(queue.get(timeout=1) for _ in range(6))
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # never two calls in one interval, whichever process made them. The stamps are taken after
    # acquire() returns, so a busy machine can delay one of them: allow 150 ms of scheduling jitter
    # per gap, and check the whole run could not have been faster than five intervals.
    assert min(gaps) >= 0.35, gaps
    assert stamps[-1] - stamps[0] >= 5 * 0.5 - 0.15, gaps


def test_sqlite_limiter_gives_up_rather_than_wait_too_long(tmp_path: Path) -> None:
    limiter = SqliteCallLimiter(tmp_path / "l.sqlite")
    assert limiter.acquire("A01", 30, 0.1)
    start = time.monotonic()
    assert not limiter.acquire("A01", 30, 0.2)
    assert time.monotonic() - start < 1


# ------------------------------------------------------------------------------ CSV and models
def test_csv_round_trip_keeps_trailing_spaces_and_separators() -> None:
    data = write_csv(["offer-sku", "quantity", "note"], [{"offer-sku": "MB-TRAILING-0001 ", "quantity": 5.0,
                                                          "note": 'a;b "c"'}])
    assert data.startswith(b'"offer-sku";"quantity";"note"\n')
    header, rows = read_csv(data)
    assert rows == [{"offer-sku": "MB-TRAILING-0001 ", "quantity": "5", "note": 'a;b "c"'}]


def test_csv_errors_are_clear() -> None:
    with pytest.raises(CsvFormatError, match="empty"):
        read_csv(b"  ")
    with pytest.raises(CsvFormatError, match="line 2"):
        read_csv(b"a;b\n1;2;3\n")


def test_request_models_are_strict() -> None:
    with pytest.raises(ValidationError):
        models.RefundLineRequest(order_line_id="A-1", amount="1", shipping_amount=0, reason_code="15")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        models.RefundLineRequest(order_line_id="A-1", amount=-1.0, shipping_amount=0, reason_code="15")
    with pytest.raises(ValidationError, match="carrier_code"):
        models.TrackingRequest(tracking_number="123")
    with pytest.raises(ValidationError):
        models.AcceptOrderRequest(order_lines=[])
    with pytest.raises(ValidationError):
        models.ShipmentRequest(order_id="A", shipment_lines=[models.ShipmentLineRequest(order_line_id="A-1", quantity=1)],
                               invoice_reference="bad ref!")
    wire = models.TrackingRequest(carrier_code="DPD", tracking_number="1").wire()
    assert wire == {"carrier_code": "DPD", "tracking_number": "1"}


def test_response_models_tolerate_new_fields_and_enum_values() -> None:
    order = models.Order.model_validate({
        "order_id": "A", "order_state": "SOME_NEW_STATE", "created_date": "2026-01-01T00:00:00Z",
        "last_updated_date": "2026-01-01T00:00:00.123Z", "currency_iso_code": "GBP", "price": "10.5",
        "total_price": 10.5, "brand_new_field": {"x": 1}, "customer": {"shipping_address": None},
        "order_lines": [{"order_line_id": "A-1", "order_line_state": "X", "offer_sku": 123, "quantity": "2",
                         "price": 10.5, "total_price": 10.5, "refunds": [{"id": 9, "state": "REFUNDED"}]}]})
    assert order.order_state == "SOME_NEW_STATE" and order.price == 10.5
    assert order.order_lines[0].offer_sku == "123" and order.order_lines[0].refunds[0].status == "REFUNDED"


def test_import_created_reads_either_spelling() -> None:
    assert models.ImportCreated.model_validate({"import_id": 12}).id == "12"
    assert models.ImportCreated.model_validate({"importId": "abc"}).id == "abc"
    with pytest.raises(ValueError):
        _ = models.ImportCreated.model_validate({}).id


def test_from_settings_uses_the_secret_and_scale() -> None:
    from marketbridge.settings import load_settings

    settings = load_settings(mirakl_api_key="s3cret-value", mirakl_shop_id=7, mirakl_rate_limit_scale=0.5)
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"reasons": [], "total_count": 0})

    with MiraklClient.from_settings(settings, transport=httpx2.MockTransport(handler)) as client:
        assert client.rate_scale == 0.5 and "s3cret" not in repr(client)
        client.reasons()
    assert seen[0].headers["authorization"] == "s3cret-value" and seen[0].url.params["shop_id"] == "7"


def test_export_urls_off_the_instance_are_refused() -> None:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, content=b"[]")

    with _client(handler) as client:
        with pytest.raises(Rejected, match="not on the Mirakl instance"):
            client.download_export_chunk("https://evil.example/api/offers/export/async/file/x?file=0.json")
        assert client.download_export_chunk("http://mirakl.invalid/api/offers/export/async/file/x?file=0.json") == b"[]"
    assert [str(r.url) for r in sent] == ["http://mirakl.invalid/api/offers/export/async/file/x?file=0.json"]
