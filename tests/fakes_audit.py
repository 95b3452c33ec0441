"""In-memory fakes for the audit's ports (``marketbridge.ports.AuditStore``), on the same lines as
tests/fakes.py: :class:`FakeAuditStore` keeps the runs (``AuditRun``), their drift rows
(``AuditDrift``), the publish overrides, the issue records (``IssueRecord``) and the OF01 imports of
the fixes (``CatalogueImport``) in dicts and lists, with :class:`~tests.fakes_refunds.FakeSkuLinks`,
a :class:`~tests.fakes.FakeOrderRecords` (units sold not yet in Adobe Commerce) and
:class:`FakeStockRecords` (the stock flow's rules and the re-reads asked of it). A unit of work
hands out the stored records themselves and counts itself in ``units``; it does not roll back.
:class:`FakeAuditMagento` and :class:`FakeAuditMirakl` answer the calls the audit makes (products,
source items, salable quantities; OF52/OF53/OF54, OF21, OF01 and its report).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from marketbridge.adapters.db.models.catalogue import AuditDrift, AuditRun, CatalogueImport
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.adapters.mirakl.client import ImportResult
from marketbridge.domain.stock import Rule
from tests.fakes import FakeOrderRecords
from tests.fakes_refunds import FakeSkuLinks

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


class FakeStockRecords:
    """``StockRecords``: the stored rules (``stored_rules``) and each forced re-read asked for."""

    def __init__(self) -> None:
        self.stored_rules: list[Rule] = []
        self.resends: list[tuple[list[str], list[str], str]] = []  # (stock SKUs, price SKUs, reason)

    def rules(self) -> list[Rule]:
        return list(self.stored_rules)

    def force_resend(self, stock_skus: Sequence[str], price_skus: Sequence[str], *, reason: str) -> None:
        self.resends.append((list(stock_skus), list(price_skus), reason))

    def note_hints(self, skus: Iterable[str], *, stock: bool = True, price: bool = False, force: bool = False,
                   exact: bool = False, reason: str = "") -> int:
        raise AssertionError("the audit asks for forced re-reads only (force_resend)")


def new_run(run_id: int, **values: Any) -> AuditRun:
    """A run with every column set, as the database would fill the defaults."""
    row = AuditRun(id=run_id, trigger="manual", status="running", offer_source="", fix=False, magento_count=0,
                   offer_count=0, drift_count=0, counts={}, fixed={}, error="", started_at=NOW, finished_at=None,
                   elapsed_seconds=0.0)
    for key, value in values.items():
        setattr(row, key, value)
    return row


def new_issue(type_: str, object_id: str, *, state: str = "open", **values: Any) -> IssueRecord:
    """An issue record as the database holds it (``id`` given by the store)."""
    row = IssueRecord(type=type_, object_type="offer", object_id=object_id, owner="ecommerce", severity="warning",
                      message="earlier", detail="", suggested_action="", state=state, context={}, count=1,
                      first_seen=NOW, last_seen=NOW, resolved_at=None, resolved_by=None)
    for key, value in values.items():
        setattr(row, key, value)
    return row


@dataclass
class FakeAuditStore:
    runs: dict[int, AuditRun] = field(default_factory=dict)
    drift_rows: list[AuditDrift] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)
    issue_rows: list[IssueRecord] = field(default_factory=list)
    imports: list[CatalogueImport] = field(default_factory=list)
    skus: FakeSkuLinks = field(default_factory=FakeSkuLinks)
    orders: FakeOrderRecords = field(default_factory=FakeOrderRecords)
    stock: FakeStockRecords = field(default_factory=FakeStockRecords)
    units: int = 0
    drift_inserts: int = 0  # bulk INSERTs of drift rows (one per finished run with drift)
    issue_reads: int = 0  # bulk reads of issue records

    def add_run(self, **values: Any) -> AuditRun:
        row = new_run(max(self.runs, default=0) + 1, **values)
        self.runs[row.id] = row
        return row

    def add_issue(self, type_: str, object_id: str, **values: Any) -> IssueRecord:
        row = new_issue(type_, object_id, id=len(self.issue_rows) + 1, **values)
        self.issue_rows.append(row)
        return row

    @contextmanager
    def unit_of_work(self) -> Iterator[FakeAuditRepository]:
        self.units += 1
        yield FakeAuditRepository(self)


class FakeAuditRepository:
    def __init__(self, store: FakeAuditStore) -> None:
        self.store = store

    @property
    def skus(self) -> FakeSkuLinks:
        return self.store.skus

    @property
    def orders(self) -> FakeOrderRecords:
        return self.store.orders

    @property
    def stock(self) -> FakeStockRecords:
        return self.store.stock

    def add_run(self, *, trigger: str, fix: bool) -> int:
        return self.store.add_run(trigger=trigger, fix=fix).id

    def run(self, run_id: int) -> AuditRun | None:
        return self.store.runs.get(run_id)

    def list_runs(self, limit: int) -> list[AuditRun]:
        return sorted(self.store.runs.values(), key=lambda r: r.id, reverse=True)[:limit]

    def drifts(self, run_id: int, *, kind: str | None = None, limit: int | None = None) -> list[AuditDrift]:
        rows = [d for d in self.store.drift_rows if d.run_id == run_id and (not kind or d.kind == kind)]
        return rows if limit is None else rows[:limit]

    def add_drifts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.store.drift_inserts += 1
        for row in rows:
            self.store.drift_rows.append(AuditDrift(id=len(self.store.drift_rows) + 1, **row))

    def last_run_started(self, offer_source: str) -> dt.datetime | None:
        return max((r.started_at for r in self.store.runs.values() if r.offer_source == offer_source), default=None)

    def publish_overrides(self) -> dict[str, str]:
        return dict(self.store.overrides)

    def add_import(self, *, api: str, import_id: str, skus: list[str], purpose: str) -> None:
        self.store.imports.append(CatalogueImport(api=api, import_id=import_id, skus=skus, purpose=purpose,
                                                  status="submitted", remote_status="", finished_at=None))

    def finish_import(self, api: str, import_id: str, *, status: str, remote_status: str,
                      finished_at: dt.datetime) -> None:
        for record in self.store.imports:
            if (record.api, record.import_id) == (api, import_id):
                record.status, record.remote_status, record.finished_at = status, remote_status, finished_at

    def issue_records(self, types: Collection[str], states: Sequence[str]) -> list[IssueRecord]:
        self.store.issue_reads += 1
        return [r for r in self.store.issue_rows if r.type in types and r.state in states]

    def add_issue_records(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            self.store.issue_rows.append(IssueRecord(id=len(self.store.issue_rows) + 1, resolved_at=None,
                                                     resolved_by=None, **row))


# --------------------------------------------------------------------------- Adobe Commerce
class FakeAuditMagento:
    """Products by SKU, MSI source items on the linked source ``main`` (or another), and each
    product's salable quantity as Magento's API computes it (``salable``); ``fail_with`` is raised
    by the first call of a run."""

    def __init__(self) -> None:
        self.products: dict[str, magento_models.Product] = {}
        self.source_items: list[magento_models.SourceItem] = []
        self.salable: dict[str, float] = {}
        self.salable_calls: list[str] = []
        self.fail_with: Exception | None = None


    def resolve_stock(self, sales_channel_type: str, sales_channel_code: str) -> magento_models.Stock:
        return magento_models.Stock(stock_id=1, name="Default Stock")
    def add(self, sku: str, *, qty: float, price: float = 10.0, source: str = "main", manage_stock: bool = True,
            enabled: bool = True, salable: float | None = None) -> None:
        self.products[sku] = magento_models.Product.model_validate({
            "sku": sku, "name": sku.title(), "type_id": "simple", "price": price, "status": 1 if enabled else 2,
            "extension_attributes": {"stock_item": {"manage_stock": manage_stock, "qty": qty}}})
        self.source_items.append(magento_models.SourceItem(sku=sku, source_code=source, quantity=qty, status=1))
        self.salable[sku] = qty if salable is None else salable

    def stock_source_links(self, stock_id: int | None = None) -> list[magento_models.StockSourceLink]:
        if self.fail_with is not None:
            raise self.fail_with
        return [magento_models.StockSourceLink(stock_id=stock_id or 1, source_code="main")]

    def iterate_source_items(self, *, criteria: Any = None, page_size: int = 300) -> Iterator[magento_models.SourceItem]:
        yield from self.source_items

    def iterate_products(self, updated_since: Any = None, *, page_size: int = 100,
                         **_: Any) -> Iterator[magento_models.Product]:
        yield from self.products.values()

    def get_product(self, sku: str) -> magento_models.Product:
        return self.products[sku]

    def salable_quantity(self, sku: str, stock_id: int) -> float:
        self.salable_calls.append(sku)
        return self.salable[sku]


# --------------------------------------------------------------------------- Mirakl
class FakeAuditMirakl:
    """The shop's offers: OF52 (one chunk of JSON rows; ``export_fails`` makes OF53 answer FAILED)
    and OF21 paging; OF01 (``submitted``), waited for, whose report says ``ok`` for every SKU."""

    def __init__(self) -> None:
        self.offers: dict[str, mirakl_models.Offer] = {}
        self.export_fails = False
        self.calls: list[str] = []
        self.submitted: list[list[dict[str, str]]] = []
        self.files: list[tuple[list[str], list[dict[str, str]]]] = []  # OF01 (columns, rows) as sent

    def add(self, sku: str, *, quantity: int, price: float = 10.0, active: bool = True,
            inactivity_reasons: Iterable[str] = ()) -> None:
        self.offers[sku] = mirakl_models.Offer(offer_id=len(self.offers) + 1, shop_sku=sku, quantity=quantity,
                                               price=price, active=active, inactivity_reasons=list(inactivity_reasons))

    def start_offer_export(self, request: mirakl_models.OfferExportRequest | None = None) -> str:
        self.calls.append("OF52")
        return "T1"

    def offer_export_status(self, tracking_id: str) -> mirakl_models.ExportStatus:
        self.calls.append("OF53")
        if self.export_fails:
            return mirakl_models.ExportStatus(status="FAILED", error=mirakl_models.ExportError(detail="export broken"))
        return mirakl_models.ExportStatus(status="COMPLETED", urls=["https://exports.example/1"])

    def download_export_chunk(self, url: str) -> bytes:
        self.calls.append("OF54")
        return json.dumps([{"shop_sku": o.shop_sku, "quantity": o.quantity, "price": str(o.price), "active": o.active,
                            "inactivity_reasons": list(o.inactivity_reasons)} for o in self.offers.values()]).encode()

    def list_offers(self, *, sku: str | None = None, page_size: int = 100,
                    on_total: Callable[[int], None] | None = None) -> Iterator[mirakl_models.Offer]:
        self.calls.append("OF21")
        if on_total is not None:
            on_total(len(self.offers))
        yield from self.offers.values()

    def submit_offers(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, mode: str = "NORMAL") -> str:
        self.calls.append("OF01")
        self.submitted.append([dict(r) for r in rows])
        self.files.append((list(columns), [{c: str(r.get(c, "")) for c in columns} for r in rows]))
        return f"IMP-{len(self.submitted)}"

    def wait_for_import(self, api: str, import_id: str, *, timeout: float = 1800.0) -> Any:
        return "COMPLETE"

    def import_result(self, api: str, import_id: str, skus: Sequence[str], status: Any) -> ImportResult:
        return ImportResult(api=api, import_id=import_id, status=str(status), results=dict.fromkeys(skus, "ok"))


class FakeEngine:
    """``runtime.engine``: running (inside the service) or not (the CLI)."""

    def __init__(self, running: bool = False) -> None:
        self.running = running

    def is_running(self) -> bool:
        return self.running

