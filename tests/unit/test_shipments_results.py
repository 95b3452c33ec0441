"""The typed results of the shipments flow keep the JSON shapes the workflows always returned:
the steps record ``as_json()`` with the engine's portable JSON serializer, and the CLI prints it."""

from __future__ import annotations

import pytest
from dbos import DBOSPortableJSONSerializer

from marketbridge.services.shipments import Decision, SendResult, WatchCounts


@pytest.mark.parametrize(("result", "shape"), [
    (SendResult("confirmed", how="OR24 accepted"), {"state": "confirmed", "how": "OR24 accepted"}),
    (SendResult("error", api="OR24", error=""), {"state": "error", "api": "OR24", "error": ""}),
    (SendResult("ready", retry=True, order_state="STAGING"), {"state": "ready", "retry": True, "order_state": "STAGING"}),
    (SendResult("confirmed", corrected=True), {"state": "confirmed", "corrected": True}),
    (SendResult("partial"), {"state": "partial"}),
    (Decision("wait", "waiting_tracking", "no tracking number"),
     {"action": "wait", "state": "waiting_tracking", "detail": "no tracking number"}),
    (Decision("send", "ready"), {"action": "send", "state": "ready", "detail": ""}),
    (WatchCounts(deadline_near=2, unconfirmed=0), {"deadline_near": 2, "unconfirmed": 0}),
])
def test_results_record_as_the_json_they_always_were(result, shape):
    assert result.as_json() == shape
    assert list(result.as_json()) == list(shape)  # key order too: the CLI prints them as they come
    serializer = DBOSPortableJSONSerializer()
    assert serializer.deserialize(serializer.serialize(result.as_json())) == shape


def test_results_are_frozen():
    with pytest.raises(AttributeError):
        SendResult("confirmed").state = "error"  # type: ignore[misc]
