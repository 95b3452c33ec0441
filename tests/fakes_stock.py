"""In-memory fake of the stock flow's outbox port (:class:`marketbridge.ports.stock.StockOutboxRepository`,
the outbox half of ``StockRepository``) for unit tests of ``services.stock.outbox``: hints, pending
and in-flight values, lanes and batches in dicts, no database. The ``sku_states`` / rules / cursors
half of the port is not faked (the functions tested here do not use it).

:class:`FakeStockStore` holds what the database would (the rows, every column set, as no database
fills the defaults); a :class:`FakeStockRepository` on it stands for one session's transaction, so
two repositories on one store are two workers. The repository hands out the stored records
themselves (the service changes a batch in place, as the unit of work keeps it), except
:meth:`FakeStockRepository.take_hints`, which returns snapshots like the SQL rows it stands for: a
hint noticed again after it was taken must not change the token the taker holds.

Besides the rows the store records what a test asserts on: each hint write's SKUs in order
(``hint_writes``), the rollbacks, and ``contenders``: per lane, the batch another worker's claim
puts on it between this claim's read of the lane and its conditional UPDATE (how a test makes
:meth:`FakeStockRepository.take_lane` lose the race). :meth:`FakeStockRepository.rollback` undoes
the batches that repository added, nothing else (no test here relies on more).

The answers are plain Python over the rows, written from the port's docstrings, independently of
the SQL in ``adapters/db/stock_outbox.py``, so a test on the fake checks the flow's rules, not the
statements (those are pinned by tests/integration/test_stock*.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from marketbridge.adapters.db.models.stock import StockHint, SyncBatch, SyncLane, SyncOutbox
from tests.fakes import FakeRepository

#: The longest SKU a hint can hold: the ``stock_hints.sku`` column's declared length.
HINT_SKU_MAX: int = StockHint.__table__.c.sku.type.length

_FLAGS = ("stock", "price", "details", "exact", "force")


class HintRow(NamedTuple):
    """A taken hint: a snapshot of the row, as the SQL ``take_hints`` returns (attribute access)."""

    sku: str
    stock: bool
    price: bool
    details: bool
    exact: bool
    force: bool
    first_noticed_at: dt.datetime
    reason: str
    token: str


@dataclass
class FakeStockStore:
    hints: dict[str, StockHint] = field(default_factory=dict)
    outbox: dict[tuple[str, str], SyncOutbox] = field(default_factory=dict)  # by (kind, sku)
    lanes: dict[str, SyncLane] = field(default_factory=dict)
    batches: dict[int, SyncBatch] = field(default_factory=dict)
    hint_writes: list[list[str]] = field(default_factory=list)  # each upsert's SKUs, in write order
    contenders: dict[str, int] = field(default_factory=dict)  # lane -> batch another claim puts on it first
    rollbacks: int = 0

    def repository(self) -> FakeStockRepository:
        """A repository on a transaction of its own (one worker's session)."""
        return FakeStockRepository(self)

    def add_pending(self, kind: str, sku: str, value: str, *, noticed_at: dt.datetime,
                    first_noticed_at: dt.datetime | None = None) -> SyncOutbox:
        """A stored outbox row with a pending value (and nothing in flight)."""
        row = _outbox_row(kind, sku)
        row.pending_value, row.pending_noticed_at = value, noticed_at
        row.pending_first_noticed_at = first_noticed_at or noticed_at
        self.outbox[(kind, sku)] = row
        return row


def _outbox_row(kind: str, sku: str) -> SyncOutbox:
    return SyncOutbox(kind=kind, sku=sku, pending_value=None, pending_noticed_at=None, pending_first_noticed_at=None,
                      inflight_batch_id=None, inflight_value=None, inflight_first_noticed_at=None,
                      inflight_read_at=None)


class FakeStockRepository(FakeRepository):
    """:class:`~marketbridge.ports.stock.StockOutboxRepository` on a :class:`FakeStockStore`."""

    store: FakeStockStore

    def __init__(self, store: FakeStockStore | None = None) -> None:
        super().__init__(store if store is not None else FakeStockStore())
        self.added: list[int] = []  # batches added through this repository (what rollback undoes)

    # ------------------------------------------------------------------ hints
    @property
    def hint_sku_max(self) -> int:
        return HINT_SKU_MAX

    def upsert_hints(self, rows: Sequence[dict[str, Any]]) -> None:
        self.store.hint_writes.append([row["sku"] for row in rows])
        for row in rows:
            hint = self.store.hints.get(row["sku"])
            if hint is None:
                self.store.hints[row["sku"]] = StockHint(**{name: row[name] for name in (
                    "sku", *_FLAGS, "first_noticed_at", "touched_at", "reason", "token")})
                continue
            for flag in _FLAGS:  # flags accumulate until the hint is refreshed
                setattr(hint, flag, bool(getattr(hint, flag) or row[flag]))
            # the first notice's time stays; the latest notice's time, reason and token replace
            hint.touched_at, hint.reason, hint.token = row["touched_at"], row["reason"], row["token"]

    def delete_hints(self, rows: Sequence[dict[str, Any]]) -> int:
        deleted = 0
        for row in rows:
            hint = self.store.hints.get(row["sku_"])
            if hint is not None and hint.token == row["token_"]:
                del self.store.hints[row["sku_"]]
                deleted += 1
        return deleted

    def take_hints(self, limit: int, *, exclude: Set[str] = frozenset(),
                   held: tuple[str, Any] | None = None) -> list[Any]:
        oldest = sorted(self.store.hints.values(), key=lambda h: (h.first_noticed_at, h.sku))
        if held is not None:
            oldest = [h for h in oldest if h.reason != held[0] or h.touched_at <= held[1]]
        return [HintRow(h.sku, h.stock, h.price, h.details, h.exact, h.force, h.first_noticed_at, h.reason, h.token)
                for h in oldest if h.sku not in exclude][:limit]

    def hint_count(self) -> int:
        return len(self.store.hints)

    def hint(self, sku: str) -> StockHint | None:
        return self.store.hints.get(sku)

    # ------------------------------------------------------------------ pending and in-flight values
    def upsert_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        for values in rows:
            row = self.store.outbox.setdefault((values["kind"], values["sku"]),
                                               _outbox_row(values["kind"], values["sku"]))
            row.pending_value, row.pending_noticed_at = values["pending_value"], values["pending_noticed_at"]
            if row.pending_first_noticed_at is None:  # the earliest unsent notice is kept
                row.pending_first_noticed_at = values["pending_first_noticed_at"]

    def last_sent_values(self, kind_value: str, skus: Sequence[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for sku in skus:
            row = self.store.outbox.get((kind_value, sku))
            if row is not None and (row.pending_value is not None or row.inflight_value is not None):
                out[sku] = row.pending_value if row.pending_value is not None else row.inflight_value
        return out

    def _pending(self) -> list[SyncOutbox]:
        return [row for row in self.store.outbox.values() if row.pending_value is not None]

    def pending_keys(self, skus: Sequence[str]) -> set[tuple[str, str]]:
        wanted = set(skus)
        return {(row.kind, row.sku) for row in self._pending() if row.sku in wanted}

    def pending_count(self, kind_values: Iterable[str] | None = None) -> int:
        kinds = None if kind_values is None else set(kind_values)
        return sum(1 for row in self._pending() if kinds is None or row.kind in kinds)

    def pending_of_kind(self, kind_value: str) -> int:
        return self.pending_count([kind_value])

    def inflight_count(self) -> int:
        return sum(1 for row in self.store.outbox.values() if row.inflight_batch_id is not None)

    def oldest_pending_change(self) -> dt.datetime | None:
        return min((row.pending_first_noticed_at for row in self._pending()
                    if row.pending_first_noticed_at is not None), default=None)

    def outbox_of(self, sku: str) -> Sequence[SyncOutbox]:
        return [row for (_, row_sku), row in sorted(self.store.outbox.items()) if row_sku == sku]

    # ------------------------------------------------------------------ lanes and batches
    def lane(self, api: str) -> SyncLane:
        return self.store.lanes.setdefault(api, SyncLane(api=api, active_batch_id=None, last_sent_at=None))

    def lane_row(self, api: str) -> SyncLane | None:
        return self.store.lanes.get(api)

    def lanes(self) -> Sequence[SyncLane]:
        return [self.store.lanes[api] for api in sorted(self.store.lanes)]

    def has_claimable(self, kind_values: Sequence[str]) -> bool:
        return any(row.kind in kind_values and row.inflight_batch_id is None for row in self._pending())

    def add_batch(self, api: str, kinds: str, now: dt.datetime) -> SyncBatch:
        batch = SyncBatch(id=max(self.store.batches, default=0) + 1, api=api, kinds=kinds, state="claimed",
                          workflow_id="", import_id=None, sku_count=0, ok_count=0, error_count=0, import_status="",
                          error="", created_at=now, sent_at=None, completed_at=None)
        self.store.batches[batch.id] = batch
        self.added.append(batch.id)
        return batch

    def take_lane(self, api: str, batch_id: int) -> int:
        lane = self.store.lanes.get(api)
        if lane is not None and api in self.store.contenders:  # another worker's claim got there first
            lane.active_batch_id = self.store.contenders.pop(api)
        if lane is None or lane.active_batch_id is not None:
            return 0
        lane.active_batch_id = batch_id
        return 1

    def rollback(self) -> None:
        self.store.rollbacks += 1
        for batch_id in self.added:
            self.store.batches.pop(batch_id, None)
        self.added.clear()

    def move_pending_into_batch(self, kind_values: Sequence[str], batch_id: int) -> int:
        moved = 0
        for row in self._pending():
            if row.kind in kind_values and row.inflight_batch_id is None:
                row.inflight_batch_id, row.inflight_value = batch_id, row.pending_value
                row.inflight_first_noticed_at, row.inflight_read_at = row.pending_first_noticed_at, row.pending_noticed_at
                row.pending_value = row.pending_noticed_at = row.pending_first_noticed_at = None
                moved += 1
        return moved

    def batch(self, batch_id: int) -> SyncBatch | None:
        return self.store.batches.get(batch_id)

    def _of_batch(self, batch_id: int) -> list[SyncOutbox]:
        return [row for _, row in sorted(self.store.outbox.items()) if row.inflight_batch_id == batch_id]

    def batch_rows(self, batch_id: int) -> list[tuple[str, str, str | None]]:
        return [(row.kind, row.sku, row.inflight_value) for row in self._of_batch(batch_id)]

    def inflight_rows(self, batch_id: int) -> list[tuple[str, str, str | None, dt.datetime | None, dt.datetime | None]]:
        return [(row.kind, row.sku, row.inflight_value, row.inflight_first_noticed_at, row.inflight_read_at)
                for row in self._of_batch(batch_id)]

    def lane_sent_at(self, api: str, at: dt.datetime) -> None:
        lane = self.store.lanes.get(api)
        if lane is not None:
            lane.last_sent_at = at

    def clear_inflight(self, batch_id: int) -> None:
        for row in self._of_batch(batch_id):
            if row.pending_value is None:  # nothing waits: the row goes
                del self.store.outbox[(row.kind, row.sku)]
            else:
                row.inflight_batch_id = row.inflight_value = None
                row.inflight_first_noticed_at = row.inflight_read_at = None

    def free_lane(self, batch: SyncBatch) -> None:
        lane = self.store.lanes.get(batch.api)
        if lane is not None and lane.active_batch_id == batch.id:
            lane.active_batch_id = None

    def requeue_inflight(self, batch_id: int) -> int:
        requeued = 0
        for row in self._of_batch(batch_id):
            if row.pending_value is None:  # a newer pending value wins
                row.pending_value, row.pending_noticed_at = row.inflight_value, row.inflight_read_at
                row.pending_first_noticed_at = row.inflight_first_noticed_at
                requeued += 1
        return requeued

    def requeue_skus(self, batch_id: int, skus: Sequence[str]) -> int:
        requeued = 0
        wanted = set(skus)
        for row in self._of_batch(batch_id):
            if row.sku not in wanted:
                continue
            if row.pending_value is None:
                row.pending_value, row.pending_noticed_at = row.inflight_value, row.inflight_read_at
                row.pending_first_noticed_at = row.inflight_first_noticed_at
                requeued += 1
            row.inflight_batch_id = row.inflight_value = None
            row.inflight_first_noticed_at = row.inflight_read_at = None
        return requeued

    def active_batches(self) -> list[SyncBatch]:
        return [self.store.batches[lane.active_batch_id] for lane in self.lanes()
                if lane.active_batch_id is not None and lane.active_batch_id in self.store.batches]

    def start_upload(self, batch_id: int, owner: str) -> int:
        batch = self.store.batches.get(batch_id)
        if batch is None or batch.state != "claimed":
            return 0
        batch.state, batch.workflow_id = "uploading", owner
        return 1

    def batch_list(self, limit: int) -> Sequence[SyncBatch]:
        return [self.store.batches[i] for i in sorted(self.store.batches, reverse=True)][:limit]

    def import_counts_since(self, since: dt.datetime) -> list[tuple[str, str, int]]:
        counts: dict[tuple[str, str], int] = {}
        for batch in self.store.batches.values():
            if batch.created_at >= since:
                counts[(batch.api, batch.state)] = counts.get((batch.api, batch.state), 0) + 1
        return [(api, state, n) for (api, state), n in sorted(counts.items())]
