"""The webhook intake (services/webhook_intake.py): deliveries waiting together are stored in one
commit and answered after it; their handlers run just after, in the dispatcher, one event per
transaction; a bad body or a failing handler affects only itself; a group that cannot be stored is
retried one by one."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from marketbridge.adapters.db.models.stock import WebhookEvent
from marketbridge.adapters.magento.webhooks import WebhookPayloadError
from marketbridge.services.webhook_intake import DISPATCH_ATTEMPTS, WebhookIntake
from marketbridge.services.webhooks import WebhookHandlers


def body(sku: str) -> bytes:
    return json.dumps({"eventName": "observer.test_save_after", "data": {"sku": sku}}).encode()


class Recorder:
    def __init__(self, fail_for: str | None = None, gate: threading.Event | None = None) -> None:
        self.seen: list[str] = []
        self.fail_for = fail_for
        self.gate = gate

    def __call__(self, session, name, data) -> None:  # noqa: ANN001 - a webhook handler
        if self.gate is not None:
            assert self.gate.wait(10)
        if data.get("sku") == self.fail_for:
            raise RuntimeError("handler broke")
        self.seen.append(data["sku"])


def make(runtime, recorder: Recorder, handled: list[int] | None = None) -> WebhookIntake:
    table = WebhookHandlers()
    table.add("observer.test", recorder)
    return WebhookIntake(runtime.db.session, table, dedup_window_seconds=600,
                         on_handled=(lambda: handled.append(1)) if handled is not None else None)


def hold_writer(intake: WebhookIntake) -> tuple[threading.Event, threading.Event]:
    """Make the writer wait, inside its first batch, until ``gate`` is set."""
    gate, entered = threading.Event(), threading.Event()
    original = intake._store  # noqa: SLF001 - the test holds the writer still

    def held(batch):  # noqa: ANN001
        entered.set()
        assert gate.wait(10)
        return original(batch)

    intake._writer._work = held  # noqa: SLF001
    return gate, entered


def test_deliveries_waiting_together_share_one_commit(runtime):
    recorder = Recorder()
    intake = make(runtime, recorder)
    gate, entered = hold_writer(intake)
    dispatch_gate = threading.Event()
    dispatch = intake._dispatcher._work  # noqa: SLF001 - held until the stores are counted
    intake._dispatcher._work = lambda groups: (dispatch_gate.wait(10), dispatch(groups))  # noqa: SLF001
    commits = [0]
    first = intake.submit(body("SKU-00"))
    assert entered.wait(10)  # the writer holds SKU-00 alone; the other 39 queue behind it
    with ThreadPoolExecutor(8) as pool:
        futures = [first, *pool.map(lambda i: intake.submit(body(f"SKU-{i:02d}")), range(1, 40))]
    event.listen(runtime.db.engine, "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))
    gate.set()
    results = [f.result(10) for f in futures]
    assert commits[0] == 2, commits  # SKU-00 alone, then the 39 together (before: one each)
    dispatch_gate.set()
    assert intake.wait_idle(10)
    intake.close()
    assert all(not r.event.duplicate for r in results)
    assert intake.largest_batch == 39
    assert sorted(recorder.seen) == [f"SKU-{i:02d}" for i in range(40)]
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)
                        .where(WebhookEvent.handled_at.is_not(None))) == 40


def test_the_answer_does_not_wait_for_a_slow_handler(runtime):
    """A handler waiting on a lock (a stock pass holding the SKU's hint row) holds the dispatcher,
    never the answers: those only wait for the event's own insert. (PostgreSQL: SQLite has one
    writer at a time, so there a handler's open transaction holds every insert anyway.)"""
    if runtime.db.engine.dialect.name == "sqlite":
        pytest.skip("row locks are the PostgreSQL tier; SQLite locks the whole database per write")
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    intake = make(runtime, recorder)
    try:
        answers = [intake.submit(body(f"SLOW-{i}")).result(5) for i in range(5)]
        assert len(answers) == 5 and recorder.seen == []
        with runtime.db.session() as s:
            assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 5
    finally:
        gate.set()
    assert intake.wait_idle(10)
    intake.close()
    assert sorted(recorder.seen) == [f"SLOW-{i}" for i in range(5)]


def test_a_bad_body_fails_alone_and_a_failing_handler_leaves_its_event_for_the_poll(runtime):
    recorder = Recorder(fail_for="BROKEN")
    handled: list[int] = []
    intake = make(runtime, recorder, handled)
    gate, entered = hold_writer(intake)
    good = intake.submit(body("GOOD"))
    assert entered.wait(10)
    bad, broken, after = intake.submit(b"{not json"), intake.submit(body("BROKEN")), intake.submit(body("AFTER"))
    gate.set()
    assert good.result(10) and after.result(10)
    with pytest.raises(WebhookPayloadError):
        bad.result(10)
    outcome = broken.result(10)  # stored and answered: the handler runs later
    assert intake.wait_idle(10)
    intake.close()
    assert sorted(recorder.seen) == ["AFTER", "GOOD"] and handled
    with runtime.db.session() as s:
        row = s.get(WebhookEvent, outcome.event.id)
        assert row.handled_at is None and "handler broke" in row.error
        assert row.attempts == DISPATCH_ATTEMPTS
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 3


def test_a_group_that_cannot_commit_is_stored_one_by_one(runtime):
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
    assert intake.wait_idle(10)
    intake.close()
    assert len(results) == 2 and sorted(recorder.seen) == ["ONE", "TWO"]


def test_close_answers_and_dispatches_what_was_queued_and_refuses_more(runtime):
    recorder = Recorder()
    intake = make(runtime, recorder)
    pending = [intake.submit(body(f"Q{i}")) for i in range(5)]
    intake.close()
    assert all(f.result(1) for f in pending) and sorted(recorder.seen) == [f"Q{i}" for i in range(5)]
    with pytest.raises(RuntimeError):
        intake.submit(body("LATE"))
