"""Publishing Adobe Commerce products to the marketplace, and their listing status.

One *pass* (:func:`publish_pass`) is non-blocking and idempotent, so the scheduled workflow, the
CLI and the API all call the same thing:

1. **follow** the imports we sent (P42 then P44/P47 for products; OF02 then OF03 for offers) and
   move each product's listing on (rejected with the marketplace's reasons, or on to its offer;
   an accepted offer becomes ``live`` when OF21 shows it active, else ``inactive`` with reasons);
2. **send products** waiting for a P41 import, at most once per P41 call frequency (15 min);
3. **send offers** of accepted products in one OF01 file (NORMAL mode), at most once a minute.

:func:`prepare` reads products from Adobe Commerce, applies the exclusion rules, maps attributes
and categories, pre-validates against PM11/H11/VL11 and records every problem in plain English on
the listing (and as a ``catalogue_product_invalid`` exception for ecommerce).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.catalogue import (
    AttributeMappingRow,
    CatalogueImport,
    CategoryMappingRow,
    Listing,
    PublishOverride,
)
from marketbridge.adapters.errors import NotFound, RateLimited, RemoteError
from marketbridge.adapters.magento.criteria import SearchCriteria
from marketbridge.adapters.mirakl.endpoints import ENDPOINTS
from marketbridge.adapters.mirakl.models import OfferImportStatus, ProductImportStatus
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain import stock as stock_domain
from marketbridge.domain.catalogue import (
    CATEGORY_SOURCE,
    PRODUCT_INVALID,
    PRODUCT_REJECTED,
    AttributeMapping,
    CatalogueProduct,
    ListingStatus,
    MarketReference,
)
from marketbridge.domain.exceptions import ExceptionReport
from marketbridge.domain.money import to_money_or_none
from marketbridge.runtime import Runtime
from marketbridge.services import exceptions as exception_service
from marketbridge.services import skus as sku_service
from marketbridge.services.stock import outbox as stock_outbox

log = structlog.get_logger(__name__)

OFFER_COLUMNS = ["sku", "product-id", "product-id-type", "price", "quantity", "state"]
OFFER_STATE_NEW = "11"
REFERENCE_TTL_SECONDS = 3600.0  # H11/PM11/VL11 may be called once an hour
CURSOR_NAME = "catalogue.products"
BASELINE_NAME = "catalogue.baseline"


# ----------------------------------------------------------------------------- mappings
def attribute_mappings(session: Session) -> list[AttributeMapping]:
    """The defaults, overridden attribute by attribute by the editable table (empty source = unmapped)."""
    effective = {m.attribute: m for m in catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS}
    for row in session.scalars(select(AttributeMappingRow)):
        if row.source:
            effective[row.attribute] = AttributeMapping(row.attribute, row.source, dict(row.value_map or {}))
        else:
            effective.pop(row.attribute, None)
    return list(effective.values())


def category_mappings(session: Session) -> dict[str, str]:
    return dict(session.execute(select(CategoryMappingRow.magento_category, CategoryMappingRow.marketplace_category)).tuples().all())


def set_attribute_mapping(session: Session, attribute: str, source: str, value_map: dict[str, str] | None, *,
                          actor: str) -> AttributeMappingRow:
    attribute, source = attribute.strip(), source.strip()
    if not attribute:
        raise ValueError("the marketplace attribute code is required")
    row = session.get(AttributeMappingRow, attribute)
    if row is None:
        row = AttributeMappingRow(attribute=attribute, source=source, value_map=dict(value_map or {}), updated_by=actor)
        session.add(row)
    else:
        row.source = source
        if value_map is not None:
            row.value_map = dict(value_map)
        row.updated_by = actor
    exception_service.audit(session, actor, "catalogue.attribute_mapping", "attribute", attribute, source=source)
    session.flush()
    return row


def set_value_mapping(session: Session, attribute: str, magento_value: str, marketplace_value: str, *,
                      actor: str) -> AttributeMappingRow:
    row = session.get(AttributeMappingRow, attribute)
    if row is None:
        default = next((m for m in catalogue_domain.DEFAULT_ATTRIBUTE_MAPPINGS if m.attribute == attribute), None)
        if default is None:
            raise ValueError(f"no mapping for the attribute {attribute!r}; map it first")
        row = AttributeMappingRow(attribute=attribute, source=default.source, value_map={}, updated_by=actor)
        session.add(row)
    row.value_map = {**(row.value_map or {}), magento_value: marketplace_value}
    row.updated_by = actor
    exception_service.audit(session, actor, "catalogue.value_mapping", "attribute", attribute,
                            magento_value=magento_value, marketplace_value=marketplace_value)
    session.flush()
    return row


def set_category_mapping(session: Session, magento_category: str, marketplace_category: str, *,
                         actor: str) -> CategoryMappingRow:
    if not magento_category.strip() or not marketplace_category.strip():
        raise ValueError("both the Adobe Commerce category and the marketplace category are required")
    row = session.get(CategoryMappingRow, magento_category.strip())
    if row is None:
        row = CategoryMappingRow(magento_category=magento_category.strip(),
                                 marketplace_category=marketplace_category.strip(), updated_by=actor)
        session.add(row)
    else:
        row.marketplace_category, row.updated_by = marketplace_category.strip(), actor
    exception_service.audit(session, actor, "catalogue.category_mapping", "category", magento_category,
                            marketplace_category=marketplace_category)
    session.flush()
    return row


def delete_mapping(session: Session, kind: str, key: str, *, actor: str) -> bool:
    model = AttributeMappingRow if kind == "attribute" else CategoryMappingRow
    row = session.get(model, key)
    if row is None:
        return False
    session.delete(row)
    exception_service.audit(session, actor, f"catalogue.{kind}_mapping_deleted", kind, key)
    return True


def set_override(session: Session, magento_sku: str, action: str | None, *, actor: str, note: str = "") -> None:
    """Add (``publish_as_simple``) or remove (``None``) an explicit rule for an excluded product."""
    row = session.get(PublishOverride, magento_sku)
    if action is None:
        if row is not None:
            session.delete(row)
    else:
        catalogue_domain.OverrideAction(action)  # validates
        if row is None:
            session.add(PublishOverride(magento_sku=magento_sku, action=action, note=note, created_by=actor))
        else:
            row.action, row.note, row.created_by = action, note, actor
    exception_service.audit(session, actor, "catalogue.override", "product", magento_sku, rule=action)
    # Whether the SKU has an offer to keep up to date just changed: let the stock flow re-decide.
    stock_outbox.note_hints(session, [magento_sku], price=True, force=True, reason="catalogue rule changed")
    session.flush()


def mappings_to_dict(session: Session) -> dict[str, Any]:
    return {
        "attributes": [{"attribute": m.attribute, "source": m.source, "value_map": dict(m.value_map)}
                       for m in attribute_mappings(session)],
        "categories": [{"magento_category": k, "marketplace_category": v} for k, v in sorted(category_mappings(session).items())],
        "overrides": [{"magento_sku": o.magento_sku, "action": o.action, "note": o.note}
                      for o in session.scalars(select(PublishOverride).order_by(PublishOverride.magento_sku))],
    }


# ----------------------------------------------------------------------------- reference data
def market_reference(runtime: Runtime, *, refresh: bool = False) -> MarketReference:
    """PM11 + H11 + VL11, cached for an hour in this process (their call frequency is hourly)."""
    cached = runtime.extras.get("catalogue.reference")
    if cached and not refresh and time.monotonic() - cached[0] < REFERENCE_TTL_SECONDS:
        return cached[1]  # type: ignore[no-any-return]
    client = runtime.mirakl
    reference = catalogue_domain.reference_from_api(
        [a.model_dump() for a in client.attributes()],
        [h.model_dump() for h in client.hierarchies()],
        [v.model_dump() for v in client.value_lists()],
    )
    runtime.extras["catalogue.reference"] = (time.monotonic(), reference)
    return reference


# ----------------------------------------------------------------------------- Magento side
def catalogue_product(product: Any, parent_sku: str | None = None) -> CatalogueProduct:
    """Our view of a Magento ``catalog-data-product-interface`` (the client's ``Product`` model)."""
    attributes: dict[str, Any] = {item.attribute_code: item.value for item in product.custom_attributes}
    if product.weight is not None:
        attributes.setdefault("weight", product.weight)
    media = getattr(product, "media_gallery_entries", None)
    if not attributes.get("image") and media:
        first = media[0]
        attributes["image"] = first.get("file") if isinstance(first, dict) else getattr(first, "file", None)
    children: tuple[str, ...] = ()
    return CatalogueProduct(
        sku=product.sku, name=product.name or "", type_id=product.type_id or "simple", enabled=product.enabled,
        price=to_money_or_none(product.price), attributes=attributes, has_required_options=product.has_required_options
        or str(attributes.get("required_options") or "0") == "1",
        parent_sku=parent_sku, children=children,
    )


def _stock_rules(session: Session) -> list[Any]:
    """The stock flow's rules table (one definition of the rules everywhere)."""
    from marketbridge.services.stock.rules import load_rules

    return list(load_rules(session))


def unmanaged_default(runtime: Runtime) -> int:
    return int(getattr(runtime.settings, "stock_unmanaged_default_quantity", 100))


def product_facts(product: CatalogueProduct, manage_stock: bool = True) -> stock_domain.ProductFacts:
    return stock_domain.ProductFacts(
        sku=product.sku, enabled=product.enabled, type_id=product.type_id, manage_stock=manage_stock,
        attributes={k: str(v) for k, v in product.attributes.items() if isinstance(v, str | int | float)},
        category_ids=tuple(str(c) for c in product.attributes.get("category_ids") or []),
    )


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def price_facts(product: CatalogueProduct) -> stock_domain.PriceFacts:
    special = product.attributes.get("special_price")
    try:
        special_dec = Decimal(str(special)) if special not in (None, "") else None
    except ArithmeticError:
        special_dec = None
    return stock_domain.PriceFacts(
        price=to_money_or_none(product.price), special_price=special_dec,
        special_from=_date(product.attributes.get("special_from_date")),
        special_to=_date(product.attributes.get("special_to_date")),
    )


def channel_values(product: CatalogueProduct, salable: float | None, stock_rule_rows: Sequence[Any], *,
                   manage_stock: bool = True, today: dt.date | None = None,
                   unmanaged_quantity: int = 100) -> tuple[int, Decimal | None]:
    """Quantity and price the marketplace should show, through the stock flow's catalogue_domain."""
    facts = product_facts(product, manage_stock)
    qty, _ = stock_domain.publishable_quantity(salable, facts, stock_rule_rows, unmanaged_default=unmanaged_quantity)
    price, _ = stock_domain.channel_price(price_facts(product), facts, stock_rule_rows, today or dt.date.today())
    return qty, price


# ----------------------------------------------------------------------------- prepare
@dataclass
class PrepareResult:
    ready: list[str] = field(default_factory=list)
    invalid: dict[str, list[str]] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)


def _listing(session: Session, sku: str) -> Listing:
    row = session.get(Listing, sku)
    if row is None:
        row = Listing(magento_sku=sku, offer_sku=sku, status=ListingStatus.NEW.value, stage="", problems=[], payload={})
        session.add(row)
    return row


def _expand(runtime: Runtime, skus: Iterable[str]) -> tuple[list[tuple[Any, str | None]], list[str]]:
    """Fetch each SKU from Magento; a configurable parent brings its children (variant group = parent)."""
    out: dict[str, tuple[Any, str | None]] = {}
    missing: list[str] = []
    for sku in dict.fromkeys(skus):
        if sku in out:
            continue
        try:
            product = runtime.magento.get_product(sku)
        except NotFound:
            missing.append(sku)
            continue
        out[sku] = (product, None)
        if product.type_id == "configurable":
            for child in runtime.magento.configurable_children(sku):
                out[child.sku] = (runtime.magento.get_product(child.sku), product.sku)
    return list(out.values()), missing


def prepare(runtime: Runtime, skus: Sequence[str]) -> PrepareResult:
    """Validate ``skus`` (and a configurable's children) and queue the valid ones for sending."""
    result = PrepareResult()
    fetched, result.not_found = _expand(runtime, skus)
    reference = market_reference(runtime) if fetched else None
    with runtime.db.session() as session:
        mappings = attribute_mappings(session)
        categories = category_mappings(session)
        overrides = dict(session.execute(select(PublishOverride.magento_sku, PublishOverride.action)).tuples().all())
        stock_rule_rows = _stock_rules(session)
        for raw, parent in fetched:
            product = catalogue_product(raw, parent)
            listing = _listing(session, product.sku)
            listing.type_id = product.type_id
            listing.requested_at = utcnow()
            if parent is None and listing.variant_group and product.type_id == "simple":
                parent = listing.variant_group
            listing.variant_group = parent
            reason = catalogue_domain.exclusion_reason(product, overrides.get(product.sku))
            if reason is not None:
                listing.status, listing.stage, listing.problems = ListingStatus.EXCLUDED.value, "", [reason]
                result.excluded[product.sku] = reason
                exception_service.clear(session, PRODUCT_INVALID, product.sku)
                continue
            assert reference is not None
            category = catalogue_domain.map_category(product, categories, reference)
            row = catalogue_domain.normalise_list_values(catalogue_domain.map_product(product, mappings, category, parent), reference)
            manage_stock = True
            stock_item = raw.extension_attributes.stock_item
            if stock_item is not None and getattr(stock_item, "manage_stock", None) is not None:
                manage_stock = bool(stock_item.manage_stock)
            salable = _salable(runtime, product.sku) if product.enabled and manage_stock else None
            qty, price = channel_values(product, salable, stock_rule_rows, manage_stock=manage_stock,
                                        unmanaged_quantity=unmanaged_default(runtime))
            problems = catalogue_domain.validate(row, reference, sku=product.sku,
                                      raw_category=str(product.attributes.get(CATEGORY_SOURCE) or ""), price=price)
            if not product.enabled:
                problems.insert(0, "It is disabled in Adobe Commerce; enable it to sell it on the marketplace.")
            if problems:
                listing.status, listing.stage, listing.problems = ListingStatus.INVALID.value, "", problems
                result.invalid[product.sku] = problems
                exception_service.record(session, ExceptionReport(
                    type=PRODUCT_INVALID, object_id=product.sku,
                    message=f"{product.sku} cannot be published: " + " ".join(problems),
                    context={"problems": problems},
                ))
                continue
            exception_service.clear(session, PRODUCT_INVALID, product.sku)
            offer_sku = sku_service.offer_sku_for(session, product.sku)
            listing.offer_sku = offer_sku
            listing.payload = {
                "product": row,
                "offer": {"sku": offer_sku, "product-id": product.sku, "product-id-type": "SHOP_SKU",
                          "price": f"{price:.2f}" if price is not None else "", "quantity": str(qty),
                          "state": OFFER_STATE_NEW},
            }
            listing.status, listing.stage, listing.problems = ListingStatus.NEW.value, "", []
            result.ready.append(product.sku)
    return result


def _salable(runtime: Runtime, sku: str) -> float | None:
    try:
        return runtime.magento.salable_quantity(sku, runtime.settings.magento_stock_id)
    except RemoteError as error:
        log.warning("catalogue.salable_unreadable", sku=sku, error=str(error))
        return None


# ----------------------------------------------------------------------------- sending
def _interval(runtime: Runtime, api: str) -> float:
    return (ENDPOINTS[api].min_interval or 0.0) * runtime.settings.mirakl_rate_limit_scale


def _may_send(session: Session, runtime: Runtime, api: str) -> bool:
    """Our own record of the last import of this kind: never faster than its call frequency."""
    last = session.scalar(select(CatalogueImport.submitted_at).where(CatalogueImport.api == api)
                          .order_by(CatalogueImport.submitted_at.desc()).limit(1))
    return last is None or (utcnow() - last).total_seconds() >= _interval(runtime, api)


def send_products(runtime: Runtime) -> str | None:
    """One P41 import with every product waiting to be sent; returns the import id (or None)."""
    with runtime.db.session() as session:
        waiting = session.scalars(select(Listing).where(Listing.status == ListingStatus.NEW.value, Listing.stage == "")
                                  .order_by(Listing.magento_sku)).all()
        waiting = [w for w in waiting if w.payload.get("product")]
        if not waiting or not _may_send(session, runtime, "P41"):
            return None
        rows = [w.payload["product"] for w in waiting]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        try:
            import_id = runtime.mirakl.submit_products(rows, columns)
        except RateLimited as error:
            log.info("catalogue.p41_deferred", retry_after=error.retry_after)
            return None
        skus = [w.magento_sku for w in waiting]
        session.add(CatalogueImport(api="P41", import_id=str(import_id), skus=skus, purpose="publish"))
        for w in waiting:
            w.status, w.stage, w.product_import_id = ListingStatus.PENDING.value, "product_sent", str(import_id)
        log.info("catalogue.p41_sent", import_id=import_id, products=len(skus))
        return str(import_id)


def send_offers(runtime: Runtime) -> str | None:
    """One OF01 import (NORMAL mode) with the offers of every accepted product."""
    with runtime.db.session() as session:
        waiting = session.scalars(select(Listing).where(Listing.stage == "product_ok").order_by(Listing.magento_sku)).all()
        if not waiting or not _may_send(session, runtime, "OF01"):
            return None
        rows = [w.payload["offer"] for w in waiting]
        try:
            import_id = runtime.mirakl.submit_offers(rows, OFFER_COLUMNS, mode="NORMAL")
        except RateLimited as error:
            log.info("catalogue.of01_deferred", retry_after=error.retry_after)
            return None
        session.add(CatalogueImport(api="OF01", import_id=str(import_id), skus=[w.magento_sku for w in waiting],
                                    purpose="publish"))
        for w in waiting:
            w.stage, w.offer_import_id = "offer_sent", str(import_id)
        return str(import_id)


# ----------------------------------------------------------------------------- following reports
def _reject(session: Session, listing: Listing, reasons: list[str], source: str) -> None:
    listing.status, listing.stage, listing.problems = ListingStatus.REJECTED.value, "", reasons
    exception_service.record(session, ExceptionReport(
        type=PRODUCT_REJECTED, object_id=listing.magento_sku,
        message=f"John Lewis rejected {listing.magento_sku} ({source}): " + " ".join(reasons),
        context={"reasons": reasons, "source": source},
    ))


def follow_imports(runtime: Runtime) -> int:
    """Look once at every import still in flight; returns how many finished."""
    finished = 0
    with runtime.db.session() as session:
        imports = session.scalars(select(CatalogueImport).where(CatalogueImport.status == "submitted",
                                                                CatalogueImport.purpose == "publish")
                                  .order_by(CatalogueImport.id)).all()
        pending = [(i.id, i.api, i.import_id) for i in imports]
    for row_id, api, import_id in pending:
        # One branch per API so that each status model is read by its own field name (P42 says
        # import_status, OF02 status); `status` keeps the model for the fields both share.
        status: ProductImportStatus | OfferImportStatus
        try:
            if api == "P41":
                status = product_status = runtime.mirakl.product_import_status(import_id)
                remote = product_status.import_status
            else:
                status = offer_status = runtime.mirakl.offer_import_status(import_id)
                remote = offer_status.status
        except RateLimited:
            continue
        if remote not in ("COMPLETE", "FAILED", "CANCELLED", "SENT", "TRANSFORMATION_FAILED"):
            with runtime.db.session() as session:
                session.get(CatalogueImport, row_id).remote_status = remote  # type: ignore[union-attr]
            continue
        errors: dict[str, str] = {}
        if status.has_error_report:
            report = (runtime.mirakl.product_error_report(import_id) if api == "P41"
                      else runtime.mirakl.offer_error_report(import_id))
            for line in report:
                errors[line.sku] = line.message
        if api == "P41" and getattr(status, "has_transformation_error_report", False):
            try:
                for row in runtime.mirakl._report("P47", import_id):  # noqa: SLF001
                    errors[row.get("shop_sku", "")] = row.get("error-message") or row.get("errors") or "transformation error"
            except (RemoteError, KeyError):
                pass
        failed = remote in ("FAILED", "CANCELLED", "TRANSFORMATION_FAILED")
        live_check: list[tuple[str, str]] = []
        with runtime.db.session() as session:
            record = session.get(CatalogueImport, row_id)
            assert record is not None
            record.status, record.remote_status, record.finished_at = ("failed" if failed else "done"), remote, utcnow()
            reason = getattr(status, "reason_status", None) or ""
            record.detail = reason
            for sku in record.skus:
                listing = session.get(Listing, sku)
                if listing is None:
                    continue
                key = listing.offer_sku if api == "OF01" else sku
                if failed:
                    _reject(session, listing, [f"The whole import failed: {reason or remote}."], api)
                elif key in errors:
                    _reject(session, listing, [errors[key]], "product import" if api == "P41" else "offer import")
                elif api == "P41":
                    listing.stage = "product_ok"
                else:
                    listing.stage = "offer_ok"
                    exception_service.clear(session, PRODUCT_REJECTED, sku)
                    live_check.append((sku, listing.offer_sku))
        refresh_live(runtime, [s for s, _ in live_check])
        finished += 1
    return finished


def refresh_live(runtime: Runtime, skus: Sequence[str]) -> dict[str, str]:
    """Ask OF21 whether each product's offer is active: ``live``, or ``inactive`` with Mirakl's reasons."""
    out: dict[str, str] = {}
    for sku in skus:
        with runtime.db.session() as session:
            listing = session.get(Listing, sku)
            offer_sku = listing.offer_sku if listing else sku
        offers = [o for o in runtime.mirakl.list_offers(sku=offer_sku) if o.shop_sku == offer_sku]
        with runtime.db.session() as session:
            listing = session.get(Listing, sku)
            if listing is None:
                continue
            if not offers:
                listing.status, listing.stage = ListingStatus.PENDING.value, "offer_ok"
                listing.problems = ["The offer is not visible on the marketplace yet."]
            elif offers[0].active:
                listing.status, listing.stage, listing.problems = ListingStatus.LIVE.value, "", []
            else:
                listing.status, listing.stage = ListingStatus.INACTIVE.value, ""
                listing.problems = [f"Inactive on the marketplace: {r}" for r in offers[0].inactivity_reasons] or [
                    "Inactive on the marketplace (no reason given)."]
            out[sku] = listing.status
    return out


# ----------------------------------------------------------------------------- passes
@dataclass
class PassResult:
    followed: int = 0
    products_import: str | None = None
    offers_import: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"followed": self.followed, "products_import": self.products_import, "offers_import": self.offers_import}


def publish_pass(runtime: Runtime) -> PassResult:
    """Follow imports in flight, then send what waits (each within its call frequency)."""
    result = PassResult()
    result.followed = follow_imports(runtime)
    result.products_import = send_products(runtime)
    result.offers_import = send_offers(runtime)
    if result.offers_import is None and result.followed:
        result.offers_import = send_offers(runtime)
    return result


def _overlap(value: str, seconds: int = 2) -> str:
    """Magento's ``updated_at`` has one-second resolution and the search is ``gt``: look a little back."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("T", " ")[:19])
    except ValueError:
        return value
    return (moment - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def discover_new_products(runtime: Runtime) -> list[str]:
    """SKUs created in Magento after marketbridge's first look that have no listing yet, plus products
    whose listing is ``invalid`` and that changed since (a fix to re-validate).

    The very first look only sets the baseline (the newest ``updated_at`` Magento shows): products that
    existed before are the audit's business ("missing on the marketplace", fixed with ``--fix``), not
    a surprise bulk publication. Scans look back a couple of seconds (Magento's timestamps have
    one-second resolution and the search is ``gt``); the listing table makes re-seeing harmless.
    """
    from marketbridge.adapters.db.models.core import StreamCursor

    with runtime.db.session() as session:
        cursor = session.get(StreamCursor, CURSOR_NAME)
        baseline_row = session.get(StreamCursor, BASELINE_NAME)
        since = cursor.value if cursor else None
        baseline = baseline_row.value if baseline_row else None
        known = dict(session.execute(select(Listing.magento_sku, Listing.status)).tuples().all())
    found: list[str] = []
    newest = since
    magento = runtime.magento
    asked_at: dt.datetime | None = None
    if since is None and baseline is None:
        # The first look only sets the baseline: Magento's clock, from one small answer (not a read
        # of the whole catalogue to find its newest timestamp).
        magento.search_products(SearchCriteria().page(1, 1))
        asked_at = magento.last_answer_time()
        products: Iterable[Any] = () if asked_at is not None else magento.iterate_products()
    else:
        products = magento.iterate_products(updated_since=_overlap(since) if since else None)
    for product in products:
        if asked_at is None:
            asked_at = magento.last_answer_time()  # the first page: Magento's clock when it answered
        if product.updated_at and (newest is None or product.updated_at > newest):
            newest = product.updated_at
        if baseline is None:
            continue
        status = known.get(product.sku)
        if status == ListingStatus.INVALID.value or (status is None and (product.created_at or "") > baseline):
            found.append(product.sku)
    if asked_at is None:
        asked_at = magento.last_answer_time()
    if asked_at is not None:
        # Everything updated before Magento answered the first page has been seen; a product saved
        # later carries that second or a later one (the next pass looks back a little more). Without
        # this the cursor stays at the newest product, and a catalogue saved in one second (an
        # import, a seeded store) is re-read on every pass: 50,000 products a minute.
        seen_until = asked_at.strftime("%Y-%m-%d %H:%M:%S")
        if newest is None or seen_until > newest:
            newest = seen_until
    value = newest or utcnow().strftime("%Y-%m-%d %H:%M:%S")
    with runtime.db.session() as session:
        cursor = session.get(StreamCursor, CURSOR_NAME)
        if cursor is None:
            session.add(StreamCursor(name=CURSOR_NAME, value=value))
        elif value > cursor.value:
            cursor.value = value
        if baseline is None:
            session.add(StreamCursor(name=BASELINE_NAME, value=value))
    return found


TERMINAL = {ListingStatus.LIVE.value, ListingStatus.REJECTED.value, ListingStatus.INVALID.value,
            ListingStatus.EXCLUDED.value, ListingStatus.INACTIVE.value}


def publish(runtime: Runtime, skus: Sequence[str], *, wait: bool = True, timeout: float = 1800.0,
            poll_seconds: float = 1.0, on_progress: Any = None) -> dict[str, dict[str, Any]]:
    """Publish ``skus`` now; with ``wait`` keep passing until each reaches a final status."""
    prepared = prepare(runtime, skus)
    watched = [*prepared.ready, *prepared.invalid, *prepared.excluded]
    deadline = time.monotonic() + timeout
    while True:
        publish_pass(runtime)
        states = statuses(runtime, watched)
        if on_progress:
            on_progress(states)
        if not wait or all(s["status"] in TERMINAL for s in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(poll_seconds)
    for sku in prepared.not_found:
        states[sku] = {"magento_sku": sku, "status": "not_found", "problems": ["No such SKU in Adobe Commerce."]}
    return states


def listing_dict(row: Listing) -> dict[str, Any]:
    return {"magento_sku": row.magento_sku, "offer_sku": row.offer_sku, "type_id": row.type_id,
            "variant_group": row.variant_group, "status": row.status, "stage": row.stage,
            "problems": list(row.problems or []), "product_import_id": row.product_import_id,
            "offer_import_id": row.offer_import_id,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None}


def statuses(runtime: Runtime, skus: Sequence[str] | None = None, *, status: str | None = None,
             limit: int = 1000) -> dict[str, dict[str, Any]]:
    with runtime.db.session() as session:
        query = select(Listing).order_by(Listing.magento_sku)
        if skus is not None:
            query = query.where(Listing.magento_sku.in_(list(skus)))
        if status is not None:
            query = query.where(Listing.status == status)
        return {row.magento_sku: listing_dict(row) for row in session.scalars(query.limit(limit))}


def run_scheduled_pass(runtime: Runtime) -> dict[str, Any]:
    """What the schedule does: find new products, validate them, and move everything on one step."""
    new = discover_new_products(runtime)
    prepared = prepare(runtime, new) if new else PrepareResult()
    result = publish_pass(runtime)
    return {"discovered": len(new), "ready": len(prepared.ready), "invalid": len(prepared.invalid),
            "excluded": len(prepared.excluded), **result.as_dict()}
