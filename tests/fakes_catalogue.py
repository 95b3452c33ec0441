"""In-memory fakes for the catalogue flow's ports (``marketbridge.ports.CatalogueStore``), on the
same lines as tests/fakes.py and tests/fakes_refunds.py: :class:`FakeCatalogueStore` keeps listings
(``Listing``), the imports sent (``CatalogueImport``), the attribute and category mappings, the
publish rules and the discovery cursors in dicts, with a :class:`~tests.fakes.FakeIssueLog`, a
:class:`~tests.fakes_refunds.FakeSkuLinks` and a :class:`FakeStockRecords`. A unit of work hands out
the stored records themselves (the flow's changes are kept as a committed transaction would keep
them) and counts itself in ``units``; it does not roll back. :class:`FakeCatalogueMagento` and
:class:`FakeCatalogueMirakl` answer the calls the flow makes (products; P41/P42/OF01/OF02/OF21).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.catalogue import (
    AttributeMappingRow,
    CatalogueImport,
    CategoryMappingRow,
    Listing,
    PublishOverride,
)
from marketbridge.adapters.errors import NotFound, RateLimited
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.adapters.mirakl.client import ImportLineError
from marketbridge.domain.stock import Rule
from tests.fakes import FakeIssueLog, FakeRepository
from tests.fakes_refunds import FakeSkuLinks

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def new_listing(sku: str, *, status: str = "new", stage: str = "", **values: Any) -> Listing:
    """A listing with every column set, as the database would fill the defaults."""
    row = Listing(magento_sku=sku, offer_sku=sku, type_id="simple", variant_group=None, status=status, stage=stage,
                  problems=[], payload={}, product_import_id=None, offer_import_id=None, requested_at=None,
                  updated_at=NOW)
    for key, value in values.items():
        setattr(row, key, value)
    return row


class FakeStockRecords:
    """``StockRecords``: the stock flow's rules (``rules_``) and the hints noted (``hints``; the
    catalogue's and the orders flow's)."""

    def __init__(self) -> None:
        self.rules_: list[Rule] = []
        self.hints: list[dict[str, Any]] = []

    def rules(self) -> list[Rule]:
        return list(self.rules_)

    def note_hints(self, skus: Iterable[str], *, stock: bool = True, price: bool = False, force: bool = False,
                   exact: bool = False, reason: str = "") -> int:
        noted = list(skus)
        self.hints.append({"skus": noted, "stock": stock, "price": price, "force": force, "reason": reason,
                           **({"exact": True} if exact else {})})  # the orders flow asks for exact re-reads
        return len(noted)

    def force_resend(self, stock_skus: Sequence[str], price_skus: Sequence[str], *, reason: str) -> None:
        raise AssertionError("the catalogue notes hints (note_hints); forced re-reads are the audit's")


@dataclass
class FakeCatalogueStore:
    listings_: dict[str, Listing] = field(default_factory=dict)
    imports: dict[int, CatalogueImport] = field(default_factory=dict)
    attribute_rows: dict[str, AttributeMappingRow] = field(default_factory=dict)
    category_rows: dict[str, CategoryMappingRow] = field(default_factory=dict)
    overrides: dict[str, PublishOverride] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    issues: FakeIssueLog = field(default_factory=FakeIssueLog)
    skus: FakeSkuLinks = field(default_factory=FakeSkuLinks)
    stock: FakeStockRecords = field(default_factory=FakeStockRecords)
    units: int = 0
    flushes: int = 0

    def add(self, sku: str, **values: Any) -> Listing:
        row = new_listing(sku, **values)
        self.listings_[sku] = row
        return row

    def add_sent_import(self, api: str, import_id: str, skus: list[str], *, submitted_at: dt.datetime | None = None,
                        purpose: str = "publish") -> CatalogueImport:
        row_id = len(self.imports) + 1
        row = CatalogueImport(id=row_id, api=api, import_id=import_id, skus=list(skus), purpose=purpose,
                              status="submitted", remote_status="", detail="",
                              submitted_at=submitted_at or utcnow(), finished_at=None)
        self.imports[row_id] = row
        return row

    @contextmanager
    def unit_of_work(self) -> Iterator[FakeCatalogueRepository]:
        self.units += 1
        yield FakeCatalogueRepository(self)


class FakeCatalogueRepository(FakeRepository):
    """``CatalogueRepository`` over a :class:`FakeCatalogueStore`."""

    store: FakeCatalogueStore

    @property
    def skus(self) -> FakeSkuLinks:
        return self.store.skus

    @property
    def stock(self) -> FakeStockRecords:
        return self.store.stock

    # ------------------------------------------------------------------ listings
    def listing(self, magento_sku: str) -> Listing | None:
        return self.store.listings_.get(magento_sku)

    def add_listing(self, magento_sku: str, *, status: str) -> Listing:
        return self.store.add(magento_sku, status=status, updated_at=utcnow())

    def listing_statuses(self) -> dict[str, str]:
        return {sku: row.status for sku, row in self.store.listings_.items()}

    def listings_at_stage(self, stage: str, *, status: str | None = None) -> Sequence[Listing]:
        return [row for _, row in sorted(self.store.listings_.items())
                if row.stage == stage and (status is None or row.status == status)]

    def listings(self, *, skus: Sequence[str] | None, status: str | None, limit: int) -> Sequence[Listing]:
        return [row for sku, row in sorted(self.store.listings_.items())
                if (skus is None or sku in skus) and (status is None or row.status == status)][:limit]

    def search_listings(self, *, status: str | None, q: str | None, limit: int) -> Sequence[Listing]:
        rows = sorted(self.store.listings_.values(), key=lambda r: r.updated_at or NOW, reverse=True)
        text = (q or "").strip()
        return [r for r in rows if (not status or r.status == status)
                and (not q or text in r.magento_sku or text in r.offer_sku)][:limit]

    def listing_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.store.listings_.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    # ------------------------------------------------------------------ imports
    def submitted_imports(self, purpose: str) -> Sequence[CatalogueImport]:
        return [row for _, row in sorted(self.store.imports.items())
                if row.status == "submitted" and row.purpose == purpose]

    def catalogue_import(self, row_id: int) -> CatalogueImport | None:
        return self.store.imports.get(row_id)

    def last_submitted_at(self, api: str) -> dt.datetime | None:
        return max((row.submitted_at for row in self.store.imports.values() if row.api == api), default=None)

    def add_import(self, api: str, import_id: str, skus: list[str], *, purpose: str) -> None:
        self.store.add_sent_import(api, import_id, skus, purpose=purpose)

    def import_counts_since(self, since: dt.datetime) -> list[tuple[str, str, int]]:
        counts: dict[tuple[str, str], int] = {}
        for row in self.store.imports.values():
            if row.submitted_at >= since:
                counts[(row.api, row.status)] = counts.get((row.api, row.status), 0) + 1
        return [(api, status, n) for (api, status), n in counts.items()]

    # ------------------------------------------------------------------ mappings and publish rules
    def attribute_mapping_rows(self) -> Sequence[AttributeMappingRow]:
        return list(self.store.attribute_rows.values())

    def attribute_mapping(self, attribute: str) -> AttributeMappingRow | None:
        return self.store.attribute_rows.get(attribute)

    def add_attribute_mapping(self, attribute: str, *, source: str, value_map: dict[str, Any],
                              updated_by: str) -> AttributeMappingRow:
        row = AttributeMappingRow(attribute=attribute, source=source, value_map=value_map, updated_by=updated_by)
        self.store.attribute_rows[attribute] = row
        return row

    def remove_attribute_mapping(self, attribute: str) -> bool:
        return self.store.attribute_rows.pop(attribute, None) is not None

    def category_mappings(self) -> dict[str, str]:
        return {k: row.marketplace_category for k, row in self.store.category_rows.items()}

    def category_mapping(self, magento_category: str) -> CategoryMappingRow | None:
        return self.store.category_rows.get(magento_category)

    def add_category_mapping(self, magento_category: str, *, marketplace_category: str,
                             updated_by: str) -> CategoryMappingRow:
        row = CategoryMappingRow(magento_category=magento_category, marketplace_category=marketplace_category,
                                 updated_by=updated_by)
        self.store.category_rows[magento_category] = row
        return row

    def remove_category_mapping(self, magento_category: str) -> bool:
        return self.store.category_rows.pop(magento_category, None) is not None

    def override_actions(self) -> dict[str, str]:
        return {sku: row.action for sku, row in self.store.overrides.items()}

    def publish_overrides(self) -> Sequence[PublishOverride]:
        return [row for _, row in sorted(self.store.overrides.items())]

    def publish_override(self, magento_sku: str) -> PublishOverride | None:
        return self.store.overrides.get(magento_sku)

    def add_publish_override(self, magento_sku: str, *, action: str, note: str, created_by: str) -> None:
        self.store.overrides[magento_sku] = PublishOverride(magento_sku=magento_sku, action=action, note=note,
                                                            created_by=created_by)

    def remove_publish_override(self, magento_sku: str) -> bool:
        return self.store.overrides.pop(magento_sku, None) is not None

    # ------------------------------------------------------------------ cursors
    def cursor(self, name: str) -> str | None:
        return self.store.cursors.get(name)

    def move_cursor(self, name: str, value: str) -> None:
        self.store.cursors[name] = value

    def add_cursor(self, name: str, value: str) -> None:
        assert name not in self.store.cursors, f"the cursor {name} exists (a constraint error in the database)"
        self.store.cursors[name] = value

    def flush(self) -> None:
        self.store.flushes += 1


# --------------------------------------------------------------------------- Adobe Commerce
class FakeCatalogueMagento:
    """Products by SKU (``add``), the salable quantity of each, and Magento's clock."""

    def __init__(self) -> None:
        self.products: dict[str, magento_models.Product] = {}
        self.children: dict[str, list[str]] = {}
        self.salable: dict[str, float] = {}
        self.clock: dt.datetime | None = dt.datetime(2026, 12, 1, 9, 0, 0)
        self.searches: list[str | None] = []  # updated_since of each iterate_products call


    def resolve_stock(self, sales_channel_type: str, sales_channel_code: str) -> magento_models.Stock:
        return magento_models.Stock(stock_id=1, name="Default Stock")
    def add(self, sku: str, *, type_id: str = "simple", price: float | None = 25.0, status: int = 1,
            category: str = "Garden", created_at: str = "2026-12-01 10:00:00", updated_at: str | None = None,
            attributes: Mapping[str, Any] | None = None) -> magento_models.Product:
        custom = {"mb_category_code": category, **(attributes or {})}
        product = magento_models.Product.model_validate({
            "sku": sku, "name": f"Product {sku}", "type_id": type_id, "price": price, "status": status,
            "created_at": created_at, "updated_at": updated_at or created_at,
            "custom_attributes": [{"attribute_code": k, "value": v} for k, v in custom.items()]})
        self.products[sku] = product
        self.salable.setdefault(sku, 7.0)
        return product

    def get_product(self, sku: str) -> magento_models.Product:
        if sku not in self.products:
            raise NotFound(f"no product {sku}")
        return self.products[sku]

    def configurable_children(self, sku: str) -> list[magento_models.Product]:
        return [self.products[child] for child in self.children.get(sku, [])]

    def salable_quantity(self, sku: str, stock_id: int) -> float:
        return self.salable[sku]

    def search_products(self, criteria: Any) -> Any:
        return None

    def last_answer_time(self) -> dt.datetime | None:
        return self.clock

    def iterate_products(self, *, updated_since: str | None = None) -> Iterator[magento_models.Product]:
        self.searches.append(updated_since)
        for product in self.products.values():
            if updated_since is None or (product.updated_at or "") > updated_since:
                yield product


# --------------------------------------------------------------------------- Mirakl
class FakeCatalogueMirakl:
    """P41 and OF01 (recorded in ``submitted``, refused with ``refuse[api]``), P42/OF02 statuses set
    by the test (``statuses[import_id]``), error reports, and the offers OF21 shows."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, list[dict[str, Any]]]] = []
        self.refuse: dict[str, Exception] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, list[ImportLineError]] = {}
        self.offers: dict[str, mirakl_models.Offer] = {}
        self.transformation_rows: dict[str, list[dict[str, str]]] = {}  # P47 rows per import
        self.integrated: dict[str, list[str]] = {}  # P45: shop SKUs per import
        self.p47_reads: list[str] = []

    def _submit(self, api: str, rows: Iterable[Mapping[str, Any]]) -> str:
        if api in self.refuse:
            raise self.refuse[api]
        self.submitted.append((api, [dict(r) for r in rows]))
        return str(1000 + len(self.submitted))

    def submit_products(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
        return self._submit("P41", rows)

    def submit_offers(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, mode: str = "NORMAL") -> str:
        return self._submit("OF01", rows)

    def product_import_status(self, import_id: str) -> mirakl_models.ProductImportStatus:
        return mirakl_models.ProductImportStatus.model_validate(
            {"import_id": import_id, "import_status": "RUNNING", **self.statuses.get(import_id, {})})

    def offer_import_status(self, import_id: str) -> mirakl_models.OfferImportStatus:
        return mirakl_models.OfferImportStatus.model_validate(
            {"import_id": import_id, "status": "RUNNING", **self.statuses.get(import_id, {})})

    def product_error_report(self, import_id: str) -> list[ImportLineError]:
        return self.errors.get(import_id, [])

    def offer_error_report(self, import_id: str) -> list[ImportLineError]:
        return self.errors.get(import_id, [])

    def new_product_report(self, import_id: str) -> list[dict[str, str]]:
        return [{"shop_sku": sku, "messages": ""} for sku in self.integrated.get(import_id, [])]

    def transformation_error_report(self, import_id: str) -> list[dict[str, str]]:
        self.p47_reads.append(import_id)
        return self.transformation_rows.get(import_id, [])

    def list_offers(self, *, sku: str | None = None, page_size: int = 100,
                    on_total: Callable[[int], None] | None = None) -> Iterator[mirakl_models.Offer]:
        listed = [offer for offer in self.offers.values() if sku is None or offer.shop_sku == sku]
        if on_total is not None:
            on_total(len(listed))
        yield from listed

    def add_offer(self, shop_sku: str, *, active: bool = True, reasons: Sequence[str] = ()) -> None:
        self.offers[shop_sku] = mirakl_models.Offer.model_validate(
            {"offer_id": len(self.offers) + 1, "shop_sku": shop_sku, "quantity": 1, "active": active,
             "inactivity_reasons": list(reasons)})


def rate_limited() -> RateLimited:
    return RateLimited("429 Too Many Requests", retry_after=60.0)
