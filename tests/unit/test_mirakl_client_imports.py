"""MiraklClient import handling (issue 14): SENT is not the end of a product import, and STO03/PRI03
error reports are read by position. Remote behaviour is faked with httpx2.MockTransport."""

from __future__ import annotations

import httpx2

from marketbridge.adapters.mirakl import MiraklClient
from marketbridge.adapters.mirakl.client import TERMINAL_IMPORT_STATES, ImportResult


def _client(handler) -> MiraklClient:
    return MiraklClient("http://mirakl.invalid", "k3y", transport=httpx2.MockTransport(handler), rate_scale=0.0001,
                        retry_wait_initial=0.001, retry_wait_max=0.002, retry_attempts=2)


# ------------------------------------------------------------------------------ P41: SENT is not done
def test_a_product_import_at_sent_is_neither_finished_nor_ok() -> None:
    assert "SENT" not in TERMINAL_IMPORT_STATES
    assert ImportResult(api="P41", import_id="1", status="SENT").ok is False
    assert ImportResult(api="P41", import_id="1", status="COMPLETE").ok is True


def test_waiting_for_a_product_import_polls_past_sent_until_complete() -> None:
    answers = iter(["RUNNING", "SENT", "SENT", "SENT", "COMPLETE"])
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        status = next(answers)
        seen.append(status)
        return httpx2.Response(200, json={"import_id": 5, "import_status": status})

    with _client(handler) as client:
        status = client.wait_for_import("P41", "5", timeout=30)
    assert status.status == "COMPLETE" and seen == ["RUNNING", "SENT", "SENT", "SENT", "COMPLETE"]


# ------------------------------------------------------------------------------ STO03/PRI03 by position
def _report_client(body: str) -> MiraklClient:
    return _client(lambda request: httpx2.Response(200, content=body.encode(), headers={"content-type": "text/csv"}))


def test_stock_error_report_is_read_by_position_whatever_the_header_says() -> None:
    """SPEC STO03: "The first column contains the line number in error. The second column contains
    the error reason." Blank header cells (which collide when read by name) or other names."""
    for header in ('"";"";"offer-sku";"quantity"', '"line";"error";"offer-sku";"quantity"'):
        with _report_client(f'{header}\n"2";"Offer not found";"SKU1";"5"\n') as client:
            [error] = client.stock_error_report("imp-1")
        assert (error.line, error.message, error.sku) == (2, "Offer not found", "SKU1")
        assert error.row == {"offer-sku": "SKU1", "quantity": "5"}


def test_price_error_report_without_a_known_sku_column_takes_the_first_submitted_one() -> None:
    with _report_client('"";"";"sku-of-the-offer";"price"\n"3";"The price is not valid";"SKU9";"abc"\n') as client:
        [error] = client.price_error_report("imp-2")
    assert (error.line, error.message, error.sku) == (3, "The price is not valid", "SKU9")


def test_a_report_naming_its_columns_at_the_end_is_still_read_by_name() -> None:
    with _report_client('"offer-sku";"quantity";"error-line";"error-message"\n"SKU1";"5";"2";"Bad"\n') as client:
        [error] = client.stock_error_report("imp-3")
    assert (error.line, error.message, error.sku) == (2, "Bad", "SKU1")
