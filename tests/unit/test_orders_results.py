"""The orders flow's typed results keep the JSON objects the per-order workflows have always
recorded (DBOS stores step outputs as JSON): what does not apply is left out, not null."""

from __future__ import annotations

import json

from marketbridge.services.orders.results import CancelResult, CreationResult, DecisionResult, FinishResult


def test_decision_results_as_recorded_before():
    assert DecisionResult("A-1", "received", skipped=True).as_dict() == {
        "order_id": "A-1", "state": "received", "skipped": True}
    assert DecisionResult("A-1", "held", "hold").as_dict() == {"order_id": "A-1", "state": "held", "outcome": "hold"}
    assert DecisionResult("A-1", "received", "accept", rejected="409").as_dict() == {
        "order_id": "A-1", "state": "received", "outcome": "accept", "rejected": "409"}


def test_creation_results_as_recorded_before():
    assert CreationResult("A-1", magento_entity_id=7, already=True).as_dict() == {
        "order_id": "A-1", "magento_entity_id": 7, "already": True}
    assert CreationResult("A-1", state="held", skipped=True).as_dict() == {
        "order_id": "A-1", "state": "held", "skipped": True}
    assert CreationResult("A-1", waiting_for_stock=("S-1", "S-2")).as_dict() == {
        "order_id": "A-1", "waiting_for_stock": ["S-1", "S-2"]}
    created = CreationResult("A-1", magento_entity_id=7, magento_increment_id="000000007", found_existing=False)
    assert created.as_dict() == {"order_id": "A-1", "magento_entity_id": 7, "magento_increment_id": "000000007",
                                 "found_existing": False}
    assert json.loads(json.dumps(created.as_dict())) == created.as_dict()  # JSON, as the serializer stores


def test_finish_and_cancel_results_as_recorded_before():
    assert FinishResult("A-1", skipped=True).as_dict() == {"order_id": "A-1", "skipped": True}
    assert FinishResult("A-1", invoiced=False, differences=()).as_dict() == {
        "order_id": "A-1", "invoiced": False, "differences": []}
    assert CancelResult("A-1", shipped=True).as_dict() == {"order_id": "A-1", "shipped": True}
    assert CancelResult("A-1", cancelled="credit_memo").as_dict() == {"order_id": "A-1", "cancelled": "credit_memo"}
    assert CancelResult("A-1", state="received", skipped=True).as_dict() == {
        "order_id": "A-1", "state": "received", "skipped": True}
