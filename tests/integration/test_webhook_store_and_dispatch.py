"""services.webhooks.store_and_dispatch: the event and its handlers' writes commit together; a
handler failure rolls back the handlers' writes only (savepoint) and leaves the event stored with
its error and one more attempt, for the poll to dispatch again (issue 18 moved this accounting
out of the web router)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from marketbridge.adapters.db.models.core import StreamCursor
from marketbridge.adapters.db.models.stock import WebhookEvent
from marketbridge.services import webhooks


def _body(event: str, data: dict) -> bytes:
    return json.dumps({"eventName": event, "data": data}).encode()


def _cursors(runtime) -> int:
    with runtime.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(StreamCursor)) or 0)


def test_the_event_and_its_handlers_writes_commit_together(runtime):
    table = webhooks.WebhookHandlers()

    def note(session, name, data):
        session.add(StreamCursor(name="mb_test_" + str(data["n"]), value="1"))

    table.add("observer.mb_test_ok", note)
    before = _cursors(runtime)
    stored, handled = webhooks.store_and_dispatch(runtime.db.session, _body("observer.mb_test_ok", {"n": 1}), table,
                                                  dedup_window_seconds=60)
    assert handled is True and stored.duplicate is False and stored.event_name == "observer.mb_test_ok"
    assert _cursors(runtime) == before + 1
    with runtime.db.session() as s:
        event = s.get(WebhookEvent, stored.id)
        assert event is not None and event.handled_at is not None and event.error == "" and event.attempts == 1


def test_a_failing_handler_keeps_the_event_with_its_error_and_rolls_back_its_writes(runtime):
    table = webhooks.WebhookHandlers()

    def half_done(session, name, data):
        session.add(StreamCursor(name="mb_test_half", value="1"))
        session.flush()
        raise RuntimeError("temporary outage")

    table.add("observer.mb_test_fail", half_done)
    before = _cursors(runtime)
    stored, handled = webhooks.store_and_dispatch(runtime.db.session, _body("observer.mb_test_fail", {"n": 2}), table,
                                                  dedup_window_seconds=60)
    assert handled is False and stored.duplicate is False
    assert _cursors(runtime) == before
    with runtime.db.session() as s:
        event = s.get(WebhookEvent, stored.id)
        assert event is not None and event.handled_at is None
        # one attempt, counted once (dispatch_event counts it; the error path used to count it again)
        assert event.error == "temporary outage" and event.attempts == 1
