"""A shipment's send steps ride out a moment when our own database refuses, instead of ending the
send's workflow in ERROR: its id is deterministic (``shipment:<id>``), and every later poll gets
that ended workflow back instead of a new send. The full soak left eleven shipments unsent for good
after one 30-second stall ("QueuePool limit ... reached", then "database is locked")."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from marketbridge.adapters.errors import NetworkError, Rejected
from marketbridge.workflows import shipments as shipment_workflows


@pytest.mark.parametrize("error", [
    OperationalError("UPDATE shipments_out ...", {}, sqlite3.OperationalError("database is locked")),
    PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00"),
    NetworkError("GET /V1/orders/1 ConnectError", api="GET /V1/orders/{id}"),
])
def test_our_database_refusing_is_retried_like_a_remote_time_out(error: BaseException) -> None:
    assert shipment_workflows._transient(error)


def test_a_refusal_by_the_marketplace_is_not_retried() -> None:
    refused = Rejected("tracking number refused", api="OR23", status=400)
    assert not shipment_workflows._transient(refused)
    assert not shipment_workflows._transient(ValueError("a bug is not retried either"))
