"""The refunds service against both sandboxes over real HTTP and a real database."""

from __future__ import annotations

import threading
import time

import httpx2
import pytest
from sqlalchemy import select

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut
from marketbridge.bootstrap import build_runtime
from marketbridge.services import refunds as refund_service
from tests.conftest import make_settings
from tests.integration import refunds_helpers as fixtures
from tests.integration.refunds_helpers import PRICES, credit_memo, follow, marketplace_refunds, shipped_order

refunds_template_db = fixtures.refunds_template_db  # a migrated SQLite file copied per test
refunds_db_url = fixtures.refunds_db_url


@pytest.fixture
def rt(refunds_db_url, sandboxes):
    runtime = build_runtime(make_settings(refunds_db_url, sandboxes))
    yield runtime
    httpx2.delete(f"{sandboxes.mirakl_url}/_sandbox/faults")
    runtime.close()


def issues(rt, type_=None):
    with rt.db.session() as s:
        query = select(IssueRecord).where(IssueRecord.state == "open")
        if type_:
            query = query.where(IssueRecord.type == type_)
        return list(s.scalars(query).all())


def row(rt, memo_id) -> RefundOut:
    with rt.db.session() as s:
        return s.scalar(select(RefundOut).where(RefundOut.creditmemo_id == memo_id))


def test_full_refund_is_sent_once_and_followed_to_refunded(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000001", 2)], shipping=4.5)
    memo_id = credit_memo(rt.magento, sc, {"MB-000001": 2}, shipping=4.5)
    assert refund_service.record_creditmemo(rt, memo_id, source="webhook")
    assert not refund_service.record_creditmemo(rt, memo_id, source="poll")  # stored once
    result = refund_service.process(rt, memo_id)
    assert result.status == "sent" and len(result.refund_ids or ()) == 1
    [refund] = marketplace_refunds(rt.mirakl, sc.order_id)
    assert (refund.amount, refund.shipping_amount, refund.quantity) == (214.9, 4.5, 2)
    # a second run sends nothing
    assert refund_service.process(rt, memo_id).status == "sent"
    assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1
    time.sleep(0.1)  # sandbox pays refunds out after 0.02 s
    follow(rt)  # after the order feed's read, in the default install
    assert row(rt, memo_id).status == "refunded"
    assert issues(rt, "marketplace_refund_recorded") == []


def test_two_successive_partial_refunds_on_one_line(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000006", 2)], shipping=4.5)
    first = credit_memo(rt.magento, sc, {"MB-000006": 1})
    assert refund_service.process(rt, first).status == "sent"
    second = credit_memo(rt.magento, sc, {"MB-000006": 1})
    assert refund_service.process(rt, second).status == "sent"
    amounts = sorted((r.amount, r.shipping_amount) for r in marketplace_refunds(rt.mirakl, sc.order_id))
    assert amounts == [(82.32, 0.0), (82.32, 0.0)]


def test_over_refund_raises_a_finance_issue_and_sends_nothing(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000001", 2)], shipping=4.5)
    assert refund_service.process(rt, credit_memo(rt.magento, sc, {"MB-000001": 1})).status == "sent"
    over = credit_memo(rt.magento, sc, {"MB-000001": 1}, adjustment_positive=4.0)
    result = refund_service.process(rt, over)
    assert result.status == "held"
    assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1
    [record] = issues(rt, "refund_not_sent")
    assert record.owner == "finance"
    assert "£111.45" in record.message and "£107.45 that remains refundable" in record.message


def test_shipping_only_refund(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000001", 1), ("MB-000006", 1)], shipping=4.5)
    response = httpx2.post(f"{sandboxes.magento_url}/_sandbox/creditmemo", json={
        "order_id": sc.magento_order_id, "items": [{"order_item_id": sc.item_ids["MB-000001"], "qty": 0}],
        "arguments": {"shipping_amount": 4.5}})
    response.raise_for_status()
    memo_id = response.json()["entity_id"]
    assert refund_service.process(rt, memo_id).status == "sent"
    [refund] = marketplace_refunds(rt.mirakl, sc.order_id)
    assert (refund.amount, refund.shipping_amount) == (0.0, 4.5)


def test_refund_with_an_adjustment_spreads_it_over_the_lines(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000001", 2), ("MB-000006", 2)], shipping=0)
    memo_id = credit_memo(rt.magento, sc, {"MB-000001": 1, "MB-000006": 1}, adjustment_positive=5.0,
                          comment="Parcel arrived damaged")
    assert refund_service.process(rt, memo_id).status == "sent"
    refunds = {r.amount: r.reason_code for r in marketplace_refunds(rt.mirakl, sc.order_id)}
    # 5.00 split in proportion to 107.45 : 82.32 -> 2.83 + 2.17
    assert refunds == {110.28: "17", 84.49: "17"}


def test_closed_order_is_held_for_finance(refunds_db_url, fresh_sandboxes):
    rt = build_runtime(make_settings(refunds_db_url, fresh_sandboxes))
    try:
        sc = shipped_order(rt.mirakl, rt.magento, fresh_sandboxes.mirakl_url, [("MB-000015", 1)], shipping=0)
        httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{sc.order_id}/receive").raise_for_status()
        httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/clock/advance", json={"seconds": 31 * 86400}).raise_for_status()
        assert rt.mirakl.get_order(sc.order_id).order_state == "CLOSED"
        memo_id = credit_memo(rt.magento, sc, {"MB-000015": 1})
        assert refund_service.process(rt, memo_id).status == "held"
        [record] = issues(rt, "refund_not_sent")
        assert "the refund must be made through John Lewis" in record.message
        assert marketplace_refunds(rt.mirakl, sc.order_id) == []
    finally:
        rt.close()


def test_order_never_imported(rt, sandboxes):
    from tests.integration.refunds_helpers import magento_order

    entity_id, items = magento_order(rt.magento, "JL-999999-A", [("MB-000016", 1)], 0)
    from tests.integration.refunds_helpers import Scenario

    memo_id = credit_memo(rt.magento, Scenario("JL-999999-A", [], entity_id, items), {"MB-000016": 1})
    assert refund_service.process(rt, memo_id).status == "held"
    [record] = issues(rt, "refund_order_unknown")
    assert "JL-999999-A" in record.message and record.owner == "finance"


def test_a_memo_on_a_non_marketplace_order_is_ignored(rt, sandboxes):
    from tests.integration.refunds_helpers import magento_order

    entity_id, items = magento_order(rt.magento, "", [("MB-000016", 1)], 0)
    memo_id = rt.magento.refund_order(entity_id, None, shipping_amount=0)
    assert refund_service.process(rt, memo_id).status == "ignored"


def test_500_on_or28_is_retried_and_never_doubled(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000016", 1)], shipping=0)
    memo_id = credit_memo(rt.magento, sc, {"MB-000016": 1})
    httpx2.post(f"{sandboxes.mirakl_url}/_sandbox/faults",
                json={"rules": [{"endpoint": "OR28", "error_rate": 1.0}]}).raise_for_status()
    assert refund_service.process(rt, memo_id).status == "retry"
    assert row(rt, memo_id).status == "sending"
    httpx2.delete(f"{sandboxes.mirakl_url}/_sandbox/faults")
    assert refund_service.send(rt, memo_id).status == "sent"
    assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1


def test_a_lost_answer_is_adopted_not_sent_again(refunds_db_url, sandboxes):
    """OR28 takes effect but the answer never arrives (client time-out): the retry finds it."""
    rt = build_runtime(make_settings(refunds_db_url, sandboxes, mirakl_timeout_seconds=0.5))
    try:
        sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000016", 1)], shipping=0)
        memo_id = credit_memo(rt.magento, sc, {"MB-000016": 1})
        httpx2.post(f"{sandboxes.mirakl_url}/_sandbox/faults",
                    json={"rules": [{"endpoint": "OR28", "timeout_rate": 1.0, "timeout_seconds": 1}]}).raise_for_status()
        assert refund_service.process(rt, memo_id).status == "retry"
        httpx2.delete(f"{sandboxes.mirakl_url}/_sandbox/faults")
        [created] = marketplace_refunds(rt.mirakl, sc.order_id)  # it did happen
        result = refund_service.send(rt, memo_id)
        assert result.as_json() == {"status": "sent", "refund_ids": [created.id]}
        assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1
    finally:
        httpx2.delete(f"{sandboxes.mirakl_url}/_sandbox/faults")
        rt.close()


def test_429_honours_retry_after_and_sends_once(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000015", 1)], shipping=0)
    memo_id = credit_memo(rt.magento, sc, {"MB-000015": 1})
    httpx2.delete(f"{sandboxes.mirakl_url}/_sandbox/calls")
    httpx2.post(f"{sandboxes.mirakl_url}/_sandbox/faults",
                json={"rules": [{"endpoint": "OR28", "rate_limit_rate": 1.0, "retry_after": 1}]}).raise_for_status()
    timer = threading.Timer(1.2, lambda: httpx2.delete(f"{sandboxes.mirakl_url}/_sandbox/faults"))
    timer.start()
    started = time.monotonic()
    assert refund_service.process(rt, memo_id).status == "sent"
    assert time.monotonic() - started >= 1.0
    statuses = [c["status"] for c in httpx2.get(f"{sandboxes.mirakl_url}/_sandbox/calls").json() if c["api"] == "OR28"]
    assert statuses[0] == 429 and statuses[-1] == 200 and statuses.count(200) == 1
    assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1


def test_marketplace_started_refund_is_recorded_and_mirrored_once(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000006", 2)], shipping=0)
    response = httpx2.post(f"{sandboxes.mirakl_url}/_sandbox/orders/{sc.order_id}/operator-refund",
                           json={"amount": 82.32, "shipping_amount": 0})
    response.raise_for_status()
    [refund_id] = response.json()["refund_ids"]
    counts = follow(rt)
    assert counts.foreign >= 1  # the module's sandboxes also hold other tests' refunds
    [record] = [r for r in issues(rt, "marketplace_refund_recorded") if r.object_id == f"refund:{refund_id}"]
    assert record.severity == "info" and record.owner == "finance" and "£82.32" in record.message
    mirrored = refund_service.mirror_marketplace_refund(rt, refund_id, actor="finance-test")
    assert mirrored.created is True
    again = refund_service.mirror_marketplace_refund(rt, refund_id, actor="finance-test")
    assert again.creditmemo_id == mirrored.creditmemo_id and again.created is False
    memo = rt.magento.get_creditmemo(mirrored.creditmemo_id)
    assert memo.grand_total == 82.32
    # the mirror memo is never sent back to the marketplace
    assert refund_service.process(rt, mirrored.creditmemo_id).status == "ignored"
    assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1
    assert [r for r in issues(rt, "marketplace_refund_recorded") if r.object_id == f"refund:{refund_id}"] == []
    with rt.db.session() as s:
        assert s.scalar(select(MarketplaceRefund.creditmemo_id).where(MarketplaceRefund.refund_id == refund_id)) == mirrored.creditmemo_id


def test_polling_records_new_credit_memos_by_cursor(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000001", 1)], shipping=0)
    memo_id = credit_memo(rt.magento, sc, {"MB-000001": 1})
    first = refund_service.poll_creditmemos(rt)
    assert memo_id in first
    assert refund_service.poll_creditmemos(rt) == []
    later = credit_memo(rt.magento, shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000001", 1)], 0),
                        {"MB-000001": 1})
    assert refund_service.poll_creditmemos(rt) == [later]


def test_webhook_payload_shapes():
    assert refund_service.creditmemo_id_from_event({"eventName": "observer.sales_order_creditmemo_save_after",
                                             "data": {"creditmemo": {"entity_id": 12}}}) == 12
    assert refund_service.creditmemo_id_from_event({"event": {"data": {"value": {"creditmemo": {"entity_id": "13"}}}}}) == 13
    assert refund_service.creditmemo_id_from_event({"data": {}}) is None
    assert refund_service.creditmemo_id_from_event("nonsense") is None


def test_reasons_are_cached_and_checked(rt):
    assert refund_service.refresh_reasons(rt) >= 5
    table = refund_service.reason_table(rt)
    checks = {m.code: m.check for m in table.mapping}
    assert checks["17"] == "ok" and table.default.check == "ok"
    assert PRICES  # helper module is shared with the e2e test


def test_the_creditmemo_webhook_stores_the_memo_for_the_workflow(rt, sandboxes):
    import json

    from marketbridge.services import webhooks

    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000001", 1)], shipping=0)
    memo_id = credit_memo(rt.magento, sc, {"MB-000001": 1})
    body = json.dumps({"eventName": "observer.sales_order_creditmemo_save_after",
                       "data": {"creditmemo": {"entity_id": memo_id, "order_id": sc.magento_order_id}}}).encode()
    with rt.db.session() as s:
        stored = webhooks.store_event(s, body, dedup_window_seconds=60)
        assert webhooks.dispatch_event(s, stored.id, rt.webhook_handlers)
    assert row(rt, memo_id).source == "webhook" and row(rt, memo_id).status == "new"
    assert [p.workflow_id for p in refund_service.pending_creditmemos(rt) if p.creditmemo_id == memo_id] == [
        f"creditmemo:{memo_id}"]
    assert refund_service.process(rt, memo_id).status == "sent"
    # the same memo as an I/O Events delivery (CloudEvents envelope) is recognised, not stored twice
    io_body = json.dumps({"event": {"type": "com.adobe.commerce.observer.sales_order_creditmemo_save_after",
                                    "id": "evt-1", "data": {"value": {"entity_id": memo_id}}}}).encode()
    with rt.db.session() as s:
        assert webhooks.dispatch_event(s, webhooks.store_event(s, io_body, dedup_window_seconds=60).id,
                                       rt.webhook_handlers)
    assert row(rt, memo_id).status == "sent"
    later = credit_memo(rt.magento, shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000001", 1)], 0),
                        {"MB-000001": 1})
    io_body = json.dumps({"event": {"type": "com.adobe.commerce.observer.sales_order_creditmemo_save_after",
                                    "id": "evt-2", "data": {"value": {"creditmemo": {"entity_id": later}}}}}).encode()
    with rt.db.session() as s:
        assert webhooks.dispatch_event(s, webhooks.store_event(s, io_body, dedup_window_seconds=60).id,
                                       rt.webhook_handlers)
    assert row(rt, later).source == "webhook"


def test_two_workers_sending_the_same_memo_create_one_refund(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000006", 1)], shipping=0)
    memo_id = credit_memo(rt.magento, sc, {"MB-000006": 1})
    assert refund_service.prepare(rt, memo_id, live=True).status == "planned"  # planned now, not after the feed
    # a slow OR28 keeps the first worker's call in flight while the second one looks
    httpx2.post(f"{sandboxes.mirakl_url}/_sandbox/faults",
                json={"rules": [{"endpoint": "OR28", "latency_ms": 700}]}).raise_for_status()
    other = build_runtime(rt.settings)
    results: list = []
    try:
        workers = [threading.Thread(target=lambda r=r: results.append(refund_service.send(r, memo_id))) for r in (rt, other)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
    finally:
        other.close()
    assert sorted(r.status for r in results) == ["retry", "sent"]
    assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1
    assert row(rt, memo_id).attempts == 1


def test_a_memo_that_does_not_exist_is_ignored(rt):
    assert refund_service.record_creditmemo(rt, 987654, source="poll")
    assert refund_service.process(rt, 987654).status == "ignored"
    assert "no longer exists" in row(rt, 987654).problem


@pytest.mark.parametrize("call_took_effect", [True, False])
def test_a_crash_during_the_send_resumes_without_doubling(rt, sandboxes, call_took_effect):
    """kill -9 after 'sending' was written: the call may or may not have reached the marketplace."""
    import datetime as dt

    from marketbridge.adapters.mirakl import models as mirakl_models
    from marketbridge.domain.refunds import PlannedLine

    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000015", 1)], shipping=0)
    memo_id = credit_memo(rt.magento, sc, {"MB-000015": 1})
    assert refund_service.prepare(rt, memo_id, live=True).status == "planned"  # planned now, not after the feed
    with rt.db.session() as s:
        r = s.scalar(select(RefundOut).where(RefundOut.creditmemo_id == memo_id))
        planned = [PlannedLine.from_json(line) for line in r.lines]
        r.status, r.attempts, r.in_flight = "sending", 1, True
        r.send_started_at = utcnow() - dt.timedelta(seconds=rt.settings.mirakl_timeout_seconds + 10)
    if call_took_effect:  # what the dead process sent before it died
        rt.mirakl.refund(mirakl_models.RefundRequest.model_validate({"refunds": [p.wire() for p in planned]}))
    result = refund_service.send(rt, memo_id)
    assert result.status == "sent"
    refunds = marketplace_refunds(rt.mirakl, sc.order_id)
    assert len(refunds) == 1 and result.refund_ids == (refunds[0].id,)
    assert row(rt, memo_id).attempts == (1 if call_took_effect else 2)


def test_a_send_still_in_flight_is_not_raced(rt, sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, sandboxes.mirakl_url, [("MB-000015", 1)], shipping=0)
    memo_id = credit_memo(rt.magento, sc, {"MB-000015": 1})
    refund_service.prepare(rt, memo_id, live=True)
    with rt.db.session() as s:
        r = s.scalar(select(RefundOut).where(RefundOut.creditmemo_id == memo_id))
        r.status, r.attempts, r.in_flight, r.send_started_at = "sending", 1, True, utcnow()
    assert refund_service.send(rt, memo_id).status == "retry"
    assert marketplace_refunds(rt.mirakl, sc.order_id) == []
