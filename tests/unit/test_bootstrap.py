"""What bootstrap wires behaves as the code it replaced: without the engine in this process the
retry and audit commands start nothing (the polls do it), and "shipments due" reaches the send
starter of the shipments workflows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from marketbridge.bootstrap import build_runtime
from marketbridge.bus import (
    AuditRequested,
    OrderRetryRequested,
    RefundRetryRequested,
    ShipmentsDue,
    WebhookEventsHandled,
)
from marketbridge.runtime import Runtime
from marketbridge.settings import load_settings


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    built = build_runtime(load_settings(database_url="sqlite://", session_secret="x" * 48))
    try:
        yield built
    finally:
        built.close()


def test_without_the_engine_retries_are_left_to_the_polls(runtime: Runtime) -> None:
    assert runtime.engine.is_running() is False
    assert runtime.bus.handle(OrderRetryRequested("O-1", "order:O-1:create:2")) is False
    assert runtime.bus.handle(RefundRetryRequested(7, "creditmemo:7:2")) is False
    assert runtime.bus.handle(AuditRequested(False, "api")) is None
    assert runtime.bus.handle(WebhookEventsHandled()) is None  # trigger_push: nothing to start


def test_shipments_due_reaches_the_send_starter(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketbridge.workflows import shipments as shipment_workflows

    calls: list[tuple[Any, list[tuple[int, int]]]] = []
    monkeypatch.setattr(shipment_workflows, "start_sends", lambda rt, due: calls.append((rt, list(due))) or [])
    runtime.bus.handle(ShipmentsDue(((12, 1), (13, 2))))
    assert calls == [(runtime, [(12, 1), (13, 2)])]


def test_each_runtime_has_its_own_tables(runtime: Runtime) -> None:
    """No module-level registry: a handler added to one runtime is not seen by another."""
    other = build_runtime(load_settings(database_url="sqlite://", session_secret="x" * 48))
    try:
        runtime.webhook_handlers.add("observer.only_here", lambda session, name, data: None)
        assert runtime.webhook_handlers.for_event("observer.only_here_save_after")
        assert not other.webhook_handlers.for_event("observer.only_here_save_after")
    finally:
        other.close()
