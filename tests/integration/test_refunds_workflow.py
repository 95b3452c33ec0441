"""The refund workflow on the DBOS engine: a 500 mid-way is retried after a durable sleep, once."""

from __future__ import annotations

import threading

import httpx2
from dbos import DBOS, SetWorkflowID

from marketbridge.runtime import build_runtime
from marketbridge.workflows import engine
from marketbridge.workflows import refunds as workflows
from tests.conftest import make_settings
from tests.integration import refunds_helpers as fixtures
from tests.integration.refunds_helpers import credit_memo, marketplace_refunds, shipped_order

refunds_template_db = fixtures.refunds_template_db  # a migrated SQLite file copied per test
refunds_db_url = fixtures.refunds_db_url


def test_workflow_retries_a_500_and_sends_exactly_once(refunds_db_url, fresh_sandboxes):
    rt = build_runtime(make_settings(refunds_db_url, fresh_sandboxes, refund_retry_seconds=0.5,
                                     executor_id="refunds-wf"))
    engine.launch(rt, schedules=False)
    try:
        sc = shipped_order(rt.mirakl, rt.magento, fresh_sandboxes.mirakl_url, [("MB-000001", 1)], shipping=4.5)
        memo_id = credit_memo(rt.magento, sc, {"MB-000001": 1}, shipping=4.5)
        httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/faults",
                    json={"rules": [{"endpoint": "OR28", "error_rate": 1.0}]}).raise_for_status()
        threading.Timer(1.2, lambda: httpx2.delete(f"{fresh_sandboxes.mirakl_url}/_sandbox/faults")).start()
        with SetWorkflowID(f"creditmemo:{memo_id}"):
            handle = DBOS.start_workflow(workflows.process_workflow, memo_id)
        result = handle.get_result()
        assert result["status"] == "sent"
        [refund] = marketplace_refunds(rt.mirakl, sc.order_id)
        assert (refund.amount, refund.shipping_amount) == (107.45, 4.5)
        steps = [s["function_name"] for s in DBOS.list_workflow_steps(handle.workflow_id)]
        assert steps.count("refunds.send") >= 2
        # the same id again returns the stored result, sends nothing
        with SetWorkflowID(f"creditmemo:{memo_id}"):
            assert DBOS.start_workflow(workflows.process_workflow, memo_id).get_result() == result
        assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1
    finally:
        engine.shutdown()
        rt.close()
