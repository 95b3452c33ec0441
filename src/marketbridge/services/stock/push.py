"""Pushing: claim a lane's batch, upload its file to Mirakl once, follow the import (its per-SKU
results are recorded by :mod:`.results`).

One lane per import API (:func:`marketbridge.domain.stock.plan_lanes`: STO01 or OF01 for stock,
PRI01 or OF01 for prices). Mirakl accepts one upload per API a minute (:func:`import_interval`,
scaled in tests), so values wait in the outbox and leave together when the window opens. A batch
(``sync_batches``) goes ``claimed`` → ``uploading`` (conditional UPDATE by its owner: the workflow
``stock-push-<batch id>`` or the CLI) → ``sent`` (import id stored) → ``complete``, or is released
and its values queued again. Files carry the marketplace's offer SKU (:func:`_offer_skus`) and the
columns of :func:`marketbridge.domain.stock.import_rows`; the import's error report gives per-SKU
results, written to ``sku_states`` and ``sku_push_log``.

:func:`upload` and :func:`follow` return frozen :class:`UploadResult` and
:class:`~marketbridge.services.stock.results.FollowResult`. The DBOS steps of ``stock.push_batch``
record them as the dicts they always recorded (:meth:`UploadResult.as_dict`: ``{"state", "api",
"import_id"[, "owner"]}``, or ``{"state": "missing"}``; ``FollowResult.as_dict``: ``{"state"[,
"status"][, "ok", "errors"]}``), so a push recorded before an upgrade resumes after it, and no
pickled class path is tied to these modules.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import RateLimited, RemoteError
from marketbridge.domain import stock as stock_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.domain.pricing import PriceLines, file_columns
from marketbridge.domain.stock import (
    PRICE_DISCOUNT_DROPPED,
    STOCK_IMPORT_FAILED,
    Kind,
    Lane,
)
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service
from marketbridge.services import skus as sku_service
from marketbridge.services.stock import outbox, prices
from marketbridge.services.stock.refresh import refresh
from marketbridge.services.stock.results import FollowResult, _connection_id, record_results
from marketbridge.settings import PriceDiscounts, Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # the caller's transaction, wrapped in the port (outbox.store)

log = structlog.get_logger(__name__)


def lanes(settings: Settings) -> list[Lane]:
    return stock_domain.plan_lanes(
        stock_enabled=settings.stock_sync_enabled,
        price_enabled=settings.price_sync_enabled,
        stock_api=settings.stock_import_api.value,
        price_api=settings.price_import_api.value,
    )


def import_interval(settings: Settings) -> float:
    """Seconds between two uploads of one import API (Mirakl: once a minute), scaled in tests."""
    return 60.0 * settings.mirakl_rate_limit_scale


@dataclass(frozen=True)
class UploadResult:
    """What :func:`upload` did with a batch. ``state``: ``sent`` (Mirakl has the file: ``import_id``),
    ``complete`` (nothing left to send), ``failed`` (values queued again), ``deferred`` (the API was
    not due; values queued again, no issue: the batch row says ``failed`` with "deferred: ..."), ``missing`` (no such
    batch), or the batch's own state when another owner holds it (``owner`` then says who)."""

    state: str
    api: str | None = None
    import_id: str | None = None
    owner: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``stock.upload`` workflow step's result, in the dict form DBOS has always recorded,
        so a push recorded by an older version resumes under this one (and the other way round)."""
        if self.state == "missing":
            return {"state": self.state}
        out: dict[str, Any] = {"state": self.state, "api": self.api, "import_id": self.import_id}
        if self.owner is not None:
            out["owner"] = self.owner
        return out


@dataclass(frozen=True)
class PushOutcome:
    """One batch pushed by :func:`push_now`: its upload, and its follow when the upload was sent."""

    batch_id: int
    upload: UploadResult
    follow: FollowResult | None = None

    @property
    def state(self) -> str | None:
        return self.follow.state if self.follow is not None else self.upload.state

    @property
    def api(self) -> str | None:
        return self.upload.api

    @property
    def ok(self) -> int | None:
        return None if self.follow is None else self.follow.ok

    @property
    def errors(self) -> int | None:
        return None if self.follow is None else self.follow.errors


def seconds_to_window(runtime: Runtime) -> float | None:
    """Seconds until the next lane without a batch in flight may upload again (None: none is
    waiting). The tick sleeps that long when it is shorter than its own period, so a batch leaves
    as the window opens rather than up to one tick later."""
    interval = import_interval(runtime.settings)
    now = utcnow()
    waits = []
    with runtime.db.session() as session:
        for lane in lanes(runtime.settings):
            row = outbox.store(session).lane_row(lane.api)
            if row is not None and row.active_batch_id is None and row.last_sent_at is not None:
                waits.append(interval - (now - row.last_sent_at).total_seconds())
    waits = [w for w in waits if w > 0]
    return min(waits) if waits else None


def claim_all(runtime: Runtime) -> list[int]:
    """For every lane: the batch in flight or a new one when the window allows. Batch ids.

    A batch in flight for longer than ``stock_batch_stale_seconds`` (its owner died for good:
    a CLI killed mid-push, a workflow cancelled by hand) is released first, so a lane never
    stays blocked; its values go back to pending."""
    ids = []
    stale = utcnow() - dt.timedelta(seconds=runtime.settings.stock_batch_stale_seconds)
    for lane in lanes(runtime.settings):
        with runtime.db.session() as session:
            for batch in outbox.active_batches(session):
                if batch.api == lane.api and batch.created_at < stale:
                    outbox.release(session, batch.id, "no progress for too long; values queued again")
        with runtime.db.session() as session:
            batch_id = outbox.claim(session, lane.api, lane.kinds, interval_seconds=import_interval(runtime.settings))
        if batch_id is not None:
            ids.append(batch_id)
    return ids


def _offer_skus(session: Session) -> dict[str, str]:
    """Magento SKU -> marketplace offer SKU for every confirmed link (e.g. a trailing space on the
    marketplace). Unlinked SKUs are sent as they are."""
    return {magento: offer for offer, magento in sku_service.all_links(session).items()}


def _known_values(session: Session, values: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str | None]]:
    """For a shared OF01 file: per SKU, the quantity and price marketbridge publishes now (the
    target the last read computed, else the last value the marketplace confirmed), to fill the
    column a SKU did not change rather than send it blank."""
    if not any("quantity" in v for v in values.values()) or not any("price" in v for v in values.values()):
        return {}
    states = outbox.store(session).load_states(
        sorted(values), columns=["sku", "target_qty", "published_qty", "target_price", "published_price"])
    known: dict[str, dict[str, str | None]] = {}
    for sku, state in states.items():
        qty = state["target_qty"] if state["target_qty"] is not None else state["published_qty"]
        known[sku] = {"quantity": None if qty is None else str(qty),
                      "price": state["target_price"] or state["published_price"]}
    return known


@dataclass(frozen=True)
class _Upload:
    """What one batch sends: its file (Magento SKUs), and for PRI01 under ``price_discounts=magento``
    each SKU's price lines (price and Magento's discount)."""

    file: stock_domain.ImportFile
    price_lines: dict[str, PriceLines] | None = None
    #: filled by the upload under ``keep``: offer SKU -> the back-office prices it could not keep
    dropped: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _file(runtime: Runtime, session: Session, batch_id: int, api: str,
          values: dict[str, dict[str, str]]) -> tuple[_Upload, dict[str, dict[str, str]]]:
    """The batch's upload and the values it carries. SKUs the file holds back (an OF01 column with
    no value for them) leave the batch now, their values queued again."""
    file = stock_domain.import_file(api, values, _known_values(session, values) if api == "OF01" else None)
    if file.held_back:
        outbox.store(session).requeue_skus(batch_id, list(file.held_back))
        log.info("stock.held_back", api=api, batch_id=batch_id, skus=len(file.held_back))
        values = {sku: v for sku, v in values.items() if sku not in set(file.held_back)}
    lines = None
    if api == "PRI01" and runtime.settings.price_discounts is PriceDiscounts.MAGENTO:
        lines = prices.magento_lines(session, values)
    return _Upload(file, lines), values


def _submit(runtime: Runtime, api: str, upload: _Upload, offer_of: Mapping[str, str]) -> str:
    """Upload the file. PRI01 deletes every price of an offer it does not list, so its lines are
    the whole price set: Magento's price and discount, or ours around what the marketplace holds."""
    file = upload.file
    sku_column = "sku" if api == "OF01" else "offer-sku"
    rows = [{**row, sku_column: offer_of.get(row[sku_column], row[sku_column])} for row in file.rows]
    mirakl = runtime.mirakl
    if api == "STO01":
        return mirakl.submit_stock(rows)
    if api == "PRI01":
        if upload.price_lines is not None:
            rows = [{**line, "offer-sku": offer_of.get(sku, sku)}
                    for sku, lines in upload.price_lines.items() for line in lines.rows]
        else:
            rows = prices.keep_rows(mirakl, {row["offer-sku"]: row["price"] for row in rows}, dropped=upload.dropped)
        return mirakl.submit_prices(rows, file_columns(rows))
    return mirakl.submit_offers(rows, file.columns, mode="NORMAL")


def _report_dropped(session: Session, dropped: Mapping[str, tuple[str, ...]], offer_of: Mapping[str, str],
                    import_id: str) -> None:
    """Tell Ecommerce, per SKU, about a back-office discount our price import left out (it was not
    below the new price, which Mirakl would refuse): the offer no longer has it."""
    magento_of = {offer: magento for magento, offer in offer_of.items()}
    for offer_sku, reasons in sorted(dropped.items()):
        sku = magento_of.get(offer_sku, offer_sku)
        issue_service.record(session, IssueReport(
            type=PRICE_DISCOUNT_DROPPED, object_id=sku,
            message=f"The new price of {sku} left out what the John Lewis back office held for it: "
            + "; ".join(reasons) + ".",
            detail=f"PRI01 import {import_id}", context={"offer_sku": offer_sku, "import_id": import_id}))


def upload(runtime: Runtime, batch_id: int, owner: str | None = None) -> UploadResult:
    """Send the batch's file once. ``owner`` (the batch's workflow id, or the CLI's id) takes the
    batch from ``claimed`` to ``uploading`` with a conditional UPDATE, so two processes never send
    the same batch; a recovered workflow (same owner) continues. A batch that already has an
    import id is not resent.

    When the API is not due (``RateLimited``) the batch is released without an issue (state
    ``deferred``). On failure (after the client's own 429 handling) the batch is released — its values go back to
    pending — and an Ops issue is recorded; the next window retries.
    """
    owner = owner or outbox.batch_workflow_id(batch_id)
    with runtime.db.session() as session:
        repo = outbox.store(session)
        won = repo.start_upload(batch_id, owner)
        batch = repo.batch(batch_id)
        if batch is None:
            return UploadResult(state="missing")
        if not won and not (batch.state == "uploading" and batch.workflow_id == owner):
            return UploadResult(state=batch.state, api=batch.api, import_id=batch.import_id, owner=batch.workflow_id)
        api = batch.api
        values = outbox.batch_values(session, batch_id)
        if not values:
            outbox.complete(session, batch_id, import_status="EMPTY", ok=0, errors=0)
            return UploadResult(state="complete", api=api)
        offer_of = _offer_skus(session)
        prepared, values = _file(runtime, session, batch_id, api, values)
    started = utcnow()  # Mirakl counts call frequency from the call, not from its answer
    try:
        import_id = _submit(runtime, api, prepared, offer_of)
    except RateLimited as error:
        # Not due (our pace, or Mirakl's Retry-After beyond the client's wait): nothing was sent.
        # A deferral, not a failure: the values go back to pending for the next window, no issue
        # is raised, and the budget page shows the stock flow waiting for the API.
        with runtime.db.session() as session:
            outbox.mark_attempted(session, api)
            outbox.release(session, batch_id, f"deferred: {api} not due for {error.retry_after or 0:.0f} s")
        log.info("stock.upload_deferred", api=api, batch_id=batch_id, retry_after=error.retry_after)
        return UploadResult(state="deferred", api=api)
    except RemoteError as error:
        with runtime.db.session() as session:
            outbox.mark_attempted(session, api)
            requeued = outbox.release(session, batch_id, str(error))
            issue_service.record(session, IssueReport(
                type=STOCK_IMPORT_FAILED, object_id=_connection_id(api),
                message=f"The {api} upload of {len(values)} SKUs to the marketplace failed; the values are queued "
                "again for the next window.",
                detail=str(error)[:2000], context={"batch_id": batch_id, "requeued": requeued}))
        log.warning("stock.upload_failed", api=api, batch_id=batch_id, error=str(error)[:200])
        return UploadResult(state="failed", api=api)
    now = utcnow()
    with runtime.db.session() as session:
        outbox.mark_sent(session, batch_id, import_id, now, window_from=started)
        for kind, pushed, imp in ((Kind.STOCK, "stock_pushed_at", "stock_import_id"),
                                  (Kind.PRICE, "price_pushed_at", "price_import_id")):
            column = "quantity" if kind is Kind.STOCK else "price"
            skus = [s for s, v in values.items() if column in v]
            outbox.store(session).mark_pushed(skus, pushed_column=pushed, import_column=imp, at=now,
                                              import_id=import_id)
        _report_dropped(session, prepared.dropped, offer_of, import_id)
    log.info("stock.uploaded", api=api, batch_id=batch_id, import_id=import_id, skus=len(values))
    return UploadResult(state="sent", api=api, import_id=import_id)


def follow(runtime: Runtime, batch_id: int, owner: str | None = None) -> FollowResult:
    """Wait for the import to finish, read its error report, write per-SKU results. Idempotent;
    only the batch's owner follows it."""
    owner = owner or outbox.batch_workflow_id(batch_id)
    with runtime.db.session() as session:
        batch = outbox.store(session).batch(batch_id)
        if batch is None or batch.state != "sent" or not batch.import_id or batch.workflow_id != owner:
            return FollowResult(state=None if batch is None else batch.state)
        api, import_id = batch.api, batch.import_id
        skus = sorted(outbox.batch_values(session, batch_id))
        offer_of = _offer_skus(session)
    magento_of = {offer_of[sku]: sku for sku in skus if sku in offer_of}
    mirakl = runtime.mirakl
    # Status APIs are rate limited too (PRI02 once a minute, STO02 every 15 s): asking at once
    # almost always answers WAITING and costs a whole interval. Give the import a moment first.
    time.sleep(min(FIRST_STATUS_DELAY_SECONDS, import_interval(runtime.settings) / 4))
    try:
        status = mirakl.wait_for_import(api, import_id, timeout=runtime.settings.stock_import_timeout_seconds)
        result = mirakl.import_result(api, import_id, [offer_of.get(sku, sku) for sku in skus], status)
    except RemoteError as error:
        # Reading the status failed (after the client's retries): put the values back; resending the
        # same values is harmless, losing them is not.
        with runtime.db.session() as session:
            outbox.release(session, batch_id, f"could not follow import {import_id}: {error}")
            issue_service.record(session, IssueReport(
                type=STOCK_IMPORT_FAILED, object_id=_connection_id(api),
                message=f"marketbridge could not read the result of {api} import {import_id}; the values are "
                "queued again.", detail=str(error)[:2000], context={"batch_id": batch_id}))
        return FollowResult(state="failed")
    if result.status != "COMPLETE":
        with runtime.db.session() as session:
            outbox.release(session, batch_id, f"import {import_id} {result.status}: {result.reason or ''}")
            issue_service.record(session, IssueReport(
                type=STOCK_IMPORT_FAILED, object_id=_connection_id(api),
                message=f"The marketplace reports {api} import {import_id} as {result.status}; the values are "
                "queued again for the next window.",
                detail=result.reason or "", context={"batch_id": batch_id}))
        return FollowResult(state="failed", status=result.status)
    failed = {magento_of.get(sku, sku): message for sku, message in result.failed_skus().items()}
    return record_results(runtime, batch_id, api, import_id, result.status, failed)


FIRST_STATUS_DELAY_SECONDS = 3.0


def release_stale(runtime: Runtime, batch_id: int, reason: str) -> int:
    with runtime.db.session() as session:
        return outbox.release(session, batch_id, reason)


def push_now(runtime: Runtime, *, max_windows: int = 1000, wait_window: bool = True) -> list[PushOutcome]:
    """Refresh hints and push every pending value in-process, window after window, until the
    outbox is empty (the CLI's ``--wait``; tests). Respects the once-a-minute window."""
    import os
    import uuid

    owner = f"cli-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    outcomes: list[PushOutcome] = []
    for _ in range(max_windows):
        refresh(runtime)
        ids = claim_all(runtime)
        for batch_id in ids:
            sent = upload(runtime, batch_id, owner)
            followed = follow(runtime, batch_id, owner) if sent.state == "sent" else None
            if sent.owner not in (None, owner):
                continue  # the running service is pushing this batch
            outcomes.append(PushOutcome(batch_id, sent, followed))
        with runtime.db.session() as session:
            left = outbox.pending_count(session) + outbox.inflight_count(session) + outbox.hint_count(session)
        if not left:
            return outcomes
        if not ids:
            if not wait_window:
                return outcomes
            time.sleep(min(1.0, import_interval(runtime.settings) / 4 or 0.05))
    return outcomes
