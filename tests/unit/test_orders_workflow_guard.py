"""A decision step that meets a refusal of our own database must be retried, never end the order's
workflow: the workflow id is deterministic (``order-accept:<id>``), and a workflow ended in ERROR
is returned as it is by every later poll, so the order stayed undecided for good (full soak: three
orders, "database is locked" on SQLite while a restart's catch-up ran under faults)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from marketbridge.adapters.errors import TransientError
from marketbridge.workflows import orders as order_workflows


class _Decided:
    def as_dict(self) -> dict[str, Any]:
        return {"order_id": "JL-1-A", "outcome": "accept"}


@pytest.fixture(autouse=True)
def _no_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(order_workflows, "get_runtime", lambda: object())


def test_a_locked_database_is_a_transient_error_the_workflow_retries() -> None:
    def locked(_runtime: Any, _order_id: str) -> Any:
        raise OperationalError("UPDATE marketplace_orders ...", {}, sqlite3.OperationalError("database is locked"))

    result = order_workflows._guarded(locked, "JL-1-A")
    assert result == {"order_id": "JL-1-A", "transient_error": "database: database is locked"}


def test_a_pool_with_no_free_connection_is_a_transient_error_too() -> None:
    """Full soak: ``QueuePool limit of size 5 overflow 10 reached, connection timed out`` ended
    ``order-accept:JL-000726-A`` in ERROR, and the order stayed undecided."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    def starved(_runtime: Any, _order_id: str) -> Any:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00")

    result = order_workflows._guarded(starved, "JL-1-A")
    assert result["transient_error"].startswith("database: QueuePool limit")


def test_a_remote_transient_error_is_still_one() -> None:
    def unreachable(_runtime: Any, _order_id: str) -> Any:
        raise TransientError("Mirakl answered 503")

    assert "transient_error" in order_workflows._guarded(unreachable, "JL-1-A")


def test_a_result_passes_through_and_a_programming_error_is_not_swallowed() -> None:
    assert order_workflows._guarded(lambda _r, _o: _Decided(), "JL-1-A") == {"order_id": "JL-1-A", "outcome": "accept"}

    def broken(_runtime: Any, _order_id: str) -> Any:
        raise KeyError("lines")

    with pytest.raises(KeyError):
        order_workflows._guarded(broken, "JL-1-A")


def test_a_locked_database_seen_through_the_orders_port_is_the_same_transient_error() -> None:
    """The orders flow's services meet storage errors as the port's exceptions (issue 18): the
    adapter's translation keeps the database's own message, so the workflow records the same text."""
    from marketbridge.adapters.db.orders import _port_errors

    def locked(_runtime: Any, _order_id: str) -> Any:
        with _port_errors():
            raise OperationalError("UPDATE marketplace_orders ...", {}, sqlite3.OperationalError("database is locked"))

    result = order_workflows._guarded(locked, "JL-1-A")
    assert result == {"order_id": "JL-1-A", "transient_error": "database: database is locked"}


def test_the_orders_port_names_each_storage_error_the_exactly_once_path_acts_on() -> None:
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm.exc import StaleDataError

    from marketbridge.adapters.db.orders import _port_errors
    from marketbridge.ports import OrderAlreadyRecorded, OrderChangedUnderUs, StorageBusy

    with pytest.raises(OrderChangedUnderUs), _port_errors():
        raise StaleDataError("UPDATE statement on table 'marketplace_orders' expected to update 1 row(s); 0 were matched")
    with pytest.raises(OrderAlreadyRecorded), _port_errors():
        raise IntegrityError("INSERT INTO marketplace_orders ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    with pytest.raises(StorageBusy) as busy, _port_errors():
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("server closed the connection"))
    assert busy.value.locked is False and busy.value.detail == "server closed the connection"
    with pytest.raises(KeyError), _port_errors():  # anything else passes as it is
        raise KeyError("lines")
