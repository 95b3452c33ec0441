"""Offers, products and the asynchronous imports that change them (OF01, OF24, STO01, PRI01, P41),
plus the asynchronous offer export (OF52/OF53/OF54).

Imports are processed lazily: a job is WAITING for the first half of ``import_delay_seconds``,
RUNNING for the second half and then applied in one go the first time anything looks at the
state after the delay. Good lines change offers; bad lines go to the error report with their file
line number (the header is line 1, as in Mirakl's OF03 example) and a message.

A product import (P41) has one more phase, as on Mirakl: after the transformation it is ``SENT``
("sent for integration") for ``product_integration_delay_seconds`` while the operator integrates
it, and only then ``COMPLETE``. Its products exist, and its P44/P45 reports appear, only at
``COMPLETE``; an OF01 line naming one of its products before then gets "The product does not exist".
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from marketbridge.adapters.mirakl.csvfiles import CsvFormatError, read_csv, write_csv
from marketbridge.sandbox.mirakl import pricing, reference
from marketbridge.sandbox.mirakl.core import (
    SandboxError,
    end_of_day,
    iso,
    money,
    parse_datetime,
    parse_decimal,
    parse_int,
)

if TYPE_CHECKING:
    from marketbridge.sandbox.mirakl.core import SandboxClock, SandboxSettings

MANUAL_REASONS = {
    "PRODUCT_DISABLED", "PRODUCT_STATUS_INVALID", "PRODUCT_STATUS_REJECTED", "SHOP_NOT_OPEN",
    "CATEGORY_UNAUTHORIZED_TO_SELL", "BRAND_UNAUTHORIZED_TO_SELL", "NOT_IN_AVAILABILITY_PERIOD",
    "PRODUCT_STATUS_UNAUTHORIZED_TO_SELL",
}


@dataclass
class Product:
    product_sku: str  # the operator's product id (Mirakl "product_sku")
    shop_sku: str  # the seller's product id from the P41 file
    title: str
    description: str
    brand: str
    ean: str
    category_code: str
    image: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


#: Bumped whenever an offer's place in the OF21 listing may change (its price, its id, its
#: deletion): the listing's sort is kept until then. Sorting every offer for every page cost the
#: simulator 33 ms a page at 50,000 offers, under the lock every other call waits for; Mirakl
#: serves a page from an index. Shared by every simulator in the process, which only sorts more.
_LISTING_GENERATION = [0]
_LISTING_FIELDS = frozenset({"price", "offer_id", "deleted"})


@dataclass
class Offer:
    offer_id: int
    shop_sku: str
    product: Product
    price: float
    quantity: int
    state_code: str = "11"
    description: str = ""
    leadtime_to_ship: int | None = None
    discount_price: float | None = None
    discount_start: str | None = None
    discount_end: str | None = None
    price_ranges: str = ""  # volume prices of the default price (PRI01 price-ranges / discount-ranges)
    discount_ranges: str = ""
    extra_prices: list[pricing.ExtraPrice] = field(default_factory=list)  # channel, period, customer prices
    logistic_class: str = "M"
    manual_reasons: list[str] = field(default_factory=list)
    warehouses: dict[str, int] = field(default_factory=dict)
    created: datetime | None = None
    updated: datetime | None = None
    deleted: bool = False

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _LISTING_FIELDS:
            _LISTING_GENERATION[0] += 1

    def inactivity_reasons(self) -> list[str]:
        reasons = list(self.manual_reasons)
        if self.quantity <= 0:
            reasons.append("ZERO_QUANTITY")
        if self.price <= 0:
            reasons.append("NO_ACTIVE_PRICE")
        return reasons

    @property
    def active(self) -> bool:
        return not self.deleted and not self.inactivity_reasons()


@dataclass
class ImportJob:
    api: str  # OF01 | OF24 | STO01 | PRI01 | P41
    import_id: Any
    created: datetime
    due: datetime
    header: list[str]
    rows: list[dict[str, str]]
    mode: str = "NORMAL"
    fingerprint: str = ""
    processed: bool = False
    failed_reason: str | None = None
    errors: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    success_lines: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    offers_updated: int = 0
    new_products: list[Product] = field(default_factory=list)  # integrated (P45), new or updated
    sent_at: datetime | None = None  # P41: transformation done, operator integration until ``due``

    def status(self, now: datetime) -> str:
        if self.processed:
            return "FAILED" if self.failed_reason else "COMPLETE"
        if self.sent_at is not None and now >= self.sent_at:
            return "SENT"
        end = self.sent_at or self.due
        if now >= self.created + (end - self.created) / 2:
            return "RUNNING"
        return "WAITING"


@dataclass
class ExportJob:
    tracking_id: str
    created: datetime
    due: datetime
    export_type: str
    last_request_date: datetime | None
    include_inactive: bool
    items_per_chunk: int
    chunks: list[bytes] = field(default_factory=list)


class OffersMixin:
    """Offer/product state; mixed into :class:`SandboxState` (which owns ``_lock``, ``clock``...)."""

    # SandboxState's, declared (not assigned) so the type checker knows them here.
    clock: SandboxClock
    settings: SandboxSettings
    shop_id: int

    def _init_offers(self, catalogue: list[Any]) -> None:
        self.products: dict[str, Product] = {}
        self.offers: dict[str, Offer] = {}
        self.imports: dict[tuple[str, str], ImportJob] = {}
        self.exports: dict[str, ExportJob] = {}
        self._offer_ids = itertools.count(3001)
        self._product_ids = itertools.count(1)
        self._int_import_ids = itertools.count(2001)  # OF01/OF24/P41 ids are integers
        now = self.clock.now()
        for seed in catalogue:
            if not getattr(seed, "marketplace_sku", None):
                continue
            product = self._new_product(
                shop_sku=seed.sku, title=seed.name, description=seed.description or seed.name,
                brand=seed.brand, ean=seed.ean, category_code=seed.category_code, image=seed.image,
                attributes=dict(seed.attributes),
            )
            price = seed.special_price if seed.special_price else seed.price
            offer = Offer(
                offer_id=next(self._offer_ids), shop_sku=seed.marketplace_sku, product=product,
                price=money(price), quantity=int(seed.qty), description=seed.description,
                created=now, updated=now,
            )
            if seed.status == 2:
                offer.manual_reasons.append("PRODUCT_DISABLED")
            self.offers[offer.shop_sku] = offer

    # --- products ------------------------------------------------------------------------------
    def _new_product(self, **kw: Any) -> Product:
        product = Product(product_sku=f"JLP{next(self._product_ids):08d}", **kw)
        self.products[product.product_sku] = product
        return product

    def _find_product(self, product_id: str, id_type: str) -> Product | None:
        id_type = (id_type or "SHOP_SKU").upper()
        for product in self.products.values():
            if id_type == "SKU" and product.product_sku == product_id:
                return product
            if id_type == "SHOP_SKU" and product.shop_sku == product_id:
                return product
            if id_type == "EAN" and product.ean == product_id:
                return product
        return None

    # --- offers ----------------------------------------------------------------------------------
    def live_offers(self) -> list[Offer]:
        return [o for o in self.offers.values() if not o.deleted]

    def get_offer(self, sku: str) -> Offer:
        offer = self.offers.get(sku)
        if offer is None or offer.deleted:
            raise SandboxError(404, f"Offer with SKU '{sku}' not found")
        return offer

    def offer_json(self, offer: Offer) -> dict[str, Any]:
        """OF21 shape."""
        leadtime = offer.leadtime_to_ship or 2
        now = self.clock.now()
        blocks = pricing.all_prices(offer, now)
        price_block = blocks[0]
        data: dict[str, Any] = {
            "offer_id": offer.offer_id,
            "shop_sku": offer.shop_sku,
            "product_sku": offer.product.product_sku,
            "product_title": offer.product.title,
            "product_brand": offer.product.brand,
            "product_description": offer.product.description,
            "product_references": [{"reference": offer.product.ean, "reference_type": "EAN"}],
            "category_code": offer.product.category_code,
            "category_label": reference.CATEGORY_LABELS.get(offer.product.category_code, offer.product.category_code),
            "state_code": offer.state_code,
            "quantity": offer.quantity,
            "price": price_block["price"],
            "total_price": price_block["price"],
            "all_prices": blocks,
            "applicable_pricing": price_block,
            "discount": {"discount_price": offer.discount_price, "origin_price": offer.price,
                         "start_date": offer.discount_start, "end_date": offer.discount_end, "ranges": []},
            "active": offer.active,
            "inactivity_reasons": offer.inactivity_reasons(),
            "allow_quote_requests": False,
            "channels": sorted({c for e in offer.extra_prices for c in e.context.get("channels", "").split("|") if c}),
            "currency_iso_code": "GBP",
            "description": offer.description,
            "fulfillment": {"center": {"code": "DEFAULT"}},
            "leadtime_to_ship": leadtime,
            "logistic_class": {"code": offer.logistic_class, "label": {"S": "Small", "M": "Medium", "L": "Large"}.get(
                offer.logistic_class, offer.logistic_class)},
            "min_order_quantity": 1,
            "max_order_quantity": 100,
            "min_quantity_alert": 0,
            "package_quantity": 1,
            "min_shipping_price": 0.0,
            "min_shipping_price_additional": 0.0,
            "min_shipping_type": "STD",
            "min_shipping_zone": "UK",
            "shipping_deadline": iso(end_of_day(now + timedelta(days=leadtime))),
            "offer_additional_fields": [],
            "warehouses": [{"code": code, "quantity": qty} for code, qty in sorted(offer.warehouses.items())],
        }
        return data

    def _listing(self) -> list[Offer]:
        """Live offers by price, then id (``sort=totalPrice``, the default), sorted again only after
        an offer was added or its price, id or deletion changed (see ``_LISTING_GENERATION``)."""
        key = (_LISTING_GENERATION[0], len(self.offers))
        cached: tuple[tuple[int, int], list[Offer]] | None = self.__dict__.get("_listing_cache")
        if cached is None or cached[0] != key:
            cached = (key, sorted(self.live_offers(), key=lambda o: (o.price, o.offer_id)))
            self.__dict__["_listing_cache"] = cached
        return list(cached[1])

    def list_offers(self, *, sku: str | None, offer_state_codes: str | None, product_id: str | None) -> list[Offer]:
        offers = self._listing()
        if sku is not None:
            offers = [o for o in offers if o.shop_sku == sku]
        if product_id:
            offers = [o for o in offers if product_id in (o.product.product_sku, o.product.ean)]
        if offer_state_codes:
            wanted = {c.strip() for c in offer_state_codes.split(",")}
            offers = [o for o in offers if o.state_code in wanted]
        return offers  # sort=totalPrice (default), kept by the filters above

    def operator_edit_offer(self, sku: str, body: dict[str, Any]) -> Offer:
        """Control API: the operator changes an offer behind our back (drift tests)."""
        offer = self.get_offer(sku)
        if "quantity" in body:
            q = body["quantity"]
            if isinstance(q, bool) or not isinstance(q, int) or q < 0:
                raise SandboxError(400, "quantity must be an integer >= 0")
            offer.quantity = q
            offer.warehouses.clear()
        if "price" in body:
            p = body["price"]
            if isinstance(p, bool) or not isinstance(p, int | float) or p < 0:
                raise SandboxError(400, "price must be a number >= 0")
            offer.price = money(p)
        self._operator_prices(offer, body)
        if "inactivity_reasons" in body:
            reasons = body["inactivity_reasons"]
            if not isinstance(reasons, list) or any(r not in MANUAL_REASONS for r in reasons):
                raise SandboxError(400, f"inactivity_reasons must be a list of {sorted(MANUAL_REASONS)}")
            offer.manual_reasons = list(reasons)
        if "active" in body:
            if not isinstance(body["active"], bool):
                raise SandboxError(400, "active must be true or false")
            if body["active"]:
                offer.manual_reasons.clear()
            elif not offer.manual_reasons:
                offer.manual_reasons.append("PRODUCT_DISABLED")
        offer.updated = self.clock.now()
        return offer

    @staticmethod
    def _operator_prices(offer: Offer, body: dict[str, Any]) -> None:
        """Prices set in the Mirakl back office: ``discount_price`` (null clears it) with
        ``discount_start``/``discount_end``, and ``channel_prices`` ({channel code: price})."""
        if "discount_price" in body:
            d = body["discount_price"]
            if d is not None and (isinstance(d, bool) or not isinstance(d, int | float) or not 0 <= d < offer.price):
                raise SandboxError(400, "discount_price must be a number below the price, or null")
            offer.discount_price = None if d is None else money(d)
            for key, attr in (("discount_start", "discount_start"), ("discount_end", "discount_end")):
                value = body.get(key)
                if value is not None and not isinstance(value, str):
                    raise SandboxError(400, f"{key} must be an ISO 8601 date or null")
                setattr(offer, attr, value)
        if "channel_prices" in body:
            prices = body["channel_prices"]
            if not isinstance(prices, dict) or any(isinstance(p, bool) or not isinstance(p, int | float) or p <= 0
                                                   for p in prices.values()):
                raise SandboxError(400, "channel_prices must map channel codes to prices > 0")
            offer.extra_prices = [e for e in offer.extra_prices if "channels" not in e.context]
            offer.extra_prices += [pricing.ExtraPrice({"channels": str(code)}, money(price))
                                   for code, price in prices.items()]

    # --- imports: submit -----------------------------------------------------------------------
    def submit_import(self, api: str, content: bytes, *, mode: str = "NORMAL") -> ImportJob:
        try:
            header, rows = read_csv(content)
        except CsvFormatError as error:
            raise SandboxError(400, f"Invalid file: {error}") from None
        required = {"OF01": "sku", "STO01": "offer-sku", "PRI01": "offer-sku", "P41": "shop_sku"}[api]
        if required not in header:
            raise SandboxError(400, f"Invalid file: the column '{required}' is missing")
        fingerprint = hashlib.sha256(api.encode() + mode.encode() + content).hexdigest()
        return self._queue_import(api, header, rows, mode=mode, fingerprint=fingerprint)

    def submit_of24(self, offers: list[dict[str, Any]]) -> ImportJob:
        """OF24 is an import too; rows are the JSON offers (replace semantics, see ``_apply_of24``)."""
        import json

        fingerprint = hashlib.sha256(b"OF24" + json.dumps(offers, sort_keys=True).encode()).hexdigest()
        rows = [{"__json__": json.dumps(o)} for o in offers]
        return self._queue_import("OF24", ["__json__"], rows, mode="NORMAL", fingerprint=fingerprint)

    def _queue_import(self, api: str, header: list[str], rows: list[dict[str, str]], *, mode: str,
                      fingerprint: str) -> ImportJob:
        now = self.clock.now()
        if api in ("OF01", "OF24"):
            # Mirakl: "If Mirakl detects a duplicate import request, the API will return the import_id
            # of the existing import" -- we treat an identical file still being processed as a duplicate.
            for job in self.imports.values():
                if job.api in ("OF01", "OF24") and job.fingerprint == fingerprint and not job.processed:
                    return job
        if api in ("OF01", "OF24", "P41"):
            import_id: Any = next(self._int_import_ids)
        else:
            import_id = str(uuid.uuid4())
        family = "OF" if api in ("OF01", "OF24") else api
        due = now + timedelta(seconds=self.settings.import_delay_seconds)
        sent_at = None
        if api == "P41":  # transformation, then SENT while the operator integrates the products
            sent_at, due = due, due + timedelta(seconds=self.settings.product_integration_delay_seconds)
        job = ImportJob(api=api, import_id=import_id, created=now, due=due, sent_at=sent_at,
                        header=header, rows=rows, mode=mode, fingerprint=fingerprint)
        self.imports[(family, str(import_id))] = job
        return job

    def get_import(self, family: str, import_id: str) -> ImportJob:
        job = self.imports.get((family, str(import_id)))
        if job is None:
            raise SandboxError(404, f"Import with identifier '{import_id}' not found")
        self._process_due_imports()
        return job

    # --- imports: processing -------------------------------------------------------------------
    def _process_due_imports(self) -> None:
        now = self.clock.now()
        for job in sorted(self.imports.values(), key=lambda j: j.created):
            if not job.processed and now >= job.due:
                handler = {"OF01": self._apply_of01, "OF24": self._apply_of24, "STO01": self._apply_sto01,
                           "PRI01": self._apply_pri01, "P41": self._apply_p41}[job.api]
                handler(job, now)
                job.processed = True

    def _line_error(self, job: ImportJob, line: int, message: str, row: dict[str, str]) -> None:
        job.errors.append((line, message, row))

    def _apply_of01(self, job: ImportJob, now: datetime) -> None:
        seen: set[str] = set()
        for line, row in enumerate(job.rows, start=2):
            sku = row.get("sku", "")
            if not sku.strip():
                self._line_error(job, line, "The offer SKU is missing", row)
                continue
            seen.add(sku)
            action = (row.get("update-delete") or "").strip().lower()
            if action not in ("", "update", "delete"):
                self._line_error(job, line, f"Invalid update-delete value '{action}'", row)
                continue
            existing = self.offers.get(sku)
            if action == "delete":
                if existing is None or existing.deleted:
                    self._line_error(job, line, "The offer to delete does not exist", row)
                    continue
                existing.deleted = True
                existing.updated = now
                job.deleted += 1
                job.success_lines += 1
                continue
            error = self._offer_columns_error(row)
            if error:
                self._line_error(job, line, error, row)
                continue
            if existing is None or existing.deleted:
                product_id = row.get("product-id", "").strip()
                if not product_id:
                    self._line_error(job, line, "The product-id is required to create an offer", row)
                    continue
                product = self._find_product(product_id, row.get("product-id-type", ""))
                if product is None:
                    self._line_error(job, line, "The product does not exist", row)
                    continue
                if not row.get("price", "").strip():
                    self._line_error(job, line, "The price is required to create an offer", row)
                    continue
                offer = Offer(offer_id=next(self._offer_ids), shop_sku=sku, product=product, price=0.0,
                              quantity=0, created=now)
                self.offers[sku] = offer
                job.inserted += 1
            else:
                offer = existing
                job.updated += 1
            self._set_offer_columns(offer, row)
            offer.updated = now
            job.success_lines += 1
        if job.mode == "REPLACE":
            for offer in self.live_offers():
                if offer.shop_sku not in seen:
                    offer.deleted = True
                    offer.updated = now
                    job.deleted += 1

    @staticmethod
    def _offer_columns_error(row: dict[str, str]) -> str | None:
        if "state" in row and not row["state"].strip():
            return "The offer state is required"
        if row.get("price", "").strip():
            price = parse_decimal(row["price"])
            if price is None or price < 0:
                return f"The price '{row['price']}' is not a valid number"
        if row.get("quantity", "").strip():
            qty = parse_int(row["quantity"])
            if qty is None or qty < 0:
                return f"The quantity '{row['quantity']}' is not a valid positive integer"
        if row.get("leadtime-to-ship", "").strip():
            lead = parse_int(row["leadtime-to-ship"])
            if lead is None or lead < 0:
                return "The leadtime-to-ship is not a valid positive integer"
        if row.get("discount-price", "").strip():
            dp = parse_decimal(row["discount-price"])
            if dp is None or dp < 0:
                return "The discount-price is not a valid number"
        return None

    @staticmethod
    def _set_offer_columns(offer: Offer, row: dict[str, str]) -> None:
        """NORMAL mode: every column present in the file changes the offer, blank cells included
        (only the deprecated PARTIAL_UPDATE skipped blanks; integrator documentation, Mirakl silent
        on the exact effect). A blank price removes the price (the offer goes inactive with
        NO_ACTIVE_PRICE), a blank quantity is 0, a blank lead time or logistic class goes back to the
        shop's default, a blank description or discount is cleared. Absent columns are untouched."""
        if "price" in row:
            price = row["price"].strip()
            offer.price = money(parse_decimal(price)) if price else 0.0  # type: ignore[arg-type]
        if "quantity" in row:
            offer.quantity = int(row["quantity"]) if row["quantity"].strip() else 0
            offer.warehouses.clear()
        if "description" in row:
            offer.description = row["description"]
        if row.get("state", "").strip():
            offer.state_code = row["state"].strip()
        if "leadtime-to-ship" in row:
            lead = row["leadtime-to-ship"].strip()
            offer.leadtime_to_ship = int(lead) if lead else None
        if "logistic-class" in row:
            offer.logistic_class = row["logistic-class"].strip() or "M"
        if "discount-price" in row:
            offer.discount_price = money(parse_decimal(row["discount-price"])) if row["discount-price"].strip() else None  # type: ignore[arg-type]
        for column, attr in (("discount-start-date", "discount_start"), ("discount-end-date", "discount_end")):
            if column in row:
                setattr(offer, attr, row[column].strip() or None)

    def _apply_of24(self, job: ImportJob, now: datetime) -> None:
        """OF24 replace semantics: every field not sent goes back to its default."""
        import json

        for line, row in enumerate(job.rows, start=1):
            data = json.loads(row["__json__"])
            sku = str(data.get("shop_sku") or "")
            action = str(data.get("update_delete") or "").lower()
            existing = self.offers.get(sku)
            if not sku:
                self._line_error(job, line, "The offer SKU is missing", {"shop_sku": sku})
                continue
            if action == "delete":
                if existing is None or existing.deleted:
                    self._line_error(job, line, "The offer to delete does not exist", {"shop_sku": sku})
                    continue
                existing.deleted, existing.updated = True, now
                job.deleted += 1
                job.success_lines += 1
                continue
            price = data.get("price")
            if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
                self._line_error(job, line, "The price is required and must be a number", {"shop_sku": sku})
                continue
            quantity = data.get("quantity", 0)
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
                self._line_error(job, line, "The quantity must be a positive integer", {"shop_sku": sku})
                continue
            if existing is None or existing.deleted:
                product = self._find_product(str(data.get("product_id") or ""), str(data.get("product_id_type") or ""))
                if product is None:
                    self._line_error(job, line, "The product does not exist", {"shop_sku": sku})
                    continue
                existing = Offer(offer_id=next(self._offer_ids), shop_sku=sku, product=product, price=0.0,
                                 quantity=0, created=now)
                self.offers[sku] = existing
                job.inserted += 1
            else:
                job.updated += 1
            existing.price = money(price)
            existing.quantity = quantity  # omitted -> 0 (reset)
            existing.warehouses.clear()
            existing.state_code = str(data.get("state_code") or "11")
            existing.description = str(data.get("description") or "")  # omitted -> deleted
            existing.leadtime_to_ship = data.get("leadtime_to_ship")  # omitted -> shop default
            existing.logistic_class = str(data.get("logistic_class") or "M")
            discount = data.get("discount") or {}
            existing.discount_price = discount.get("price") if isinstance(discount, dict) else None
            existing.updated = now
            job.success_lines += 1

    def _apply_sto01(self, job: ImportJob, now: datetime) -> None:
        for line, row in enumerate(job.rows, start=2):
            sku = row.get("offer-sku", "")
            offer = self.offers.get(sku)
            if offer is None or offer.deleted:
                self._line_error(job, line, "The offer does not exist", row)
                continue
            action = (row.get("update-delete") or "").strip().lower()
            warehouse = (row.get("warehouse-code") or "").strip()
            if action not in ("", "update", "delete"):
                self._line_error(job, line, f"Invalid update-delete value '{action}'", row)
                continue
            if action == "delete":
                if not warehouse or warehouse not in offer.warehouses:
                    self._line_error(job, line, "Nothing to delete for this offer and warehouse", row)
                    continue
                del offer.warehouses[warehouse]
                offer.quantity = sum(offer.warehouses.values())
            else:
                qty = parse_int(row.get("quantity", ""))
                if qty is None or qty < 0:
                    self._line_error(job, line, f"The quantity '{row.get('quantity', '')}' is not a valid positive integer", row)
                    continue
                if warehouse:
                    offer.warehouses[warehouse] = qty
                    offer.quantity = sum(offer.warehouses.values())
                else:
                    offer.warehouses.clear()
                    offer.quantity = qty
            offer.updated = now
            job.success_lines += 1
            job.offers_updated += 1

    def _apply_pri01(self, job: ImportJob, now: datetime) -> None:
        """Delete and replace of each offer's whole price set (:mod:`.pricing`): the lines of one
        offer are read together, and its accepted lines become its prices ("Offer prices that were
        submitted in the price import but don't appear in the error report were successfully
        imported", SPEC PRI03). An offer whose every line is refused keeps its prices."""
        by_offer: dict[str, list[tuple[int, dict[str, str]]]] = {}
        for line, row in enumerate(job.rows, start=2):
            by_offer.setdefault(row.get("offer-sku", ""), []).append((line, row))
        for sku, lines in by_offer.items():
            offer = self.offers.get(sku)
            if offer is None or offer.deleted:
                for line, row in lines:
                    self._line_error(job, line, "The offer does not exist", row)
                continue
            if len(lines) > pricing.MAX_PRICES_PER_OFFER:
                for line, row in lines:
                    self._line_error(job, line, f"More than {pricing.MAX_PRICES_PER_OFFER} prices for this offer", row)
                continue
            valid = []
            for line, row in lines:
                problem = pricing.line_error(row)
                if problem:
                    self._line_error(job, line, problem, row)
                else:
                    valid.append(row)
            if not valid:
                continue
            pricing.replace_prices(offer, valid)
            offer.updated = now
            job.success_lines += len(valid)
            job.offers_updated += 1

    def _apply_p41(self, job: ImportJob, now: datetime) -> None:
        seen_in_file: set[str] = set()
        lists = {vl["code"]: {v["code"] for v in vl["values"]} for vl in reference.values_lists()}
        for line, row in enumerate(job.rows, start=2):
            problems: list[str] = []
            for attr in reference.ATTRIBUTES:
                code = attr["code"]
                value = (row.get(code) or "").strip()
                applies = not attr["hierarchy_code"] or (row.get("category") or "").startswith(attr["hierarchy_code"])
                if attr["requirement_level"] == "REQUIRED" and applies and not value:
                    problems.append(f"The '{code}' attribute is required.")
                    continue
                if not value:
                    continue
                for rule in (attr.get("validations") or "").split(","):
                    if rule.startswith("MAX_LENGTH|") and len(value) > int(rule.split("|")[1]):
                        problems.append(f"The '{code}' attribute is longer than {rule.split('|')[1]} characters.")
                if code == "ean" and not (len(value) == 13 and value.isdigit()):
                    problems.append("The 'ean' attribute must be 13 digits.")
                if attr["type"] == "LIST" and value.upper() not in lists.get(attr["values_list"], set()):
                    problems.append(f"The value '{value}' is not in the list '{attr['values_list']}'.")
                if attr["type"] == "DECIMAL" and parse_decimal(value) is None:
                    problems.append(f"The '{code}' attribute must be a number.")
            category = (row.get("category") or "").strip()
            if category and category not in reference.CATEGORY_CODES:
                problems.append(f"The category '{category}' does not exist.")
            shop_sku = (row.get("shop_sku") or "").strip()
            if shop_sku in seen_in_file:
                problems.append(f"The product '{shop_sku}' appears twice in the file.")
            if problems:
                self._line_error(job, line, " ".join(problems), row)
                continue
            seen_in_file.add(shop_sku)
            product = self._find_product(shop_sku, "SHOP_SKU")
            extra = {k: v for k, v in row.items() if k not in ("category", "shop_sku", "title", "description",
                                                                   "brand", "ean", "main_image") and v}
            if product is None:
                product = self._new_product(shop_sku=shop_sku, title=row["title"].strip(),
                                            description=row["description"].strip(), brand=row["brand"].strip(),
                                            ean=row["ean"].strip(), category_code=category,
                                            image=row["main_image"].strip(), attributes=extra)
                job.new_products.append(product)
                job.inserted += 1
            else:
                product.title, product.description = row["title"].strip(), row["description"].strip()
                product.brand, product.ean, product.category_code = row["brand"].strip(), row["ean"].strip(), category
                product.image, product.attributes = row["main_image"].strip(), extra
                job.new_products.append(product)  # P45 lists every product integrated, updates too
                job.updated += 1
            job.success_lines += 1

    # --- import status bodies --------------------------------------------------------------------
    def of02_json(self, job: ImportJob) -> dict[str, Any]:
        status = job.status(self.clock.now())
        done = job.processed
        return {
            "import_id": job.import_id, "date_created": iso(job.created), "status": status,
            "reason_status": job.failed_reason or "", "mode": job.mode,
            "type": "JSON" if job.api == "OF24" else "CSV",
            "lines_read": len(job.rows) if done else 0,
            "lines_in_success": job.success_lines, "lines_in_error": len(job.errors),
            "lines_in_pending": 0 if done else len(job.rows),
            "offer_inserted": job.inserted, "offer_updated": job.updated, "offer_deleted": job.deleted,
            "has_error_report": bool(job.errors),
        }

    def sto02_json(self, job: ImportJob) -> dict[str, Any]:
        return {"import_id": job.import_id, "shop_id": self.shop_id, "date_created": iso(job.created),
                "status": job.status(self.clock.now()), "lines_in_success": job.success_lines,
                "lines_in_error": len(job.errors), "has_error_report": bool(job.errors)}

    def pri02_json(self, job: ImportJob) -> dict[str, Any]:
        skus_in_error = {row.get("offer-sku") for _, _, row in job.errors}
        return {"import_id": job.import_id, "shop_id": self.shop_id, "date_created": iso(job.created),
                "status": job.status(self.clock.now()), "reason_status": job.failed_reason or "",
                "origin": "API", "lines_in_success": job.success_lines, "lines_in_error": len(job.errors),
                "offers_in_error": len(skus_in_error), "offers_updated": job.offers_updated,
                "has_error_report": bool(job.errors)}

    def p42_json(self, job: ImportJob) -> dict[str, Any]:
        """P42. SPEC: ``has_error_report``/``has_new_product_report`` "filled when the import status
        is COMPLETE"; ``has_transformed_file`` at SENT or COMPLETE. This sandbox reports every
        problem at integration (P44), so P47 never exists (``has_transformation_error_report``)."""
        status = job.status(self.clock.now())
        transformed = status in ("SENT", "COMPLETE")
        return {
            "import_id": job.import_id, "shop_id": self.shop_id, "date_created": iso(job.created),
            "import_status": status, "reason_status": job.failed_reason or "",
            "has_error_report": bool(job.errors), "has_new_product_report": bool(job.new_products),
            "has_transformed_file": transformed, "has_transformation_error_report": False,
            "transform_lines_read": len(job.rows) if transformed else 0,
            "transform_lines_in_success": job.success_lines if job.processed else (len(job.rows) if transformed else 0),
            "transform_lines_in_error": len(job.errors),
            "transform_lines_with_warning": 0,
            "integration_details": {
                "invalid_products": len(job.errors), "products_successfully_synchronized": job.success_lines,
                "products_reimported": job.updated, "rejected_products": 0,
                "products_not_accepted_in_time": 0, "products_not_synchronized_in_time": 0,
                "products_with_synchronization_issues": 0, "products_with_wrong_identifiers": 0,
            },
        }

    def error_report(self, job: ImportJob) -> bytes:
        """OF03/P44: original columns + ``error-line`` + ``error-message`` (OF03 example).
        STO03/PRI03: "The first column contains the line number in error. The second column
        contains the error reason", then the row, "ready to be reimported" (SPEC). Their header
        names are not documented: blank unless ``report_header_names`` is set."""
        if not job.processed or not job.errors:
            raise SandboxError(404, f"No error report for import '{job.import_id}'")
        if job.api in ("STO01", "PRI01"):
            first = ["error-line", "error-message"] if self.settings.report_header_names else ["", ""]
            buffer = write_csv([*first, *job.header], [])
            body = write_csv(["__line", "__message", *job.header],
                             [{**row, "__line": line, "__message": message} for line, message, row in job.errors])
            return buffer + body.split(b"\n", 1)[1]
        if job.api == "OF24":
            columns = ["shop_sku", "error-line", "error-message"]
        else:
            columns = [*job.header, "error-line", "error-message"]
        rows = [{**row, "error-line": line, "error-message": message} for line, message, row in job.errors]
        return write_csv(columns, rows)

    def new_product_report(self, job: ImportJob) -> bytes:
        if not job.processed or not job.new_products:
            raise SandboxError(404, f"No new product report for import '{job.import_id}'")
        return write_csv(["shop_sku", "product_sku", "ean", "title"],
                         [{"shop_sku": p.shop_sku, "product_sku": p.product_sku, "ean": p.ean, "title": p.title}
                          for p in job.new_products])

    # --- OF52 / OF53 / OF54 ----------------------------------------------------------------------
    def start_export(self, body: dict[str, Any]) -> ExportJob:
        export_type = body.get("export_type") or "text/csv"
        if export_type not in ("text/csv", "application/json"):
            raise SandboxError(400, "export_type must be text/csv or application/json")
        last = body.get("last_request_date")
        last_dt = parse_datetime(last, "last_request_date") if last else None
        chunk = body.get("items_per_chunk") or 10000
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise SandboxError(400, "items_per_chunk must be a positive integer")
        now = self.clock.now()
        job = ExportJob(tracking_id=str(uuid.uuid4()), created=now,
                        due=now + timedelta(seconds=self.settings.export_delay_seconds),
                        export_type=export_type, last_request_date=last_dt,
                        include_inactive=bool(body.get("include_inactive_offers", last_dt is not None)),
                        items_per_chunk=chunk)
        self.exports[job.tracking_id] = job
        return job

    EXPORT_COLUMNS = ["offer-id", "shop-sku", "product-sku", "quantity", "price", "discount-price", "state-code",
                      "active", "inactivity-reasons", "deleted", "leadtime-to-ship", "currency-iso-code",
                      "last-updated"]

    def _export_rows(self, job: ExportJob) -> list[dict[str, Any]]:
        rows = []
        for offer in sorted(self.offers.values(), key=lambda o: o.offer_id):
            if job.last_request_date is not None:
                if offer.updated is None or offer.updated < job.last_request_date:
                    continue
            elif offer.deleted:
                continue
            if not job.include_inactive and not offer.active and not offer.deleted:
                continue
            rows.append({
                "offer_id": offer.offer_id, "shop_sku": offer.shop_sku, "product_sku": offer.product.product_sku,
                "quantity": offer.quantity, "price": offer.price, "discount_price": offer.discount_price,
                "state_code": offer.state_code, "active": offer.active,
                "inactivity_reasons": offer.inactivity_reasons(), "deleted": offer.deleted,
                "leadtime_to_ship": offer.leadtime_to_ship or 2, "currency_iso_code": "GBP",
                "last_updated": iso(offer.updated),
            })
        return rows

    def export_status(self, tracking_id: str, base_url: str) -> dict[str, Any]:
        job = self.exports.get(tracking_id)
        if job is None:
            raise SandboxError(404, f"Export '{tracking_id}' not found")
        now = self.clock.now()
        if now < job.due:
            return {"status": "PENDING", "last_updated": iso(job.created)}
        if not job.chunks:
            import json

            rows = self._export_rows(job)
            pieces = [rows[i:i + job.items_per_chunk] for i in range(0, len(rows), job.items_per_chunk)] or [[]]
            for piece in pieces:
                if job.export_type == "application/json":
                    job.chunks.append(json.dumps(piece).encode())
                else:
                    csv_rows = [{
                        "offer-id": r["offer_id"], "shop-sku": r["shop_sku"], "product-sku": r["product_sku"],
                        "quantity": r["quantity"], "price": r["price"], "discount-price": r["discount_price"],
                        "state-code": r["state_code"], "active": r["active"],
                        "inactivity-reasons": ",".join(r["inactivity_reasons"]), "deleted": r["deleted"],
                        "leadtime-to-ship": r["leadtime_to_ship"], "currency-iso-code": "GBP",
                        "last-updated": r["last_updated"],
                    } for r in piece]
                    job.chunks.append(write_csv(self.EXPORT_COLUMNS, csv_rows))
        ext = "json" if job.export_type == "application/json" else "csv"
        urls = [f"{base_url}/api/offers/export/async/file/{job.tracking_id}?file={i}.{ext}"
                for i in range(len(job.chunks))]
        return {"status": "COMPLETED", "last_updated": iso(job.due), "urls": urls}

    def export_chunk(self, tracking_id: str, file: str) -> tuple[bytes, str]:
        job = self.exports.get(tracking_id)
        if job is None or not job.chunks:
            raise SandboxError(404, f"Export '{tracking_id}' not found or not complete")
        try:
            index = int(file.split(".")[0])
            data = job.chunks[index]
        except (ValueError, IndexError):
            raise SandboxError(404, f"Export file '{file}' not found") from None
        return data, job.export_type
