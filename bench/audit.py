"""Benchmark of the full audit: 100,000 SKUs with 1% seeded drift of every kind.

Prints elapsed time, peak memory and the recall and precision of drift detection against the
seeded truth. Targets: under 60 s, under 400 MB, recall and precision 100%.

Modes:

* ``--mode service`` (default): the real audit service (:func:`marketbridge.services.audit.run_audit`)
  on a real SQLite database, with both APIs answered in process from pre-serialised JSON pages in
  the exact wire shapes (Magento ``/V1/products`` and ``/V1/inventory/source-items`` search results,
  the Mirakl OF52 export chunks). The timed part is the whole run: decoding and validating every
  page with the same pydantic models the clients use, the channel rules, the comparison, the
  confirmation of quantity suspects, the issue records, the run and its drift rows. Only the
  sockets are missing.
* ``--mode http``: both sandboxes on loopback over real HTTP. Practical up to ~10,000 SKUs: the
  Magento simulator filters its whole catalogue on every page, so 100,000 SKUs spend minutes inside
  the simulator, not in marketbridge.
* ``--mode memory``: both sides generated as rows; times only :func:`compare`.

Memory: ``peak RSS`` is the process's high-water mark (``resource.getrusage``), including the
generated payloads; ``audit peak`` is tracemalloc's peak of Python allocations during the timed part.

    .venv/bin/python bench/audit.py --products 100000
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from marketbridge.domain.catalogue import (  # noqa: E402
    AuditRules,
    DriftKind,
    MagentoRow,
    OfferRow,
    compare,
)

KINDS = list(DriftKind)
INACTIVE_REASON = "CATEGORY_UNAUTHORIZED_TO_SELL"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score(found: set[tuple[str, str | None, str | None]], truth: set[tuple[str, str | None, str | None]]) -> dict:
    hits = len(found & truth)
    return {
        "recall": hits / len(truth) if truth else 1.0,
        "precision": hits / len(found) if found else 1.0,
        "missed": sorted(truth - found, key=str)[:5],
        "false": sorted(found - truth, key=str)[:5],
        "per_kind": {k.value: (sum(1 for t in found & truth if t[0] == k.value), sum(1 for t in truth if t[0] == k.value))
                     for k in KINDS},
    }


# ----------------------------------------------------------------------------- memory mode
def memory_mode(n: int, rate: float, seed: int) -> dict:
    rng = random.Random(seed)
    per_kind = int(n * rate)
    chosen = rng.sample(range(n), per_kind * len(KINDS))
    role = {index: KINDS[k // per_kind] for k, index in enumerate(chosen)}
    magento: list[MagentoRow] = []
    offers: list[OfferRow] = []
    truth: set = set()
    for i in range(n):
        sku, qty, price = f"MB-{i:06d}", rng.randint(0, 60), round(rng.uniform(2, 400), 2)
        kind = role.get(i)
        if kind is DriftKind.OFFER_WITHOUT_PRODUCT:
            offers.append(OfferRow(f"GHOST-{i:06d}", qty, price))
            truth.add((kind.value, None, f"GHOST-{i:06d}"))
            continue
        magento.append(MagentoRow(sku, True, qty, price))
        if kind is DriftKind.MISSING_ON_MARKETPLACE:
            truth.add((kind.value, sku, None))
        elif kind is DriftKind.SKU_FORMAT_MISMATCH:
            offers.append(OfferRow(sku.lower() + " ", qty, price))
            truth.add((kind.value, sku, sku.lower() + " "))
        elif kind is DriftKind.QUANTITY_MISMATCH:
            offers.append(OfferRow(sku, qty + 3, price))
            truth.add((kind.value, sku, sku))
        elif kind is DriftKind.PRICE_MISMATCH:
            offers.append(OfferRow(sku, qty, round(price * 1.1 + 0.01, 2)))
            truth.add((kind.value, sku, sku))
        elif kind is DriftKind.OFFER_INACTIVE:
            offers.append(OfferRow(sku, qty, price, active=False, inactivity_reasons=(INACTIVE_REASON,)))
            truth.add((kind.value, sku, sku))
        else:
            offers.append(OfferRow(sku, qty, price, active=qty > 0, inactivity_reasons=() if qty else ("ZERO_QUANTITY",)))
    rng.shuffle(offers)
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    drifts = compare(magento, offers, AuditRules())
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    found = {(d.kind.value, d.magento_sku, d.offer_sku) for d in drifts}
    return {"mode": "memory", "skus": n, "seeded": len(truth), "elapsed_s": elapsed, "audit_peak_mb": peak / 2**20,
            **score(found, truth)}


# ----------------------------------------------------------------------------- service mode
class _Catalogue:
    """The seeded truth as compact arrays; API pages are rendered from it on demand (like a server
    would), and the time spent rendering them is counted apart, as the remote systems' time."""

    def __init__(self, n: int, rate: float, seed: int) -> None:
        rng = random.Random(seed)
        per_kind = int(n * rate)
        chosen = rng.sample(range(n), per_kind * len(KINDS))
        self.n = n
        self.role = bytearray(n)  # 0 = clean, k+1 = KINDS[k]
        for k, index in enumerate(chosen):
            self.role[index] = KINDS.index(KINDS[k // per_kind]) + 1
        self.qty = [rng.randint(0, 60) for _ in range(n)]
        self.price = [round(rng.uniform(2, 400), 2) for _ in range(n)]
        order = list(range(n))
        rng.shuffle(order)
        self.offer_order = order  # the export lists offers in its own order
        self.remote_seconds = 0.0
        self.truth: set = set()
        for i in range(n):
            kind = self.kind(i)
            sku = self.sku(i)
            if kind is DriftKind.OFFER_WITHOUT_PRODUCT:
                self.truth.add((kind.value, None, f"GHOST-{i:06d}"))
            elif kind is DriftKind.MISSING_ON_MARKETPLACE:
                self.truth.add((kind.value, sku, None))
            elif kind is DriftKind.SKU_FORMAT_MISMATCH:
                self.truth.add((kind.value, sku, sku.lower() + " "))
            elif kind is not None:
                self.truth.add((kind.value, sku, sku))

    def kind(self, i: int) -> DriftKind | None:
        return KINDS[self.role[i] - 1] if self.role[i] else None

    @staticmethod
    def sku(i: int) -> str:
        return f"MB-{i:06d}"

    def has_product(self, i: int) -> bool:
        return self.kind(i) is not DriftKind.OFFER_WITHOUT_PRODUCT

    def product(self, i: int, detail: bool = False) -> dict:
        sku = self.sku(i)
        ext: dict = {"website_ids": [1], "category_links": [{"position": 0, "category_id": "4"}]}
        if detail:
            ext["stock_item"] = {"manage_stock": True, "qty": self.qty[i], "is_in_stock": self.qty[i] > 0}
        return {"id": i + 1, "sku": sku, "name": f"Product {sku}", "attribute_set_id": 4, "price": self.price[i],
                "status": 1, "visibility": 4, "type_id": "simple", "created_at": "2026-01-01 00:00:00",
                "updated_at": "2026-01-01 00:00:00", "weight": 1.0, "extension_attributes": ext,
                "product_links": [], "options": [], "media_gallery_entries": [], "tier_prices": [],
                "custom_attributes": [
                    {"attribute_code": "description", "value": "Made to last, designed for everyday use."},
                    {"attribute_code": "ean", "value": f"{5000000000000 + i}"},
                    {"attribute_code": "brand", "value": "Marketbridge Home"},
                    {"attribute_code": "mb_category_code", "value": "home/lighting"},
                    {"attribute_code": "category_ids", "value": ["4"]},
                    {"attribute_code": "url_key", "value": f"product-{sku.lower()}"},
                    {"attribute_code": "tax_class_id", "value": "2"},
                ]}

    def offer(self, i: int) -> dict | None:
        kind, sku, qty, price = self.kind(i), self.sku(i), self.qty[i], self.price[i]
        reasons = [] if qty else ["ZERO_QUANTITY"]
        if kind is DriftKind.MISSING_ON_MARKETPLACE:
            return None
        if kind is DriftKind.OFFER_WITHOUT_PRODUCT:
            sku = f"GHOST-{i:06d}"
        elif kind is DriftKind.SKU_FORMAT_MISMATCH:
            sku = sku.lower() + " "
        elif kind is DriftKind.QUANTITY_MISMATCH:
            qty, reasons = qty + 3, []
        elif kind is DriftKind.PRICE_MISMATCH:
            price = round(price * 1.1 + 0.01, 2)
        elif kind is DriftKind.OFFER_INACTIVE:
            reasons = [INACTIVE_REASON, *reasons]
        return {"offer_id": i + 1, "shop_sku": sku, "product_sku": f"JLP{i + 1:08d}", "quantity": qty,
                "price": price, "discount_price": None, "state_code": "11", "active": not reasons,
                "inactivity_reasons": reasons, "deleted": False, "leadtime_to_ship": 2, "currency_iso_code": "GBP",
                "last_updated": "2026-01-01T00:00:00Z"}

    def render(self, build) -> bytes:
        import json

        started = time.perf_counter()
        body = json.dumps(build()).encode()
        self.remote_seconds += time.perf_counter() - started
        return body


class _PagedMagento:
    """Answers the audit's Magento calls with JSON in the REST wire shape, decoded and validated with
    the client's own models."""

    def __init__(self, cat: _Catalogue) -> None:
        self.cat, self.calls = cat, 0
        self.product_ids = [i for i in range(cat.n) if cat.has_product(i)]

    def stock_source_links(self, stock_id: int):
        from marketbridge.adapters.magento import models as magento_models

        self.calls += 1
        return [magento_models.StockSourceLink(stock_id=stock_id, source_code="default", priority=1)]

    def iterate_source_items(self, *, criteria=None, page_size: int = 500):
        import json

        from marketbridge.adapters.magento import models as magento_models

        cat, ids = self.cat, self.product_ids
        for j in range(0, len(ids), page_size):
            self.calls += 1
            page = cat.render(lambda j=j: {"items": [{"sku": cat.sku(i), "source_code": "default",
                                                      "quantity": cat.qty[i], "status": 1 if cat.qty[i] > 0 else 0}
                                                     for i in ids[j:j + page_size]], "total_count": len(ids)})
            yield from magento_models.SearchResult[magento_models.SourceItem].model_validate(json.loads(page)).items

    def iterate_products(self, updated_since=None, *, page_size: int = 200, criteria=None):
        import json

        from marketbridge.adapters.magento import models as magento_models

        cat, ids = self.cat, self.product_ids
        for j in range(0, len(ids), page_size):
            self.calls += 1
            page = cat.render(lambda j=j: {"items": [cat.product(i) for i in ids[j:j + page_size]],
                                           "total_count": len(ids)})
            yield from magento_models.SearchResult[magento_models.Product].model_validate(json.loads(page)).items

    def get_product(self, sku: str):
        import json

        from marketbridge.adapters.magento import models as magento_models

        self.calls += 1
        return magento_models.Product.model_validate(json.loads(self.cat.render(lambda: self.cat.product(int(sku[3:]), True))))

    def salable_quantity(self, sku: str, stock_id: int) -> float:
        self.calls += 1
        return float(max(self.cat.qty[int(sku[3:])], 0))

    def close(self) -> None:
        pass


class _ExportingMirakl:
    """OF52 / OF53 / OF54 in their wire shapes: JSON chunks of 10,000 offers."""

    CHUNK = 10_000

    def __init__(self, cat: _Catalogue) -> None:
        self.cat = cat

    def start_offer_export(self, request=None) -> str:
        return "bench-export"

    def offer_export_status(self, tracking_id: str):
        from marketbridge.adapters.mirakl import models as mirakl_models

        chunks = (self.cat.n + self.CHUNK - 1) // self.CHUNK
        return mirakl_models.ExportStatus(status="COMPLETED", urls=[f"bench://{k}" for k in range(chunks)])

    def download_export_chunk(self, url: str) -> bytes:
        k = int(url.rsplit("/", 1)[1])
        order = self.cat.offer_order[k * self.CHUNK:(k + 1) * self.CHUNK]
        return self.cat.render(lambda: [o for o in (self.cat.offer(i) for i in order) if o is not None])

    def close(self) -> None:
        pass


class _RssSampler:
    """Samples the resident set size every 20 ms: the peak *during* the audit, not the process's life."""

    def __init__(self) -> None:
        import threading

        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(0.02)

    def __enter__(self) -> _RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def service_mode(n: int, rate: float, seed: int, use_tracemalloc: bool = False) -> dict:
    from marketbridge.adapters.db.migrate import upgrade
    from marketbridge.bootstrap import build_runtime
    from marketbridge.services.audit import run_audit
    from marketbridge.settings import load_settings

    cat = _Catalogue(n, rate, seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        upgrade(url)
        runtime = build_runtime(load_settings(database_url=url, audit_confirm_limit=n))
        magento = _PagedMagento(cat)
        runtime.__dict__["magento"] = magento
        runtime.__dict__["mirakl"] = _ExportingMirakl(cat)
        try:
            gc.collect()
            rss_before = _RssSampler.rss()
            if use_tracemalloc:
                tracemalloc.start()
            with _RssSampler() as sampler:
                started, cpu_started = time.perf_counter(), time.process_time()
                outcome = run_audit(runtime)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            peak = tracemalloc.get_traced_memory()[1] if use_tracemalloc else 0
            if use_tracemalloc:
                tracemalloc.stop()
        finally:
            runtime.close()
    found = {(d.kind.value, d.magento_sku, d.offer_sku) for d in outcome.drifts}
    return {"mode": "service", "skus": n, "offers": outcome.offer_count, "offer_source": outcome.offer_source,
            "seeded": len(cat.truth), "elapsed_s": elapsed - cat.remote_seconds, "wall_s": elapsed, "cpu_s": cpu,
            "remote_s": cat.remote_seconds, "audit_peak_mb": peak / 2**20, "rss_before_mb": rss_before / 2**20,
            "rss_peak_audit_mb": sampler.peak / 2**20, "magento_calls": magento.calls, **score(found, cat.truth)}


# ----------------------------------------------------------------------------- http mode
def clean_catalogue(n: int, seed: int):
    """The seed catalogue with its deliberate oddities removed, so the only drift is what we seed."""
    from marketbridge.sandbox.catalogue import seed_catalogue

    catalogue = seed_catalogue(n, seed)
    for product in catalogue:
        product.status, product.manage_stock, product.special_price = 1, True, None
        if product.marketplace_sku is not None:
            product.marketplace_sku = product.sku
    return catalogue


def seed_drift(catalogue, mirakl_state, rate: float, seed: int) -> set:
    """Change the marketplace side directly (as an operator would), 1% of SKUs per kind."""
    from marketbridge.sandbox.mirakl.offers import Offer

    rng = random.Random(seed)
    on_market = [p for p in catalogue if p.marketplace_sku is not None]
    per_kind = int(len(catalogue) * rate)
    kinds = [k for k in KINDS if k is not DriftKind.OFFER_WITHOUT_PRODUCT]
    chosen = rng.sample(on_market, per_kind * len(kinds))
    truth: set = set()
    offers = mirakl_state.offers
    for index, product in enumerate(chosen):
        kind = kinds[index // per_kind]
        offer = offers[product.sku]
        if kind is DriftKind.MISSING_ON_MARKETPLACE:
            offer.deleted = True
            truth.add((kind.value, product.sku, None))
        elif kind is DriftKind.SKU_FORMAT_MISMATCH:
            del offers[product.sku]
            offer.shop_sku = product.sku.lower() + " "
            offers[offer.shop_sku] = offer
            truth.add((kind.value, product.sku, offer.shop_sku))
        elif kind is DriftKind.QUANTITY_MISMATCH:
            offer.quantity += 7
            truth.add((kind.value, product.sku, product.sku))
        elif kind is DriftKind.PRICE_MISMATCH:
            offer.price = round(offer.price + 1.5, 2)
            truth.add((kind.value, product.sku, product.sku))
        elif kind is DriftKind.OFFER_INACTIVE:
            offer.manual_reasons = [INACTIVE_REASON]
            offer.quantity = max(offer.quantity, 1)
            truth.add((kind.value, product.sku, product.sku))
    any_product = next(iter(offers.values())).product
    for i in range(per_kind):
        sku = f"GHOST-{i:06d}"
        offers[sku] = Offer(offer_id=900_000 + i, shop_sku=sku, product=any_product, price=9.99, quantity=3)
        truth.add((DriftKind.OFFER_WITHOUT_PRODUCT.value, None, sku))
    return truth


def http_mode(n: int, rate: float, seed: int) -> dict:
    from marketbridge.adapters.db.migrate import upgrade
    from marketbridge.bootstrap import build_runtime
    from marketbridge.sandbox.magento.app import create_app as create_magento
    from marketbridge.sandbox.mirakl.app import create_app as create_mirakl
    from marketbridge.sandbox.server import serve_in_thread
    from marketbridge.services.audit import run_audit
    from marketbridge.settings import load_settings

    t0 = time.perf_counter()
    catalogue = clean_catalogue(n, seed)
    for product in catalogue:  # an inactive-seeded offer must not also differ in quantity
        if product.qty == 0 and product.marketplace_sku is not None:
            product.qty = 1.0
    magento_app = create_magento(catalogue)
    mirakl_app = create_mirakl(catalogue, rate_scale=0.01)
    truth = seed_drift(catalogue, mirakl_app.state.sandbox, rate, seed)
    servers = [serve_in_thread(magento_app), serve_in_thread(mirakl_app)]
    setup = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        upgrade(url)
        settings = load_settings(database_url=url, magento_base_url=servers[0].url, mirakl_base_url=servers[1].url,
                                 mirakl_rate_limit_scale=0.01)
        runtime = build_runtime(settings)
        try:
            gc.collect()
            rss_before = rss_mb()
            tracemalloc.start()
            started = time.perf_counter()
            outcome = run_audit(runtime)
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            runtime.close()
            for server in servers:
                server.stop()
    found = {(d.kind.value, d.magento_sku, d.offer_sku) for d in outcome.drifts}
    return {"mode": "http", "skus": len(catalogue), "offers": outcome.offer_count, "offer_source": outcome.offer_source,
            "seeded": len(truth), "setup_s": setup, "elapsed_s": elapsed, "audit_peak_mb": peak / 2**20,
            "rss_before_audit_mb": rss_before, **score(found, truth)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=0.01, help="Seeded drift per kind (0.01 = 1%%).")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mode", choices=("service", "http", "memory"), default="service")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="Also trace Python allocations (slows allocation-heavy code several times).")
    args = parser.parse_args()
    if args.mode == "service":
        result = service_mode(args.products, args.rate, args.seed, args.tracemalloc)
    else:
        result = {"memory": memory_mode, "http": http_mode}[args.mode](args.products, args.rate, args.seed)
    result["peak_rss_mb"] = rss_mb()
    print(f"mode            {result['mode']}")
    print(f"SKUs            {result['skus']:,}   seeded drift rows {result['seeded']:,}")
    if "magento_calls" in result:
        print(f"offers          {result['offers']:,} via {result['offer_source']}   Magento calls {result['magento_calls']:,}")
    if "setup_s" in result:
        print(f"sandbox setup   {result['setup_s']:.1f} s (not timed)   offers {result['offers']:,} via {result['offer_source']}")
    print(f"elapsed         {result['elapsed_s']:.2f} s   (target < 60 s)")
    if "wall_s" in result:
        print(f"                wall {result['wall_s']:.2f} s incl. {result['remote_s']:.2f} s rendering the APIs' JSON;"
              f" CPU {result['cpu_s']:.2f} s")
        print(f"RSS during run  {result['rss_peak_audit_mb']:.0f} MB peak (before: {result['rss_before_mb']:.0f} MB;"
              f" target < 400 MB)")
    if result["audit_peak_mb"]:
        print(f"audit peak      {result['audit_peak_mb']:.0f} MB (tracemalloc, timed part)")
    print(f"process max RSS {result['peak_rss_mb']:.0f} MB (whole life of the process)")
    print(f"recall          {result['recall']:.2%}")
    print(f"precision       {result['precision']:.2%}")
    for kind, (hit, total) in result["per_kind"].items():
        print(f"  {kind:<24} {hit:>6} / {total}")
    if result["missed"] or result["false"]:
        print(f"missed (first 5): {result['missed']}")
        print(f"false  (first 5): {result['false']}")


if __name__ == "__main__":
    main()
