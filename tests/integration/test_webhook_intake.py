"""The webhook intake's group commit (services/webhook_intake.py): many deliveries, one
transaction, every answer after the commit; a bad body or a failing handler affects only itself."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from marketbridge.adapters.db.models.stock import WebhookEvent
from marketbridge.adapters.magento.webhooks import WebhookPayloadError
from marketbridge.services.webhook_intake import WebhookIntake
from marketbridge.services.webhooks import WebhookHandlers


def body(sku: str) -> bytes:
    return json.dumps({"eventName": "observer.test_save_after", "data": {"sku": sku}}).encode()


class Recorder:
    def __init__(self, fail_for: str | None = None) -> None:
        self.seen: list[str] = []
        self.fail_for = fail_for

    def __call__(self, session, name, data) -> None:  # noqa: ANN001 - a webhook handler
        if data.get("sku") == self.fail_for:
            raise RuntimeError("handler broke")
        self.seen.append(data["sku"])


def make(runtime, recorder: Recorder, handled: list[int] | None = None) -> WebhookIntake:
    table = WebhookHandlers()
    table.add("observer.test", recorder)
    return WebhookIntake(runtime.db.session, table, dedup_window_seconds=600,
                         on_handled=(lambda: handled.append(1)) if handled is not None else None)


def commits(runtime) -> list[int]:
    counter = [0]
    event.listen(runtime.db.engine, "commit", lambda _conn: counter.__setitem__(0, counter[0] + 1))
    return counter


def test_deliveries_waiting_together_share_one_commit(runtime):
    recorder = Recorder()
    intake = make(runtime, recorder)
    gate = threading.Event()
    blocked = intake.submit(body("FIRST"))  # starts the writer
    blocked.result(10)
    counter = commits(runtime)
    # Hold the writer's next batch open until 40 deliveries wait (the old receiver: 40 commits).
    original = intake._write  # noqa: SLF001 - the test holds the writer still

    entered = threading.Event()

    def held(batch):  # noqa: ANN001
        entered.set()
        gate.wait(10)
        return original(batch)

    intake._write = held  # type: ignore[method-assign]  # noqa: SLF001
    first = intake.submit(body("SKU-00"))
    assert entered.wait(10)  # the writer holds SKU-00 alone; the other 39 queue behind it
    with ThreadPoolExecutor(8) as pool:
        futures = [first, *pool.map(lambda i: intake.submit(body(f"SKU-{i:02d}")), range(1, 40))]
    gate.set()
    results = [f.result(10) for f in futures]
    intake.close()
    assert all(r.handled and not r.event.duplicate for r in results)
    assert sorted(recorder.seen) == sorted(["FIRST", *(f"SKU-{i:02d}" for i in range(40))])
    assert intake.largest_batch == 39 and counter[0] == 2  # the first alone, then 39 together
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)
                        .where(WebhookEvent.handled_at.is_not(None))) == 41


def test_a_bad_body_fails_alone_and_a_failing_handler_leaves_its_event_for_the_poll(runtime):
    recorder = Recorder(fail_for="BROKEN")
    handled: list[int] = []
    intake = make(runtime, recorder, handled)
    gate = threading.Event()
    original = intake._write  # noqa: SLF001

    def held(batch):  # noqa: ANN001
        gate.wait(10)
        return original(batch)

    intake._write = held  # type: ignore[method-assign]  # noqa: SLF001
    good, bad, broken, after = (intake.submit(body("GOOD")), intake.submit(b"{not json"),
                                intake.submit(body("BROKEN")), intake.submit(body("AFTER")))
    gate.set()
    assert good.result(10).handled and after.result(10).handled
    with pytest.raises(WebhookPayloadError):
        bad.result(10)
    outcome = broken.result(10)
    assert not outcome.handled
    intake.close()
    assert recorder.seen == ["GOOD", "AFTER"] and handled
    with runtime.db.session() as s:
        row = s.get(WebhookEvent, outcome.event.id)
        assert row.handled_at is None and "handler broke" in row.error and row.attempts == 1
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 3


def test_a_batch_that_cannot_commit_is_tried_one_by_one(runtime):
    recorder = Recorder()
    intake = make(runtime, recorder)
    calls = {"n": 0}
    real_factory = runtime.db.session

    class FailingOnce:
        def __enter__(self):
            raise RuntimeError("database is locked")

        def __exit__(self, *exc):  # noqa: ANN002
            return False

    def factory():
        calls["n"] += 1
        return FailingOnce() if calls["n"] == 1 else real_factory()

    intake._session_factory = factory  # noqa: SLF001
    results = [intake.submit(body("ONE")).result(10), intake.submit(body("TWO")).result(10)]
    intake.close()
    assert all(r.handled for r in results) and sorted(recorder.seen) == ["ONE", "TWO"]


def test_close_answers_what_was_queued_and_refuses_more(runtime):
    intake = make(runtime, Recorder())
    pending = [intake.submit(body(f"Q{i}")) for i in range(5)]
    intake.close()
    assert all(f.result(1).handled for f in pending)
    with pytest.raises(RuntimeError):
        intake.submit(body("LATE"))
