"""Soak: the whole integration under faults and kills, then a three-way check.

    python bench/soak.py            # full run: 1,000 orders, 20,000 stock changes, 200 price changes
    python bench/soak.py --quick    # one tenth of that, a few minutes
    python bench/soak.py --quick --database-url postgresql://postgres@127.0.0.1/soak --workers 2
                                    # scale-out: two workers, one killed for good half way

Separate processes, real HTTP on loopback only:
  * ``marketbridge sandbox`` (both simulators) with faults injected on their APIs: 5 % HTTP 500,
    5 % 429 with Retry-After, 2 % time-outs, latency spikes;
  * one or two ``marketbridge run`` workers, killed with SIGKILL at random moments (at least five
    times) and restarted;
  * this process, acting as customers, the marketplace operator and the warehouse through the
    sandboxes' control APIs: orders placed and paid, 5 % cancelled before shipment, shipped in
    Magento with tracking, 10 % partially refunded by credit memo; stock and price changes.

When the activity is over, faults are removed, the service is given time to drain, and a
checker compares the three sides (sandbox Magento, sandbox marketplace, our database). It prints
one line per invariant and the last line
``lost=N duplicated=N unconfirmed_shipments=N unsynced_refunds=N stock_mismatches=N unexplained_exceptions=N``.
The exit code is 0 only when every count is zero.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parents[1]
SEED = 11
MAPPED_CARRIERS = [("royalmail", "Royal Mail"), ("dpd", "DPD UK"), ("dhl", "DHL UK"), ("ups", "UPS")]
# Exception types a soak legitimately produces because of conditions it injects itself: stock
# set to 0 under a new order (refused), and the customer cancellations it makes (John Lewis
# refunds the cancelled lines itself, which finance is told about). A totals mismatch is
# explained only when one of the order's SKUs had its price changed by the soak.
EXPLAINED_EXCEPTION_TYPES = {
    "order_refused",
    "order_waiting_for_stock",  # stock set to 0 between acceptance and payment; see World.act_as_ops
    "order_cancelled_after_shipment",
    "marketplace_refund_recorded",
}
PRICE_EXPLAINED_TYPES = {"order_totals_mismatch"}


@dataclass
class Size:
    orders: int
    stock_changes: int
    price_changes: int
    products: int
    kills: int
    seconds: float


FULL = Size(orders=1000, stock_changes=20000, price_changes=200, products=600, kills=6, seconds=900)
QUICK = Size(orders=100, stock_changes=2000, price_changes=20, products=200, kills=5, seconds=150)


def say(text: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """The sandbox process and the worker processes, with the environment they share."""

    database_url: str
    workdir: Path
    size: Size
    workers: int
    rate_scale: float
    magento_port: int = field(default_factory=free_port)
    mirakl_port: int = field(default_factory=free_port)
    web_ports: list[int] = field(default_factory=list)
    sandbox: subprocess.Popen[bytes] | None = None
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: int = 0
    restarts: int = 0
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))  # `run` needs one

    def env(self, index: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "MARKETBRIDGE_DATABASE_URL": self.database_url,
                "MARKETBRIDGE_EXECUTOR_ID": f"soak-worker-{index}",
                "MARKETBRIDGE_MAGENTO_BASE_URL": f"http://127.0.0.1:{self.magento_port}",
                "MARKETBRIDGE_MIRAKL_BASE_URL": f"http://127.0.0.1:{self.mirakl_port}",
                "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": str(self.rate_scale),
                "MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY_FILE": str(self.workdir / "webhook-key.pem.pub"),
                "MARKETBRIDGE_MAGENTO_TIMEOUT_SECONDS": "5",
                "MARKETBRIDGE_MIRAKL_TIMEOUT_SECONDS": "5",
                "MARKETBRIDGE_ORDER_POLL_CRON": "*/3 * * * * *",
                "MARKETBRIDGE_ORDER_POLL_OVERLAP_SECONDS": "60",
                "MARKETBRIDGE_ORDER_STOCK_RETRY_SECONDS": "10",
                "MARKETBRIDGE_STOCK_POLL_CRON": "*/20 * * * * *",
                "MARKETBRIDGE_STOCK_PUSH_CRON": "*/2 * * * * *",
                "MARKETBRIDGE_SHIPMENT_POLL_CRON": "*/5 * * * * *",
                "MARKETBRIDGE_SHIPMENT_WATCH_CRON": "*/30 * * * * *",
                "MARKETBRIDGE_REFUND_POLL_CRON": "*/5 * * * * *",
                "MARKETBRIDGE_REFUND_FOLLOW_CRON": "*/10 * * * * *",
                "MARKETBRIDGE_CATALOGUE_PUBLISH_ENABLED": "false",
                "MARKETBRIDGE_AUDIT_ENABLED": "false",
                "MARKETBRIDGE_STALE_EXECUTOR_SECONDS": "10",
                "MARKETBRIDGE_SWEEPER_CRON": "*/5 * * * * *",
                "MARKETBRIDGE_ACCEPTANCE_POLICY": "refuse",
                "MARKETBRIDGE_WEB_PORT": str(self.web_ports[index]),
                "MARKETBRIDGE_SESSION_SECRET": self.session_secret,
            }
        )
        return env

    def start_sandbox(self) -> None:
        log = open(self.workdir / "sandbox.log", "ab")  # noqa: SIM115
        self.sandbox = subprocess.Popen(
            [sys.executable, "-m", "marketbridge", "sandbox",
             "--magento-port", str(self.magento_port), "--mirakl-port", str(self.mirakl_port),
             "--products", str(self.size.products), "--seed", str(SEED), "--rate-scale", str(self.rate_scale),
             "--webhook-url", f"http://127.0.0.1:{self.web_ports[0]}/webhooks/adobe-commerce",
             "--webhook-key", str(self.workdir / "webhook-key.pem")],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
        )
        wait_http(f"http://127.0.0.1:{self.mirakl_port}/_sandbox/state")
        wait_http(f"http://127.0.0.1:{self.magento_port}/_sandbox/state")

    def start_worker(self, index: int) -> None:
        log = open(self.workdir / f"worker-{index}.log", "ab")  # noqa: SIM115
        self.procs[index] = subprocess.Popen(
            [sys.executable, "-m", "marketbridge", "run"],
            env=self.env(index), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
        )

    def wait_ready(self, index: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[index]
            if proc.poll() is not None:
                tail = (self.workdir / f"worker-{index}.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"worker {index} exited with {proc.returncode} at start-up:\n{tail}")
            with contextlib.suppress(TimeoutError):
                wait_http(f"http://127.0.0.1:{self.web_ports[index]}/healthz", 2)
                return
        raise TimeoutError(f"worker {index} not ready after {timeout:.0f} s")

    def kill(self, index: int) -> None:
        proc = self.procs.get(index)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.kills += 1

    def stop(self) -> None:
        for proc in [*self.procs.values(), self.sandbox]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{url} not answering after {timeout:.0f} s")


class World:
    """Customers, operator and warehouse, acting through the control APIs (never faulted)."""

    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        self.rng = rng
        self.mirakl = httpx2.Client(base_url=f"http://127.0.0.1:{cluster.mirakl_port}", timeout=30)
        self.magento = httpx2.Client(base_url=f"http://127.0.0.1:{cluster.magento_port}", timeout=30)
        self.placed: list[str] = []
        self.paid: set[str] = set()
        self.cancelled: set[str] = set()
        self.shipped: dict[str, str] = {}  # marketplace order id -> tracking number
        self.refunded: set[str] = set()
        self.stock_changes = 0
        self.price_changes = 0
        self.repriced: set[str] = set()
        self.order_skus: dict[str, list[str]] = {}
        self.restocked: set[str] = set()
        # what the soak did to each SKU, with wall-clock times: the dossier of a stock mismatch
        self.timeline: dict[str, list[str]] = {}
        from marketbridge.sandbox.catalogue import seed_catalogue

        # The sandbox is seeded with the same catalogue (same size and seed), so both sides agree.
        self.offer_skus = [
            p.sku for p in seed_catalogue(cluster.size.products, SEED)
            if p.marketplace_sku == p.sku and p.status == 1 and p.manage_stock
        ]

    def offers(self) -> list[str]:
        return self.offer_skus

    def note(self, skus: Iterable[str], event: str) -> None:
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        for sku in skus:
            self.timeline.setdefault(sku, []).append(f"{stamp} {event}")

    def place_order(self) -> None:
        """A customer buys one or two offers; an offer at 0 cannot be bought, so a customer whose
        pick is out of stock picks again (the run must place its full count of orders)."""
        for _ in range(20):
            skus = self.rng.sample(self.offers(), self.rng.choice([1, 1, 2]))
            lines = [{"offer_sku": sku, "quantity": 1} for sku in skus]
            response = self.mirakl.post("/_sandbox/orders", json={"lines": lines})
            if response.status_code < 300:
                order_id = response.json()["order_id"]
                self.placed.append(order_id)
                self.order_skus[order_id] = skus
                self.note(skus, f"order {order_id} placed")
                return

    def marketplace_order(self, order_id: str) -> dict[str, Any]:
        response = self.mirakl.get(f"/_sandbox/orders/{order_id}")
        return response.json() if response.status_code == 200 else {}

    def undecided(self) -> dict[str, int]:
        """Marketplace orders not yet through acceptance and payment: their units are off the offer
        and not yet in Adobe Commerce, so the three sides cannot agree until they settle."""
        by_state = self.mirakl.get("/_sandbox/state").json().get("orders_by_state", {})
        return {state: n for state, n in by_state.items()
                if state in ("STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT") and n}

    def pay_accepted(self) -> None:
        for order_id in self.placed:
            if order_id in self.paid or order_id in self.cancelled:
                continue
            if self.marketplace_order(order_id).get("order_state") == "WAITING_DEBIT":
                if self.mirakl.post(f"/_sandbox/orders/{order_id}/debit").status_code < 300:
                    self.paid.add(order_id)
                    self.note(self.order_skus.get(order_id, ()), f"order {order_id} paid")

    def magento_order(self, order_id: str) -> dict[str, Any] | None:
        """The warehouse's view (the sandbox control API, never faulted)."""
        response = self.magento.get("/_sandbox/orders", params={"ext_order_id": order_id})
        rows = response.json() if response.status_code == 200 else []
        return rows[0] if rows else None

    def cancel_some(self, share: float) -> None:
        for order_id in list(self.paid):
            if order_id in self.cancelled or order_id in self.shipped:
                continue
            if self.rng.random() < share:
                if self.mirakl.post(f"/_sandbox/orders/{order_id}/cancel").status_code < 300:
                    self.cancelled.add(order_id)
                    self.note(self.order_skus.get(order_id, ()), f"order {order_id} cancelled by the customer")

    def ship_created(self, *, book_in_missing: bool = False) -> None:
        """Ship what Magento has created. Magento refuses a shipment its source cannot cover (the soak's
        stock counts set quantities outright, to 0 too); once the activity is over the warehouse books
        the missing units in (a stock change the service must publish) and ships on the next round."""
        for order_id in list(self.paid):
            if order_id in self.shipped or order_id in self.cancelled:
                continue
            order = self.magento_order(order_id)
            if order is None or order.get("state") not in ("processing", "new"):
                continue
            code, title = self.rng.choice(MAPPED_CARRIERS)
            tracking = f"SOAK{self.rng.randint(10**9, 10**10 - 1)}"
            payload = {"order_id": order["entity_id"], "carrier_code": code, "title": title, "track_number": tracking}
            response = self.magento.post("/_sandbox/ship", json=payload)
            if response.status_code < 300:
                self.shipped[order_id] = tracking
                self.note(self.order_skus.get(order_id, ()), f"order {order_id} shipped")
            elif book_in_missing and "available in the requested quantity" in response.text:
                for sku in sorted({item["sku"] for item in order.get("items", []) if item.get("sku")}):
                    if self.magento.post("/_sandbox/stock", json={"sku": sku, "qty": 10}).status_code < 300:
                        self.note([sku], f"booked in to 10 by the warehouse to ship {order_id}")

    def refund_some(self, share: float) -> None:
        for order_id in list(self.shipped):
            if order_id in self.refunded or self.rng.random() >= share:
                continue
            if self.marketplace_order(order_id).get("order_state") not in ("SHIPPED", "RECEIVED"):
                continue  # refund only once the shipment is confirmed, as a merchant would
            order = self.magento_order(order_id)
            if order is None:
                continue
            items = [i for i in order.get("items", []) if not i.get("parent_item_id")]
            if not items:
                continue
            item = items[0]
            body = {"order_id": order["entity_id"], "items": [{"order_item_id": item["item_id"], "qty": 1}],
                    "arguments": {"shipping_amount": 0}}
            if self.magento.post("/_sandbox/creditmemo", json=body).status_code < 300:
                self.refunded.add(order_id)
                self.note([item.get("sku", "?")], f"order {order_id} refunded 1 unit")

    def act_as_ops(self, database_url: str) -> int:
        """What the Ops guide asks of a person for ``order_waiting_for_stock``: book the stock in
        (the order then goes through by itself). Done once the activity is over."""
        from sqlalchemy import select

        from marketbridge.adapters.db.models.core import ExceptionRecord
        from marketbridge.adapters.db.session import Database

        db = Database(database_url)
        try:
            with db.session() as session:
                waiting = session.scalars(select(ExceptionRecord).where(
                    ExceptionRecord.type == "order_waiting_for_stock",
                    ExceptionRecord.state.in_(("open", "acknowledged")))).all()
                skus = sorted({sku for record in waiting for sku in (record.context or {}).get("skus", [])})
        finally:
            db.dispose()
        for sku in skus:
            if sku not in self.restocked:
                self.magento.post("/_sandbox/stock", json={"sku": sku, "qty": 10})
                self.restocked.add(sku)
                self.note([sku], "restocked to 10 by Ops")
        return len(skus)

    def stock_change(self, skus: list[str]) -> None:
        sku = self.rng.choice(skus)
        qty = self.rng.choice([0, 1, 3, 5, 10, 25, 60, 100])
        if self.magento.post("/_sandbox/stock", json={"sku": sku, "qty": qty}).status_code < 300:
            self.stock_changes += 1
            self.note([sku], f"source quantity set to {qty}")

    def price_change(self, skus: list[str]) -> None:
        sku = self.rng.choice(skus)
        price = round(self.rng.uniform(5, 300), 2)
        response = httpx2.put(
            str(self.magento.base_url) + f"/rest/all/V1/products/{sku}",
            json={"product": {"sku": sku, "price": price}},
            headers={"Authorization": "Bearer sandbox-magento-token"}, timeout=30,
        )
        if response.status_code < 300:
            self.price_changes += 1
            self.repriced.add(sku)
            self.note([sku], f"price set to {price}")


def inject_faults(cluster: Cluster, on: bool) -> None:
    rules = [{
        "endpoint": "*", "error_rate": 0.05, "rate_limit_rate": 0.05, "retry_after": 1,
        "timeout_rate": 0.02, "timeout_seconds": 6, "latency_spike_rate": 0.05, "latency_ms": 800,
    }]
    for port in (cluster.magento_port, cluster.mirakl_port):
        url = f"http://127.0.0.1:{port}/_sandbox/faults"
        if on:
            httpx2.post(url, json={"rules": rules, "seed": 5}, timeout=10).raise_for_status()
        else:
            httpx2.delete(url, timeout=10).raise_for_status()


# --- the checker -----------------------------------------------------------------------------
@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unconfirmed_shipments: list[str] = field(default_factory=list)
    unsynced_refunds: list[str] = field(default_factory=list)
    stock_mismatches: list[str] = field(default_factory=list)
    unexplained_exceptions: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.__dataclass_fields__}

    @property
    def clean(self) -> bool:
        return not any(self.counts().values())


def check(cluster: Cluster, world: World) -> Verdict:
    from sqlalchemy import select

    from marketbridge.adapters.db.models.core import ExceptionRecord
    from marketbridge.adapters.db.session import Database
    from marketbridge.adapters.magento.client import MagentoClient
    from marketbridge.adapters.mirakl.client import MiraklClient
    from marketbridge.domain.stock import ProductFacts, publishable_quantity
    from marketbridge.services.skus import all_links
    from marketbridge.services.stock.reading import product_read
    from marketbridge.services.stock.rules import load_rules
    from marketbridge.settings import load_settings

    verdict = Verdict()
    magento = MagentoClient(f"http://127.0.0.1:{cluster.magento_port}", "sandbox-magento-token")
    mirakl = MiraklClient(f"http://127.0.0.1:{cluster.mirakl_port}", "sandbox-mirakl-key", rate_scale=0.001)
    db = Database(cluster.database_url)

    # 1. every paid order exists in Magento exactly once (cancelled ones at most once)
    by_ext: Counter[str] = Counter()
    magento_orders: dict[str, Any] = {}
    for order in magento.iterate_orders():
        if order.ext_order_id:
            by_ext[order.ext_order_id] += 1
            magento_orders[order.ext_order_id] = order
    for order_id in sorted(world.paid):
        if by_ext[order_id] > 1:
            verdict.duplicated.append(order_id)
        elif by_ext[order_id] == 0 and order_id not in world.cancelled:
            verdict.lost.append(order_id)
    say(f"invariant orders: {len(world.paid)} paid, {len(world.cancelled)} cancelled, "
        f"{sum(1 for o in world.paid if by_ext[o] == 1)} exactly once in Magento, "
        f"lost={len(verdict.lost)} duplicated={len(verdict.duplicated)}")

    # 2. every Magento shipment of a marketplace order is confirmed with its tracking
    # The marketplace side is read through the simulator's control API: OR11 is rate limited
    # and the workers still use it (a full run's checker once died on its 429).
    from marketbridge.adapters.mirakl.models import Order as MarketplaceOrder

    def sold(order_id: str) -> Any:
        raw = world.marketplace_order(order_id)
        return MarketplaceOrder.model_validate(raw) if raw else None

    ids = sorted(world.shipped)
    marketplace: dict[str, Any] = {order_id: sold(order_id) for order_id in ids}
    for order_id, tracking in world.shipped.items():
        order = marketplace.get(order_id)
        state = getattr(order, "order_state", None)
        tracked = tracking in str(order.model_dump()) if order is not None else False
        if state not in ("SHIPPED", "RECEIVED", "CLOSED") or not tracked:
            verdict.unconfirmed_shipments.append(f"{order_id} ({state}, tracking {'found' if tracked else 'missing'})")
    say(f"invariant shipments: {len(world.shipped)} shipped in Magento, "
        f"unconfirmed={len(verdict.unconfirmed_shipments)}")

    # 3. every credit memo is a marketplace refund of the same amount, once. Where the soak
    # repriced a SKU between the sale and the order's creation, Magento's line carries the new
    # price: a refunded unit is then the unit the customer paid on the marketplace.
    memo_totals: dict[str, Decimal] = {}
    by_entity = {o.entity_id: o for o in magento_orders.values()}
    for memo in magento.iterate_creditmemos():
        order = by_entity.get(memo.order_id)
        if order is None:
            continue
        if order.ext_order_id in world.cancelled:
            # the memo with which marketbridge cancels an invoiced order: John Lewis refunds its own
            # cancellations (the soak only refunds shipped orders, and only cancels unshipped ones)
            continue
        sale = marketplace.get(order.ext_order_id) or sold(order.ext_order_id)
        marketplace[order.ext_order_id] = sale
        unit_paid = {line.offer_sku: Decimal(str(line.price)) / line.quantity
                     for line in (sale.order_lines if sale is not None else []) if line.quantity}
        expected = Decimal(str(memo.grand_total or 0))
        for item in memo.items:
            if not item.qty or item.sku not in unit_paid:
                continue
            row = Decimal(str(item.row_total or 0)) + Decimal(str(item.tax_amount or 0))
            if not row:  # a configurable's child row: the parent row carries the price
                continue
            if abs(row / Decimal(str(item.qty)) - unit_paid[item.sku]) > Decimal("0.01"):
                expected += (unit_paid[item.sku] * Decimal(str(item.qty)) - row).quantize(Decimal("0.01"))
        memo_totals[order.ext_order_id] = memo_totals.get(order.ext_order_id, Decimal(0)) + expected
    for order_id, memo_total in memo_totals.items():
        order = marketplace.get(order_id) or sold(order_id)
        refunded = Decimal(0)
        if order is not None:
            for line in order.order_lines:
                for refund in line.refunds or []:
                    refunded += Decimal(str(refund.amount or 0)) + Decimal(str(getattr(refund, "shipping_amount", 0) or 0))
        if abs(refunded - memo_total) > Decimal("0.01"):
            verdict.unsynced_refunds.append(f"{order_id} (memos {memo_total}, marketplace {refunded})")
    say(f"invariant refunds: {len(memo_totals)} orders with credit memos, unsynced={len(verdict.unsynced_refunds)}")

    # 4. every offer quantity equals the channel rules applied to Magento's salable quantity
    with db.session() as session:
        rules = load_rules(session)
    unmanaged_default = load_settings(**{"database_url": cluster.database_url}).stock_unmanaged_default_quantity
    with db.session() as session:
        linked = all_links(session)  # offer SKU -> Magento SKU, confirmed by a person
    offers = {o.shop_sku: o for o in mirakl.list_offers()}
    dossiers: dict[str, Any] = {}
    for offer_sku, offer in sorted(offers.items()):
        sku = linked.get(offer_sku, offer_sku)
        try:
            read = product_read(magento.get_product(sku))
        except Exception:  # an offer with no Magento product is the audit's business, not this invariant's
            continue
        facts = ProductFacts(sku=sku, enabled=read.enabled, type_id=read.type_id,
                             manage_stock=read.manage_stock is not False,
                             attributes=read.attributes, category_ids=read.category_ids)
        salable = magento.salable_quantity(sku, 1) if facts.manage_stock else None
        expected, _ = publishable_quantity(salable, facts, rules, unmanaged_default=unmanaged_default)
        if int(offer.quantity or 0) != expected:
            verdict.stock_mismatches.append(f"{offer_sku!r} (marketplace {offer.quantity}, expected {expected})")
            try:
                dossiers[offer_sku] = stock_dossier(db, magento, world, sku, salable, offer.quantity)
            except Exception as error:  # noqa: BLE001 - the verdict matters more than its dossier
                dossiers[offer_sku] = {"dossier_failed": repr(error)}
    say(f"invariant stock: {len(offers)} offers compared, mismatched={len(verdict.stock_mismatches)}")
    if dossiers:
        path = cluster.workdir / "stock-mismatches.json"
        path.write_text(json.dumps(dossiers, indent=2, default=str))
        say(f"  what each mismatched SKU went through: {path}")

    # 5. every open exception is explained by an injected condition
    with db.session() as session:
        open_records = session.scalars(
            select(ExceptionRecord).where(ExceptionRecord.state.in_(("open", "acknowledged")))
        ).all()
        for record in open_records:
            if record.type in PRICE_EXPLAINED_TYPES and set(world.order_skus.get(record.object_id, ())) & world.repriced:
                continue
            if record.type not in EXPLAINED_EXCEPTION_TYPES:
                verdict.unexplained_exceptions.append(f"{record.type} {record.object_id}: {record.message[:120]}")
    say(f"invariant exceptions: {len(open_records)} open, unexplained={len(verdict.unexplained_exceptions)}")
    magento.close()
    mirakl.close()
    db.dispose()
    return verdict


def stock_dossier(db: Any, magento: Any, world: World, sku: str, salable: Any, marketplace_qty: Any) -> dict[str, Any]:
    """Everything the three sides know about one mismatched SKU, to find which step left it wrong."""
    from sqlalchemy import select

    from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine, OrderTransition
    from marketbridge.adapters.db.models.stock import SkuPushLog, SkuState, StockHint, SyncOutbox
    from marketbridge.adapters.magento.criteria import SearchCriteria

    def plain(row: Any) -> dict[str, Any]:
        return {c.name: getattr(row, c.name) for c in row.__table__.columns if c.name not in ("attributes",)}

    out: dict[str, Any] = {"sku": sku, "marketplace": marketplace_qty, "magento_salable": salable,
                           "soak_timeline": world.timeline.get(sku, [])}
    with contextlib.suppress(Exception):
        out["magento_source_items"] = [i.model_dump() for i in magento.iterate_source_items(criteria=SearchCriteria().where("sku", sku))]
    with db.session() as session:
        state = session.get(SkuState, sku)
        out["sku_state"] = plain(state) if state else None
        hint = session.get(StockHint, sku)
        out["hint_left"] = plain(hint) if hint else None
        out["outbox"] = [plain(r) for r in session.scalars(select(SyncOutbox).where(SyncOutbox.sku == sku))]
        out["pushes"] = [plain(r) for r in session.scalars(
            select(SkuPushLog).where(SkuPushLog.sku == sku).order_by(SkuPushLog.id))]
        orders = session.scalars(select(MarketplaceOrder).join(OrderLine, OrderLine.order_pk == MarketplaceOrder.id)
                                 .where(OrderLine.magento_sku == sku)).unique().all()
        out["orders"] = []
        for order in orders:
            transitions = session.scalars(select(OrderTransition).where(OrderTransition.order_pk == order.id)
                                          .order_by(OrderTransition.id)).all()
            out["orders"].append({
                "order_id": order.order_id, "state": order.state, "marketplace_state": order.marketplace_state,
                "magento_entity_id": order.magento_entity_id,
                "marketplace_now": world.marketplace_order(order.order_id).get("order_state"),
                "magento_now": (world.magento_order(order.order_id) or {}).get("state"),
                "transitions": [f"{t.at:%H:%M:%S.%f} {t.from_state}->{t.to_state} ({t.actor})" for t in transitions],
            })
    return out


def run(args: argparse.Namespace) -> int:
    from marketbridge.sandbox.catalogue import TRAILING_SPACE_SKU

    size = QUICK if args.quick else FULL
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="marketbridge-soak-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'soak.sqlite'}"
    cluster = Cluster(database_url, workdir, size, args.workers, args.rate_scale)
    cluster.web_ports = [free_port() for _ in range(args.workers)]
    say(f"workdir {workdir}; database {database_url.split('@')[-1]}; {args.workers} worker(s); size {size}")
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "-m", "marketbridge", "db", "upgrade"],
                       env=cluster.env(0), check=True, capture_output=True)
        # Set-up an Ecommerce person does once: the seeded offer whose SKU has a trailing space
        # on the marketplace is confirmed as its Magento product (every flow then uses the link).
        subprocess.run([sys.executable, "-m", "marketbridge", "skus", "link", TRAILING_SPACE_SKU + " ",
                        TRAILING_SPACE_SKU, "--actor", "soak"], env=cluster.env(0), check=True, capture_output=True)
        cluster.start_sandbox()
        for index in range(args.workers):
            cluster.start_worker(index)
        for index in range(args.workers):
            cluster.wait_ready(index)
        world = World(cluster, rng)
        skus = world.offers()
        inject_faults(cluster, True)
        say("faults on; activity starts")

        period = size.seconds
        kill_times = sorted(rng.uniform(0.05, 0.95) * period for _ in range(size.kills))
        retired: set[int] = set()
        t0 = time.monotonic()
        orders_per_tick = -(-size.orders // 60)
        stock_per_tick = -(-size.stock_changes // 60)
        tick = period / 60
        for n in range(60):
            for _ in range(orders_per_tick):
                if len(world.placed) < size.orders:
                    world.place_order()
            for _ in range(stock_per_tick):
                world.stock_change(skus)
            if rng.random() < size.price_changes / 60:
                world.price_change(skus)
            while world.price_changes < size.price_changes * (n + 1) / 60:
                world.price_change(skus)
            world.pay_accepted()
            world.cancel_some(0.05 / 4)
            world.ship_created()
            world.refund_some(0.10)
            elapsed = time.monotonic() - t0
            while kill_times and kill_times[0] <= elapsed:
                kill_times.pop(0)
                victim = rng.choice([i for i in range(args.workers) if i not in retired])
                if args.workers > 1 and not retired and elapsed > period / 2:
                    cluster.kill(victim)
                    retired.add(victim)
                    say(f"worker {victim} killed for good (scale-out run)")
                else:
                    cluster.kill(victim)
                    time.sleep(rng.uniform(0.2, 2.0))
                    cluster.start_worker(victim)
                    cluster.restarts += 1
                    say(f"worker {victim} killed with SIGKILL and restarted ({cluster.kills} kills)")
            time.sleep(max(0.0, t0 + (n + 1) * tick - time.monotonic()))
        inject_faults(cluster, False)
        say(f"activity over: {len(world.placed)} orders placed, {world.stock_changes} stock changes, "
            f"{world.price_changes} price changes, {cluster.kills} kills; faults off, draining")

        drain_deadline = time.monotonic() + args.drain_seconds
        pending: list[str] = []
        undecided: dict[str, int] = {}
        while time.monotonic() < drain_deadline:
            world.act_as_ops(cluster.database_url)
            world.pay_accepted()
            world.ship_created(book_in_missing=True)
            world.refund_some(0.10 if len(world.refunded) < 0.1 * len(world.paid) else 0.0)
            time.sleep(5)
            pending = [o for o in world.paid if o not in world.cancelled and o not in world.shipped]
            undecided = world.undecided()
            if not pending and not undecided and time.monotonic() > drain_deadline - args.drain_seconds / 2:
                break
        else:
            say(f"drain deadline reached with {len(pending)} paid orders not shipped and orders still "
                f"undecided or unpaid on the marketplace: {undecided or 'none'}")
        time.sleep(args.settle_seconds)
        verdict = check(cluster, world)
        counts = verdict.counts()
        for name in counts:
            for item in getattr(verdict, name)[:10]:
                say(f"  {name}: {item}")
        say(f"elapsed {time.monotonic() - started:.0f} s")
        print(" ".join(f"{k}={v}" for k, v in counts.items()), flush=True)
        return 0 if verdict.clean else 1
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one tenth of the full size")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rate-scale", type=float, default=0.02, help="Mirakl call intervals multiplied by this")
    parser.add_argument("--drain-seconds", type=float, default=240)
    parser.add_argument("--settle-seconds", type=float, default=20)
    args = parser.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
