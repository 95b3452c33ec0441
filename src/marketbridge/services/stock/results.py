"""Record an import's per-SKU results: the last step of a push (:mod:`.push`).

Mirakl's import report names the lines it refused (by offer SKU, mapped back to Magento SKUs by
:func:`.push.follow`); every other line of the batch was accepted. Per SKU this writes the
published value, the result (``ok`` or ``error`` with Mirakl's message), the import id and the
latency from first notice (``sku_states``), and one history row (``sku_push_log``); SKU issues
are raised (unknown offer, refused line) or cleared, and the batch completes, freeing its lane.
A 50,000-SKU import is written in slices of ``RESULT_SLICE`` rows to bound memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import stock as stock_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.domain.stock import (
    SKU_UNKNOWN_ON_MARKETPLACE,
    STOCK_IMPORT_FAILED,
    STOCK_LINE_REJECTED,
    Kind,
)
from marketbridge.memory import release_free_memory
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service
from marketbridge.services.stock import outbox
from marketbridge.services.stock.apply import LARGE_PASS, _active_issue_ids

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # the caller's transaction, wrapped in the port (outbox.store)

log = structlog.get_logger(__name__)

RESULT_SLICE = 5000


def _connection_id(api: str) -> str:
    """The object of an import API's ``stock_import_failed`` issue (one per API)."""
    return f"mirakl:{api}"


@dataclass(frozen=True)
class FollowResult:
    """What :func:`.push.follow` (or :func:`record_results`) did. ``state``: ``complete`` (per-SKU results
    written: ``ok`` and ``errors`` lines), ``failed`` (values queued again; ``status`` is the
    import's status when Mirakl reported it failed), or the batch's own state when it was not this
    owner's to follow (``None``: no such batch)."""

    state: str | None
    status: str | None = None
    ok: int | None = None
    errors: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``stock.follow`` workflow step's result, in the dict form DBOS has always recorded
        (see :mod:`.push`)."""
        out: dict[str, Any] = {"state": self.state}
        for name in ("status", "ok", "errors"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


def _lock_states(session: Session, skus: Sequence[str]) -> set[str]:
    """The SKUs among ``skus`` (sorted) that have a state row, each row locked in SKU order.

    The grouped updates below touch rows in their groups' order, not in SKU order; a refresh pass
    locks the same rows in SKU order, and the two deadlocked on PostgreSQL (scale-out soak: the
    push workflow failed in ``stock.follow`` and its values went out again a window later).
    Taking every lock first, in SKU order, removes the cycle. (SQLite locks the whole database
    per write transaction and ignores FOR UPDATE.)"""
    return outbox.store(session).lock_state_rows(skus)


def _write_results(session: Session, rows: Sequence[outbox.InflightRow], failed: dict[str, str], batch_id: int,
                   import_id: str, now: dt.datetime) -> None:
    """Per-SKU state (published value, result, latency) and history for one slice of a batch.

    A SKU with a newer value already queued keeps its result ``pending``: this import carried an
    older change, so it does not make the SKU done (the published value is still recorded)."""
    repo = outbox.store(session)
    existing = _lock_states(session, sorted({r.sku for r in rows}))
    newer = outbox.pending_keys(session, [r.sku for r in rows])
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        if row.sku not in existing:
            continue
        prefix = "stock" if row.kind is Kind.STOCK else "price"
        if row.sku in failed:
            mapping = {"sku": row.sku, f"{prefix}_result": "error", f"{prefix}_message": failed[row.sku][:2000],
                       f"{prefix}_completed_at": now, f"{prefix}_import_id": import_id}
        else:
            latency = (now - row.first_noticed_at).total_seconds() if row.first_noticed_at else None
            mapping = {"sku": row.sku, f"{prefix}_result": "ok", f"{prefix}_message": "",
                       f"{prefix}_completed_at": now, f"{prefix}_latency_seconds": latency,
                       f"{prefix}_import_id": import_id,
                       "published_qty" if row.kind is Kind.STOCK else "published_price":
                           int(row.value) if row.kind is Kind.STOCK else row.value}
        if (row.kind.value, row.sku) in newer:
            del mapping[f"{prefix}_result"]
        by_keys.setdefault(tuple(sorted(mapping)), []).append({f"b_{k}": v for k, v in mapping.items()})
    for keys, group in by_keys.items():  # Core executemany
        repo.update_states([k for k in keys if k != "sku"], group)
    history = [
        {"batch_id": batch_id, "kind": r.kind.value, "sku": r.sku, "value": r.value,
         "result": "error" if r.sku in failed else "ok", "message": failed.get(r.sku, "")[:500],
         "first_noticed_at": r.first_noticed_at, "read_at": r.read_at, "completed_at": now}
        for r in rows
    ]
    if history:
        repo.add_push_log(history)  # Core executemany


def record_results(runtime: Runtime, batch_id: int, api: str, import_id: str, status: str,
                   failed: dict[str, str]) -> FollowResult:
    now = utcnow()
    with runtime.db.session() as session:
        batch = outbox.store(session).batch(batch_id)
        if batch is None or batch.state != "sent":
            return FollowResult(state=None if batch is None else batch.state)
        rows = sorted(outbox.inflight_rows(session, batch_id), key=lambda r: (r.sku, r.kind.value))
        # Slices bound the memory of a 50,000-SKU import (dicts for state, history, parameters).
        for start in range(0, len(rows), RESULT_SLICE):
            _write_results(session, rows[start : start + RESULT_SLICE], failed, batch_id, import_id, now)
        failed_skus = set(failed)
        ok_skus = {r.sku for r in rows} - failed_skus
        active = _active_issue_ids(session, [SKU_UNKNOWN_ON_MARKETPLACE, STOCK_LINE_REJECTED], ok_skus)
        for sku, codes in active.items():
            for type_ in (SKU_UNKNOWN_ON_MARKETPLACE, STOCK_LINE_REJECTED):
                if type_.code in codes:
                    issue_service.clear(session, type_, sku)
        for sku in sorted(failed_skus & {r.sku for r in rows}):
            message = failed[sku]
            unknown = stock_domain.classify_line_error(message) == "unknown_offer"
            type_ = SKU_UNKNOWN_ON_MARKETPLACE if unknown else STOCK_LINE_REJECTED
            text = (f"The marketplace has no offer with SKU {sku}, so its stock/price could not be updated."
                    if unknown else f"The marketplace refused the stock/price line for SKU {sku}: {message}")
            issue_service.record(session, IssueReport(
                type=type_, object_id=sku, message=text, detail=f"{api} import {import_id}: {message}",
                context={"import_id": import_id, "api": api}))
        outbox.complete(session, batch_id, import_status=status, ok=len(ok_skus), errors=len(failed_skus), now=now)
        issue_service.clear(session, STOCK_IMPORT_FAILED, _connection_id(api))
    if len(rows) >= LARGE_PASS:
        release_free_memory()
    log.info("stock.import_done", api=api, import_id=import_id, ok=len(ok_skus), errors=len(failed_skus))
    return FollowResult(state="complete", ok=len(ok_skus), errors=len(failed_skus))
