"""Issue 21: no stock change left behind when it lands while the same SKU is being read, queued or
pushed. Each test replays a soak dossier's interleaving exactly, with the Magento read hooked so
the second change lands *during* the first read (both sandboxes over HTTP, a real database)."""

from __future__ import annotations

import datetime as dt
import json

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from marketbridge.adapters.db.models.stock import SkuState, StockHint, SyncOutbox, WebhookEvent
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.stock import Kind
from marketbridge.sandbox.magento.webhooks import public_pem, sign
from marketbridge.services.stock import outbox
from marketbridge.services.stock import poll as stock_poll
from marketbridge.services.stock import push as stock_push
from marketbridge.services.stock import refresh as stock_refresh
from marketbridge.web.app import create_app
from tests.conftest import make_settings
from tests.integration.test_stock_sync import hint, offer, set_stock, simple_on_marketplace

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SOURCE_ITEMS_SAVE = "plugin.inventory_api.api.source_items_save.execute"


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes, tmp_path):
    pem = tmp_path / "webhook.pub"
    pem.write_bytes(public_pem(KEY))
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, magento_webhook_public_key_file=str(pem),
                                          price_sync_enabled=False))
    yield runtime
    runtime.close()


def hook_first_read(monkeypatch, during) -> list[int]:
    """Run ``during()`` right after the first Magento read of a refresh returns, before that
    refresh writes what it read. Returns the list of reads done (its length counts them)."""
    original = stock_refresh.read_for
    calls: list[int] = []

    def hooked(*args, **kwargs):
        readings = original(*args, **kwargs)
        calls.append(len(readings))
        if len(calls) == 1:
            during()
        return readings

    monkeypatch.setattr(stock_refresh, "read_for", hooked)  # looked up by refresh._refresh
    return calls


def source_item_webhook(client: TestClient, sku: str, qty: int) -> None:
    """What Adobe Commerce sends on a source item save (the sandbox's exact body: no time in it)."""
    body = json.dumps({"eventName": SOURCE_ITEMS_SAVE, "data": {"sourceItems": [
        {"sku": sku, "source_code": "default", "quantity": qty, "status": 1}]}}, separators=(",", ":")).encode()
    response = client.post("/webhooks/adobe-commerce", content=body,
                           headers={"Content-Type": "application/json", "x-adobe-commerce-webhook-signature": sign(body, KEY)})
    assert response.status_code == 200, response.text


def salable(boxes, sku: str) -> int:
    response = httpx2.get(f"{boxes.magento_url}/rest/all/V1/inventory/get-product-salable-quantity/{sku}/1",
                          headers={"Authorization": "Bearer sandbox-magento-token"})
    response.raise_for_status()
    return int(response.json())


def published(rt, sku: str) -> tuple[int | None, float | None]:
    with rt.db.session() as session:
        row = session.get(SkuState, sku)
        return row.published_qty, row.magento_qty


def test_a_change_back_to_an_earlier_value_during_the_read_and_push_is_read_again(rt, fresh_sandboxes, monkeypatch):
    """Dossier MB-CFG-0008-OAK-M (full soak, SQLite): to 1, to 3, read, then — while that read and
    its push are in flight — back to 1. Its webhook body is byte for byte the first one's (no time
    in it), was taken for a redelivery, and the offer stayed at 3 against 1 in Magento."""
    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[3]
    with TestClient(create_app(rt, start_engine=False)) as client:
        set_stock(boxes, sku, 1)
        source_item_webhook(client, sku, 1)
        set_stock(boxes, sku, 3)
        source_item_webhook(client, sku, 3)

        def back_to_one() -> None:
            set_stock(boxes, sku, 1)
            source_item_webhook(client, sku, 1)

        reads = hook_first_read(monkeypatch, back_to_one)
        stock_refresh.refresh(rt)  # reads 3; the change back to 1 lands during the read
        assert published(rt, sku)[1] == 3
        stock_push.push_now(rt)
    assert len(reads) >= 2, "the change that landed during the read was never read"
    assert offer(boxes, sku)["quantity"] == 1
    assert published(rt, sku) == (1, 1)


def test_a_hint_from_a_worker_whose_clock_is_behind_survives_the_read_it_landed_in(rt, fresh_sandboxes, monkeypatch):
    """A notice that lands during a read must survive that read's clean-up, whatever time it
    carries: a second worker's clock 10 s behind (or a webhook transaction that took its time
    and committed late) stamped it "before" the read started, and the clean-up by time dropped it."""
    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[4]
    set_stock(boxes, sku, 8)
    hint(rt, sku)

    def change_noticed_by_a_late_clock() -> None:
        set_stock(boxes, sku, 2)
        with rt.db.session() as session:
            outbox.note_hints(session, [sku], reason="test:late-clock",
                              noticed_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10))

    reads = hook_first_read(monkeypatch, change_noticed_by_a_late_clock)
    stock_refresh.refresh(rt)
    with rt.db.session() as session:
        assert session.get(StockHint, sku) is not None, "the notice that landed during the read was dropped"
    stock_push.push_now(rt)
    assert len(reads) >= 2
    assert offer(boxes, sku)["quantity"] == 2


def test_an_older_read_never_writes_over_a_newer_one(rt, fresh_sandboxes, monkeypatch):
    """Dossier MB-CFG-0002-OAK-S (scale-out soak, PostgreSQL): 60 published; a worker's read
    starts (60); the quantity goes to 1 and another worker reads and queues 1; then the first read
    writes its row. It wrote 60 over 1 and queued 60 again; the offer stayed 60 against 1."""
    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[5]
    set_stock(boxes, sku, 60)
    hint(rt, sku)
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == 60
    hint(rt, sku)

    def another_worker_reads_the_change() -> None:
        set_stock(boxes, sku, 1)
        with rt.db.session() as session:
            outbox.note_hints(session, [sku], reason="webhook")
        other = stock_refresh._refresh(rt, 100_000)  # a second worker: its own pass, not this process's lock
        assert other.applied.stock_enqueued == 1

    hook_first_read(monkeypatch, another_worker_reads_the_change)
    stock_refresh.refresh(rt)  # the first worker now writes what it read before the change (60)
    with rt.db.session() as session:
        row = session.get(SkuState, sku)
        assert (row.magento_qty, row.target_qty) == (1, 1), "an older read wrote over a newer one"
        queued = session.scalars(select(SyncOutbox.pending_value).where(
            SyncOutbox.kind == Kind.STOCK.value, SyncOutbox.sku == sku)).one()
        assert queued == "1"
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == 1
    assert published(rt, sku) == (1, 1)


def test_a_pass_that_took_the_newest_hint_is_not_taken_for_the_older_read(rt, fresh_sandboxes, monkeypatch):
    """The read's time must come after its hints were taken. Here the first pass begins, another
    worker's pass reads (10) and writes, the quantity changes (4) and is hinted, and only then does
    the first pass take its hints (the new one) and read 4. Timed from before its take, it looked
    older than the other pass, lost the comparison and deleted the hint: 4 was never published."""
    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[10]
    set_stock(boxes, sku, 10)
    hint(rt, sku)
    original = outbox.take_hints
    calls: list[int] = []

    def take_late(session, limit, **kwargs):
        calls.append(limit)
        if len(calls) == 1:  # the first pass has begun; before it takes its hints:
            stock_refresh._refresh(rt, 100_000)  # another worker reads 10 and writes it
            set_stock(boxes, sku, 4)
            with rt.db.session() as other:
                outbox.note_hints(other, [sku], reason="webhook")
        return original(session, limit, **kwargs)

    monkeypatch.setattr(outbox, "take_hints", take_late)
    stock_refresh.refresh(rt)
    monkeypatch.setattr(outbox, "take_hints", original)
    stock_push.push_now(rt)
    expected = salable(boxes, sku)  # 4 on the default source, plus what other sources hold
    assert offer(boxes, sku)["quantity"] == expected
    assert published(rt, sku) == (expected, expected)


def test_a_result_does_not_mark_a_sku_done_for_a_change_it_did_not_carry(rt, fresh_sandboxes):
    """An import carrying 3 completes while 1 (read during the push) waits for the next window:
    the SKU is not "ok" until the value that matches Magento is confirmed."""
    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[6]
    set_stock(boxes, sku, 3)
    carried = salable(boxes, sku)
    hint(rt, sku)
    stock_refresh.refresh(rt)
    [batch_id] = stock_push.claim_all(rt)
    assert stock_push.upload(rt, batch_id).state == "sent"
    set_stock(boxes, sku, 1)  # changes while the import of 3 is processed
    with rt.db.session() as session:
        outbox.note_hints(session, [sku], reason="webhook")
    stock_refresh.refresh(rt)
    assert stock_push.follow(rt, batch_id).state == "complete"
    with rt.db.session() as session:
        row = session.get(SkuState, sku)
        assert row.published_qty == carried  # what the marketplace holds now
        assert row.stock_result == "pending", "marked done for a change the import did not carry"
    assert salable(boxes, sku) != carried
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == salable(boxes, sku)
    with rt.db.session() as session:
        row = session.get(SkuState, sku)
        assert (row.published_qty, row.stock_result) == (salable(boxes, sku), "ok")


def test_catch_up_reads_what_changed_while_nobody_listened(rt, fresh_sandboxes):
    """The catch-up at start: a stored webhook never dispatched is dispatched, a source item
    changed while the service was down is found by its fingerprint; nothing else is re-read."""
    from marketbridge.adapters.db.models.stock import WebhookEvent

    boxes = fresh_sandboxes
    skus = simple_on_marketplace(boxes)
    changed, via_event = skus[7], skus[8]
    stock_poll.full_resync(rt)
    stock_push.push_now(rt)
    stock_poll.poll(rt)  # baseline of the cursors and fingerprints, as a running service has
    set_stock(boxes, changed, 11)  # while down: the webhook found nobody
    set_stock(boxes, via_event, 12)
    body = json.dumps({"eventName": SOURCE_ITEMS_SAVE, "data": {"sourceItems": [
        {"sku": via_event, "source_code": "default", "quantity": 12, "status": 1}]}})
    with rt.db.session() as session:  # stored, then the worker died before dispatching it
        session.add(WebhookEvent(event_name=SOURCE_ITEMS_SAVE, dedup_key="sha256:x", body=body))
    result = stock_poll.catch_up(rt)
    assert result.redispatched == 1
    assert result.refresh.hints >= 2
    assert result.source_changes == 2  # just what changed: the rest of the catalogue is not re-read
    stock_push.push_now(rt)
    assert offer(boxes, changed)["quantity"] == 11
    assert offer(boxes, via_event)["quantity"] == 12


def test_a_change_back_to_the_value_of_the_last_poll_is_found_by_the_catch_up(rt, fresh_sandboxes):
    """Full soak, MB-000319 (33.8 s above): the poll stored the fingerprint of quantity 1; a webhook
    then took the SKU to 25, read exactly, which left that fingerprint as it was; the change back
    to 1 came just before a kill and its webhook found nobody. The catch-up compared the source
    item with the stored fingerprint, found them equal, and the offer stayed at 25 until the SKU's
    next change. Every read now stores the fingerprint of what it read."""
    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[9]
    stock_poll.full_resync(rt)
    stock_push.push_now(rt)
    set_stock(boxes, sku, 1)
    stock_poll.poll(rt)  # the fingerprint of quantity 1, as a running service has
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == 1
    set_stock(boxes, sku, 25)
    hint(rt, sku)  # its webhook: a few SKUs, read exactly
    stock_refresh.refresh(rt)
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == 25
    set_stock(boxes, sku, 1)  # just before the kill: the webhook found nobody
    result = stock_poll.catch_up(rt)
    stock_push.push_now(rt)
    assert result.source_changes == 1
    assert offer(boxes, sku)["quantity"] == 1


def test_a_worker_newly_found_dead_is_taken_over_once(rt):
    """The sweeper runs the catch-up when it takes over a dead worker: once per death (the dead
    worker's heartbeat row stays, and each sweep finds it again), and again after it comes back
    and dies once more."""
    from marketbridge.adapters.db.models.core import WorkerHeartbeat
    from marketbridge.workflows.maintenance import newly_dead

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with rt.db.session() as session:
        session.add(WorkerHeartbeat(executor_id="worker-b", seen_at=long_ago, pid=1))
        session.add(WorkerHeartbeat(executor_id="worker-c", seen_at=dt.datetime.now(dt.UTC), pid=2))
    assert newly_dead(rt) == ["worker-b"]
    assert newly_dead(rt) == []
    with rt.db.session() as session:
        session.get(WorkerHeartbeat, "worker-b").seen_at = long_ago + dt.timedelta(minutes=5)
    assert newly_dead(rt) == ["worker-b"]


def test_a_webhook_is_acknowledged_only_once_stored_and_its_hint_follows(rt, fresh_sandboxes):
    """The 200 leaves after the commit of the event: a separate connection (another process, after
    a kill -9) sees the stored body as soon as the answer arrives. Its handlers run just after, in
    the intake's dispatcher (services/webhook_intake.py); one stored and not yet dispatched when
    the process dies is dispatched by the catch-up at start (see the test below)."""
    from sqlalchemy import create_engine, text

    from marketbridge.web.routers.webhooks import intake

    sku = simple_on_marketplace(fresh_sandboxes)[9]
    other = create_engine(rt.settings.database_url)
    try:
        with TestClient(create_app(rt, start_engine=False)) as client:
            source_item_webhook(client, sku, 5)
            with other.connect() as conn:
                stored = conn.execute(text("select count(*) from webhook_events where body like :sku"),
                                      {"sku": f"%{sku}%"}).scalar()
            assert intake(client.app).wait_idle(10)
            with other.connect() as conn:
                events = conn.execute(text("select count(*) from webhook_events where handled_at is not null")).scalar()
                hinted = conn.execute(text("select count(*) from stock_hints where sku = :sku"), {"sku": sku}).scalar()
        assert (stored, events, hinted) == (1, 1, 1)
    finally:
        other.dispose()


def test_an_event_stored_but_never_dispatched_is_dispatched_by_the_catch_up(rt, fresh_sandboxes):
    """A worker killed between storing a delivery (answered 200) and running its handlers: the
    catch-up at start dispatches it, whatever its age."""
    from marketbridge.services.webhooks import store_event

    sku = simple_on_marketplace(fresh_sandboxes)[10]
    body = json.dumps({"eventName": "plugin.inventory_api.api.source_items_save.execute",
                       "data": {"sourceItems": [{"sku": sku, "source_code": "default", "quantity": 4,
                                                 "status": 1}]}}).encode()
    with rt.db.session() as session:
        store_event(session, body, dedup_window_seconds=600)  # stored, answered, then the kill
    with rt.db.session() as session:
        assert session.get(StockHint, sku) is None
    caught = stock_poll.catch_up(rt)
    assert caught.redispatched == 1
    with rt.db.session() as session:
        assert session.scalars(select(WebhookEvent.handled_at)).one() is not None


def test_the_sweeper_starts_the_stock_catch_up_when_it_takes_over_a_dead_worker(rt):
    from dbos import DBOS

    from marketbridge.adapters.db.models.core import WorkerHeartbeat
    from marketbridge.workflows import engine
    from marketbridge.workflows.maintenance import sweep_stale_executors

    engine.launch(rt, schedules=False)  # no start hook: only the takeover starts a catch-up here
    try:
        with rt.db.session() as session:
            session.add(WorkerHeartbeat(executor_id="worker-b", pid=1,
                                        seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
        DBOS.start_workflow(sweep_stale_executors, None, None).get_result()
        DBOS.start_workflow(sweep_stale_executors, None, None).get_result()  # same death: not again
        started = [w.workflow_id for w in DBOS.list_workflows(workflow_id_prefix="stock-catchup-")]
        assert len(started) == 1
    finally:
        engine.shutdown()


def test_a_change_noticed_during_a_slow_pass_goes_out_before_that_pass_ends(rt, fresh_sandboxes, monkeypatch):
    """Full soak, after a restart under faults: the catch-up's pass took 490 SKUs and read for
    35 s, and every change noticed after it began waited for its end (offers 26 s above Adobe
    Commerce). A second pass of the same process takes what the first has not, at once."""
    boxes = fresh_sandboxes
    slow_sku, fresh_sku = simple_on_marketplace(boxes)[6:8]
    set_stock(boxes, slow_sku, 5)
    hint(rt, slow_sku)
    second: list[stock_refresh.RefreshResult] = []

    def a_change_lands_meanwhile() -> None:
        set_stock(boxes, fresh_sku, 0)
        hint(rt, fresh_sku)
        second.append(stock_refresh.refresh(rt))  # the webhook's trigger, while the slow pass still reads

    reads = hook_first_read(monkeypatch, a_change_lands_meanwhile)
    first = stock_refresh.refresh(rt)
    assert len(reads) == 2, "no second pass ran while the first was reading"
    assert second[0].hints == 1, "the change noticed during the slow pass waited for its end"
    assert first.hints == 1  # each pass took only its own SKU: nothing read twice
    with rt.db.session() as session:
        assert session.get(StockHint, slow_sku) is None and session.get(StockHint, fresh_sku) is None
    stock_push.push_now(rt)
    # what Magento sells (the set source plus any other source of the SKU)
    assert offer(boxes, fresh_sku)["quantity"] == salable(boxes, fresh_sku)
    assert offer(boxes, slow_sku)["quantity"] == salable(boxes, slow_sku)


def test_a_third_pass_waits_and_no_sku_is_taken_by_two_passes(rt, fresh_sandboxes, monkeypatch):
    """At most two passes per process, over disjoint SKUs: a third caller gets an empty result
    (the running passes or the next one take its hints), and a SKU noticed again while its pass
    reads is left for the next pass, not read by the second one at the same time."""
    boxes = fresh_sandboxes
    a, b, c = simple_on_marketplace(boxes)[8:11]
    for sku in (a, b, c):
        set_stock(boxes, sku, 4)
    hint(rt, a)
    nested: list[stock_refresh.RefreshResult] = []
    original = stock_refresh.read_for
    depth: list[int] = []

    def hooked(*args, **kwargs):
        depth.append(1)
        if len(depth) == 1:  # inside the first pass: a's change is noticed again, b is new
            hint(rt, a)
            hint(rt, b)
            nested.append(stock_refresh.refresh(rt))  # second pass: takes b, not a
        elif len(depth) == 2:  # inside the second pass: a third caller
            hint(rt, c)
            nested.append(stock_refresh.refresh(rt))
        return original(*args, **kwargs)

    monkeypatch.setattr(stock_refresh, "read_for", hooked)
    stock_refresh.refresh(rt)
    third, second = nested  # the third returned first (it was called inside the second)
    assert third.hints == 0, "a third pass ran at once"
    assert second.hints == 1
    with rt.db.session() as session:
        left = set(session.scalars(select(StockHint.sku)))
    assert a in left and c in left and b not in left
    assert stock_refresh._in_flight == set() and stock_refresh._passes == 0


def test_the_poll_locks_states_then_hints_each_in_sku_order(rt, fresh_sandboxes, monkeypatch):
    """Scale-out soak on PostgreSQL: the catch-up at start died as a deadlock victim, and the
    changes made while its worker was down were never pushed. A refresh pass locks the states it
    applies (in SKU order), then deletes its hints; the poll wrote hints first, in the order it
    found them, then states. Now it writes states, then hints, each in SKU order."""
    from sqlalchemy import event

    boxes = fresh_sandboxes
    skus = simple_on_marketplace(boxes)[11:15]
    stock_poll.full_resync(rt)
    stock_push.push_now(rt)
    stock_poll.poll(rt)  # baseline fingerprints
    for n, sku in enumerate(reversed(skus)):  # found in whatever order the scan returns them
        set_stock(boxes, sku, 30 + n)
    writes: list[tuple[str, list[str]]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        text = " ".join(statement.split()).lower()
        rows = parameters if executemany else [parameters]
        if text.startswith("update sku_states set source_fingerprint"):
            writes.append(("states", [r["sku_"] if isinstance(r, dict) else r[-1] for r in rows]))
        elif text.startswith("insert into stock_hints") and "poll:source-items" in str(parameters):
            writes.append(("hints", [r["sku"] if isinstance(r, dict) else r[0] for r in rows]))

    monkeypatch.setattr(stock_refresh, "refresh", lambda runtime, **_: stock_refresh.RefreshResult())
    event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        stock_poll.poll(rt)
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", record)
    kinds = [kind for kind, _ in writes]
    assert kinds.index("states") < kinds.index("hints"), writes
    for _, written in writes:
        assert written == sorted(written), writes
    assert set(skus) <= {sku for _, written in writes for sku in written}


def test_hint_groups_are_one_write_in_sku_order_with_their_flags_together(rt):
    """The poll notes three groups (source items, orders, products) in one transaction. Written as
    three sorted writes they still locked hint rows out of SKU order across the groups, and the
    scale-out soak's catch-up deadlocked with a refresh pass on ``stock_hints``."""
    from sqlalchemy import event

    from marketbridge.services.stock import outbox

    writes: list[list[str]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        if " ".join(statement.split()).lower().startswith("insert into stock_hints"):
            rows = parameters if executemany else [parameters]
            writes.append([r["sku"] if isinstance(r, dict) else r[0] for r in rows])

    event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        with rt.db.session() as session:
            outbox.note_hint_groups(session, [
                outbox.HintGroup(("MB-C", "MB-A"), reason="poll:source-items"),
                outbox.HintGroup(("MB-B", "MB-A"), exact=True, reason="poll:orders"),
                outbox.HintGroup(("MB-D",), price=True, details=True, reason="poll:products"),
            ])
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", record)
    assert writes == [["MB-A", "MB-B", "MB-C", "MB-D"]]
    with rt.db.session() as session:
        hints = {h.sku: (h.stock, h.exact, h.price, h.reason) for h in session.scalars(select(StockHint))}
    assert hints == {"MB-A": (True, True, False, "poll:source-items"), "MB-B": (True, True, False, "poll:orders"),
                     "MB-C": (True, False, False, "poll:source-items"), "MB-D": (True, False, True, "poll:products")}
