"""Flow health on the overview comes from the workflow engine's own records."""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from marketbridge.services.console import dashboard
from marketbridge.workflows import engine


@DBOS.workflow(name="orders.console_health_probe")
def _orders_probe(value: int) -> int:
    return value + 1


@DBOS.workflow(name="refunds.console_health_probe")
def _refunds_probe(value: int) -> int:
    raise RuntimeError("refund job broke")


def test_flow_health_reads_last_success_and_failures_from_the_engine(runtime: Any) -> None:
    with runtime.db.session() as s:
        before = {f.area: f for f in dashboard.flow_health(runtime, runtime.console_store.on_session(s))}
    assert before["orders"].last_success is None and before["orders"].status == "idle"
    engine.launch(runtime, schedules=False)
    try:
        assert DBOS.start_workflow(_orders_probe, 1).get_result() == 2
        handle = DBOS.start_workflow(_refunds_probe, 1)
        try:
            handle.get_result()
        except RuntimeError:
            pass
        with runtime.db.session() as s:
            health = {f.area: f for f in dashboard.flow_health(runtime, runtime.console_store.on_session(s))}
    finally:
        engine.shutdown()
    assert health["orders"].last_success is not None and health["orders"].status == "ok"
    assert health["orders"].lag_seconds is not None and health["orders"].lag_seconds < 60
    assert health["refunds"].failed_recently == 1 and health["refunds"].status == "failing"
    assert health["stock"].lag_seconds == 0.0  # nothing waiting to be sent
    assert health["shipments"].last_success is None
