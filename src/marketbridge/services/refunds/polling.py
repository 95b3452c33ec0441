"""Polling Adobe Commerce for credit memos (entity-id cursor ``magento.creditmemos``) and the
workflow ids that run them."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import refunds as refunds_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.services.refunds.recording import (
    _object_id,
    record_creditmemo,
)
from marketbridge.services.refunds.results import PendingMemo
from marketbridge.services.refunds.states import (
    CURSOR_CREDITMEMOS,
    NEW,
    PLANNED,
    SENDING,
)

if TYPE_CHECKING:
    from marketbridge.runtime import Runtime


def poll_creditmemos(runtime: Runtime, *, limit: int = 500) -> list[int]:
    """Record credit memos created since the cursor (entity id); returns the new ids.

    First run: memos created within ``refund_backfill_hours`` are taken, older ones are not
    (they predate marketbridge and may have been refunded by hand).
    """
    store = runtime.refunds_store
    with store.unit_of_work() as repo:
        cursor = repo.cursor(CURSOR_CREDITMEMOS)
        after = int(cursor) if cursor is not None else None
    if after is None:
        since = utcnow() - dt.timedelta(hours=runtime.settings.refund_backfill_hours)
        memos = runtime.magento.iterate_creditmemos(created_since=since.strftime("%Y-%m-%d %H:%M:%S"))
    else:
        memos = runtime.magento.iterate_creditmemos(after_entity_id=after)
    new_ids: list[int] = []
    highest = after or 0
    for count, memo in enumerate(memos):
        if count >= limit:
            break
        if record_creditmemo(runtime, memo.entity_id, source="poll"):
            new_ids.append(memo.entity_id)
        highest = max(highest, memo.entity_id)
    with store.unit_of_work() as repo:
        cursor = repo.cursor(CURSOR_CREDITMEMOS)
        if cursor is None or highest > int(cursor):
            repo.move_cursor(CURSOR_CREDITMEMOS, str(highest))
    return new_ids


def workflow_id(creditmemo_id: int, workflow_round: int) -> str:
    """``creditmemo:<id>`` (then ``creditmemo:<id>:r<n>`` for a restart after a stall)."""
    return f"creditmemo:{creditmemo_id}" if workflow_round == 0 else f"creditmemo:{creditmemo_id}:r{workflow_round}"


def pending_creditmemos(runtime: Runtime) -> list[PendingMemo]:
    """Memos not finished yet (new, planned, sending) with the workflow id that should run them.

    A memo untouched for ``refund_stall_minutes`` gets a new round (its earlier workflow ended
    without finishing it, e.g. Magento was down); otherwise the current round's id is returned,
    which collapses onto the workflow already running.
    """
    stall = utcnow() - dt.timedelta(minutes=runtime.settings.refund_stall_minutes)
    out = []
    with runtime.refunds_store.unit_of_work() as repo:
        for r in repo.memos_in((NEW, PLANNED, SENDING)):
            if r.updated_at <= stall:
                r.workflow_round += 1
            out.append(PendingMemo(r.creditmemo_id, r.status, workflow_id(r.creditmemo_id, r.workflow_round)))
    return out


def report_delayed(runtime: Runtime, creditmemo_id: int, error: str) -> None:
    """The send kept failing with an unknown outcome or an unavailable marketplace."""
    with runtime.refunds_store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id)
        repo.issues.record(IssueReport(
            type=refunds_domain.REFUND_DELAYED, object_id=_object_id(row),
            message=f"The refund for credit memo {row.creditmemo_increment_id} (order {row.order_id}) could not be "
            f"sent to John Lewis after {row.attempts} attempts; marketbridge keeps trying.",
            detail=error[:2000], context={"creditmemo_id": creditmemo_id},
        ))
