"""The refund workflow on the DBOS engine: a 500 mid-way is retried after a durable sleep, once."""

from __future__ import annotations

import threading
import time

import httpx2
from dbos import DBOS, SetWorkflowID

from marketbridge.bootstrap import build_runtime
from marketbridge.workflows import engine
from marketbridge.workflows import refunds as refund_workflows
from tests.conftest import make_settings
from tests.integration import refunds_helpers as fixtures
from tests.integration.refunds_helpers import credit_memo, marketplace_refunds, shipped_order

refunds_template_db = fixtures.refunds_template_db  # a migrated SQLite file copied per test
refunds_db_url = fixtures.refunds_db_url


def _clear_faults_after_first_failure(mirakl_url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = httpx2.get(f"{mirakl_url}/_sandbox/calls").json()
        if any(c["api"] == "OR28" and c["status"] >= 500 for c in calls):
            break
        time.sleep(0.02)
    httpx2.delete(f"{mirakl_url}/_sandbox/faults")


def test_workflow_retries_a_500_and_sends_exactly_once(refunds_db_url, fresh_sandboxes):
    rt = build_runtime(make_settings(refunds_db_url, fresh_sandboxes, refund_retry_seconds=0.5,
                                     executor_id="refunds-wf"))
    engine.launch(rt, schedules=False)
    try:
        sc = shipped_order(rt.mirakl, rt.magento, fresh_sandboxes.mirakl_url, [("MB-000001", 1)], shipping=4.5)
        memo_id = credit_memo(rt.magento, sc, {"MB-000001": 1}, shipping=4.5)
        httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/faults",
                    json={"rules": [{"endpoint": "OR28", "error_rate": 1.0}]}).raise_for_status()
        # Faults off once the first OR28 has failed (not after a fixed time: on a loaded machine the
        # first send could come after a timer, and then nothing would be retried).
        threading.Thread(target=_clear_faults_after_first_failure, args=(fresh_sandboxes.mirakl_url,),
                         daemon=True).start()
        with SetWorkflowID(f"creditmemo:{memo_id}"):
            handle = DBOS.start_workflow(refund_workflows.process_workflow, memo_id)
        result = handle.get_result()
        assert result["status"] == "sent"
        [refund] = marketplace_refunds(rt.mirakl, sc.order_id)
        assert (refund.amount, refund.shipping_amount) == (107.45, 4.5)
        steps = [s["function_name"] for s in DBOS.list_workflow_steps(handle.workflow_id)]
        assert steps.count("refunds.send") >= 2
        # the same id again returns the stored result, sends nothing
        with SetWorkflowID(f"creditmemo:{memo_id}"):
            assert DBOS.start_workflow(refund_workflows.process_workflow, memo_id).get_result() == result
        assert len(marketplace_refunds(rt.mirakl, sc.order_id)) == 1
    finally:
        engine.shutdown()
        rt.close()
