"""Soak: the whole integration under faults and kills, then a three-way check.

    python bench/soak.py            # full run: 1,000 orders, 20,000 stock changes, 200 price changes
    python bench/soak.py --quick    # one tenth of that, a few minutes
    python bench/soak.py --quick --database-url postgresql://postgres@127.0.0.1/soak --workers 2
                                    # scale-out: two workers, one killed for good half way
    python bench/soak.py --real-orders   # OR11 at its real pace (once a minute), everything else scaled

Separate processes, real HTTP on loopback only:
  * ``marketbridge sandbox`` (both simulators) with faults injected on their APIs in windows (on for
    a tenth of the run, then off for as long, in turn): 5 % HTTP 500, 5 % 429 with Retry-After,
    2 % time-outs, latency spikes;
  * one or two ``marketbridge run`` workers, killed with SIGKILL at random moments (at least five
    times) and restarted; Adobe Commerce's webhooks reach them through a small router, as through
    a load balancer (whichever worker is up);
  * this process, acting as customers, the marketplace operator and the warehouse through the
    sandboxes' control APIs: orders placed and paid, 5 % cancelled before shipment, shipped in
    Magento with tracking, 10 % partially refunded by credit memo; stock and price changes.

The stock flow's fallback poll is set to once a year: a change the flow loses stays lost, for the
checker to see (the poll, every 5 minutes in production, would otherwise repair it first).

While the activity runs, a sampler reads the three sides every ``--sample-seconds`` (offer
quantities, Magento's salable quantities, the units our database holds back) and times every
episode in which an offer stood above what Adobe Commerce and the channel rules allow, outside
the fault windows and worker outages (see ``bench/soak_watch.py``). The target is two stock
windows (60 s x rate scale each) plus ``--processing-seconds``. A customer cancellation puts its
units back on the offer at once, while Adobe Commerce reserves them until the order feed brings the
cancellation in: until our database records it, the judge allows those units on top (they exist),
and the ``order feed:`` line reports how long that took (the order feed's latency, issue 20).

Orders are judged on the same windows: ``late_orders`` counts the orders paid but not in Adobe
Commerce within two feed intervals plus ``--order-processing-seconds`` outside faults and outages
(``bench/soak_orders.py``). The feed interval is the orders poll's period (3 s) or OR11's pace
(60 s x rate scale), the slower; with ``--real-orders`` the simulator and the service keep OR11 at
its real minute (per-API paces: ``/_sandbox/rate-limits`` and ``MARKETBRIDGE_MIRAKL_MIN_INTERVALS``)
and every schedule that reads OR11 (orders poll, shipment watch, refund follow) runs at its
default, so the target is 130 s.

When the activity is over, faults are removed and the warehouse ships the day's remaining orders
(the end-of-day dispatch wave); the drain then waits, up to ``--drain-seconds``, until shipments,
credit memos and stock have settled, and the checker compares the three sides at once. It prints
one line per invariant, what is still in flight with its age, the longest oversell episodes, and
the last line
``lost=N duplicated=N unconfirmed_shipments=N unsynced_refunds=N stock_mismatches=N unexplained_exceptions=N
late_orders=N unsettled=N max_oversell_seconds=X``.
The exit code is 0 only when every failure count is zero (``unsettled`` is reported, not a failure:
what it leaves wrong is counted in the others, except orders still undecided or unpaid on the
marketplace, which it lists too) and max_oversell_seconds is within the target.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import soak_orders
import soak_watch
from _common import free_port, wait_http
from soak_watch import Disturbances, OversellWatch, clock

ROOT = Path(__file__).resolve().parents[1]
SEED = 11
MAPPED_CARRIERS = [("royalmail", "Royal Mail"), ("dpd", "DPD UK"), ("dhl", "DHL UK"), ("ups", "UPS")]
# Issue types a soak legitimately produces because of conditions it injects itself: stock
# set to 0 under a new order (refused), and the customer cancellations it makes (John Lewis
# refunds the cancelled lines itself, which finance is told about). A totals mismatch is
# explained only when one of the order's SKUs had its price changed by the soak.
EXPLAINED_ISSUE_TYPES = {
    "order_refused",
    "order_waiting_for_stock",  # stock set to 0 between acceptance and payment; see World.act_as_ops
    "order_cancelled_after_shipment",
    "marketplace_refund_recorded",
}
PRICE_EXPLAINED_TYPES = {"order_totals_mismatch"}
SESSION_SECRET = secrets.token_urlsafe(36)  # 48 characters, new for every run
STOCK_POLL_NEVER = "0 0 0 1 1 *"
# A worker killed for good: its peer takes its workflows over once it is stale (the soak's
# MARKETBRIDGE_STALE_EXECUTOR_SECONDS) and the sweeper (every 5 s) has run.
TAKEOVER_SECONDS = 10 + 5
# Faults come in windows: on for FAULT_TICKS ticks, then off for as many (a tick is 1/60 of the run).
FAULT_TICKS = 6
# The oversell target is two stock windows plus this: the webhook, the re-read of the SKU, the
# upload, the simulator's import processing, the status poll, and one sampling interval of
# measuring error (an episode is timed from the sample that first sees it to the first that no
# longer does).
PROCESSING_SECONDS = 10.0
# The share of the sampler's sweeps that may fail (a worker restarting, a slow answer) before the
# oversell window counts as not measured, and the run fails.
MAX_MISSED_SAMPLES = 0.1


@dataclass
class Size:
    orders: int
    stock_changes: int
    price_changes: int
    products: int
    kills: int
    seconds: float


DEDUP_WINDOW_SECONDS = 7 * 24 * 3600  # the service's default webhook_dedup_seconds
FULL = Size(orders=1000, stock_changes=20000, price_changes=200, products=600, kills=6, seconds=900)
QUICK = Size(orders=100, stock_changes=2000, price_changes=20, products=200, kills=5, seconds=150)


def say(text: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", flush=True)


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
    router: WebhookRouter | None = None
    # --real-orders: OR11 at its real pace (once a minute) while every other API keeps the rate scale,
    # and the orders poll at its default (once a minute), as in production
    real_orders: bool = False
    # the order feed (issue 20): one OR11 read per interval hands every order to the orders flow and
    # starts its poll at once; the poll's own schedule is only the backstop (--no-order-feed: off)
    order_feed: bool = True

    @property
    def order_poll_seconds(self) -> float:
        return 60.0 if self.real_orders else 3.0

    @property
    def or11_seconds(self) -> float:
        """OR11's pace as the service and the simulator keep it in this run (seconds, scaled)."""
        return 60.0 if self.real_orders else 60.0 * self.rate_scale

    def real_or11(self) -> dict[str, dict[str, float]]:
        """OR11's interval before the rate scale that makes it a real minute once scaled (the service's
        ``mirakl_min_intervals``, the simulator's ``/_sandbox/rate-limits``; both only slow an API down)."""
        return {"OR11": round(60.0 / self.rate_scale, 6)}

    def start_router(self) -> None:
        self.router = WebhookRouter([f"http://127.0.0.1:{port}" for port in self.web_ports])

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
                "MARKETBRIDGE_ORDER_POLL_CRON": "0 * * * * *" if self.real_orders else "*/3 * * * * *",
                "MARKETBRIDGE_ORDER_POLL_OVERLAP_SECONDS": "60",
                "MARKETBRIDGE_ORDER_FEED_ENABLED": "true" if self.order_feed else "false",
                "MARKETBRIDGE_ORDER_STOCK_RETRY_SECONDS": "10",
                # The fallback poll would repair a lost change before the checker sees it: once a year
                # (1 January, midnight) instead, so every change must reach the marketplace by itself.
                "MARKETBRIDGE_STOCK_POLL_CRON": STOCK_POLL_NEVER,
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
                "MARKETBRIDGE_SESSION_SECRET": SESSION_SECRET,
            }
        )
        if self.real_orders:
            env["MARKETBRIDGE_MIRAKL_MIN_INTERVALS"] = json.dumps(self.real_or11())
            # the other flows that read OR11 on a schedule at their production pace too (every 5 minutes):
            # at the soak's pace (every 30 s and 10 s) they took every OR11 minute and the orders poll,
            # which does not wait for a turn, never read (a quick run left 100 orders undecided)
            for name in ("MARKETBRIDGE_SHIPMENT_WATCH_CRON", "MARKETBRIDGE_REFUND_FOLLOW_CRON"):
                env.pop(name)
        return env

    def start_sandbox(self) -> None:
        log = open(self.workdir / "sandbox.log", "ab")  # noqa: SIM115
        self.sandbox = subprocess.Popen(
            [sys.executable, "-m", "marketbridge", "sandbox",
             "--magento-port", str(self.magento_port), "--mirakl-port", str(self.mirakl_port),
             "--products", str(self.size.products), "--seed", str(SEED), "--rate-scale", str(self.rate_scale),
             "--webhook-url", f"http://127.0.0.1:{self.router.port}/webhooks/adobe-commerce",
             "--webhook-key", str(self.workdir / "webhook-key.pem"),
             # set up as the README asks a merchant to: free-delivery orders use Free Shipping
             "--carriers", "flatrate,freeshipping"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
        )
        wait_http(f"http://127.0.0.1:{self.mirakl_port}/_sandbox/state")
        wait_http(f"http://127.0.0.1:{self.magento_port}/_sandbox/state")
        if self.real_orders:  # the hour's count: 60, as Mirakl's; the minute between two reads binds first
            httpx2.post(f"http://127.0.0.1:{self.mirakl_port}/_sandbox/rate-limits", timeout=10,
                        json={"intervals": self.real_or11(), "hourly_quotas": {"OR11": 60}}).raise_for_status()

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
        if self.router is not None:
            self.router.stop()
        for proc in [*self.procs.values(), self.sandbox]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


class WebhookRouter:
    """What a load balancer does in front of the workers: Adobe Commerce's webhooks go to one
    address and reach a worker that is up (the first that answers, from a rotating start). With no
    worker up the delivery fails, as it would in production (Adobe Commerce retries, then gives up)."""

    def __init__(self, targets: list[str]) -> None:
        router = self
        self.targets, self.turn = targets, 0
        self._turn_lock = threading.Lock()
        # A new event whose body equals one delivered (2xx) within the service's dedup window
        # (MARKETBRIDGE_WEBHOOK_DEDUP_SECONDS, 7 days): a stock count back to a value it had before
        # sends such a body (no time in it). The service does not store it again but re-runs its
        # hints (a possible change, never dropped); the soak counts them to show how common they are.
        self.delivered: dict[int, float] = {}
        self.repeats = 0
        self.errors: collections.Counter[str] = collections.Counter()  # "<port> <error>" -> count
        self.client = httpx2.Client(timeout=10)
        # SKU -> the last deliveries that named it ("HH:MM:SS.fff <event> -> <answer>"), for the
        # dossier of a mismatched SKU: was its last change delivered, and how was it answered?
        self.by_sku: dict[str, collections.deque[str]] = collections.defaultdict(lambda: collections.deque(maxlen=20))
        self._by_sku_lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = router.forward(self.path, body, {k: v for k, v in self.headers.items()
                                                                  if k.lower() not in ("host", "content-length")})
                with contextlib.suppress(OSError):  # the sender gave up waiting (its time-out is 5 s)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, name="soak-webhook-router", daemon=True).start()

    def forward(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        arrived = time.time()
        status, answer, how = self._forward(path, body, headers)
        self._note(body, arrived, f"{status} {how}".strip(), path)
        return status, answer

    def _note(self, body: bytes, arrived: float, answer: str, path: str = "") -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return
        skus = sorted(set(skus_in(payload)))[:50]
        # a plugin hook's body has no eventName: its URL (/webhooks/adobe-commerce/<hook>) names it
        hook = path.rstrip("/").rsplit("/", 1)[-1] if path.count("/") > 2 else "?"
        event = str(payload.get("eventName", hook)) if isinstance(payload, dict) else hook
        stamp = dt.datetime.fromtimestamp(arrived).strftime("%H:%M:%S.%f")[:-3]
        with self._by_sku_lock:
            for sku in skus:
                self.by_sku[sku].append(f"{stamp} {event} -> {answer} after {time.time() - arrived:.2f} s")

    def _forward(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        # The start is taken once, under the lock: the handler threads run at once, and reading
        # self.turn again for the second target (another thread having moved it on) tried the
        # same worker twice and never the live one, a 502 no load balancer would give.
        with self._turn_lock:
            self.turn += 1
            start = self.turn
        tried: list[str] = []
        for k in range(len(self.targets)):
            target = self.targets[(start + k) % len(self.targets)]
            try:
                response = self.client.post(target + path, content=body, headers=headers)
            except httpx2.TransportError as error:  # this worker is down: try the next one
                self.errors[f"{target.rsplit(':', 1)[-1]} {type(error).__name__}"] += 1
                tried.append(f"{target.rsplit(':', 1)[-1]} {type(error).__name__}")
            else:
                if response.status_code < 300:
                    key, now = hash(body), time.monotonic()
                    if now - self.delivered.get(key, float("-inf")) < DEDUP_WINDOW_SECONDS:
                        self.repeats += 1
                    self.delivered[key] = now
                else:
                    self.errors[f"{target.rsplit(':', 1)[-1]} HTTP {response.status_code}"] += 1
                return response.status_code, response.content, f"from {target.rsplit(':', 1)[-1]}"
        return 502, b'{"message": "no worker is up"}', "(" + ", ".join(tried) + ")"

    def stop(self) -> None:
        self.server.shutdown()
        self.client.close()


def skus_in(value: Any, depth: int = 0) -> list[str]:
    """Every ``"sku"`` value anywhere in a webhook body (source items, products, order items)."""
    if depth > 8:
        return []
    if isinstance(value, dict):
        found = [str(value["sku"])] if isinstance(value.get("sku"), str) else []
        return found + [s for v in value.values() for s in skus_in(v, depth + 1)]
    if isinstance(value, list):
        return [s for v in value for s in skus_in(v, depth + 1)]
    return []


class World:
    """Customers, operator and warehouse, acting through the control APIs (never faulted)."""

    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        self.rng = rng
        self.mirakl = httpx2.Client(base_url=f"http://127.0.0.1:{cluster.mirakl_port}", timeout=30)
        self.magento = httpx2.Client(base_url=f"http://127.0.0.1:{cluster.magento_port}", timeout=30)
        self.placed: list[str] = []
        self.paid: set[str] = set()
        self.paid_at: dict[str, float] = {}  # marketplace order id -> when the customer paid (the debit)
        self.cancelled: set[str] = set()
        self.cancelled_at: dict[str, float] = {}  # marketplace order id -> when the customer cancelled it
        self.shipped: dict[str, str] = {}  # marketplace order id -> tracking number
        self.shipped_at: dict[str, float] = {}  # marketplace order id -> when shipped in Magento
        self.confirmed: set[str] = set()  # shipped orders the marketplace shows shipped with their tracking
        self.refunded: set[str] = set()
        self.memos: dict[int, tuple[str, float]] = {}  # credit memo id -> (order id, when made)
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

    def undecided_orders(self) -> list[str]:
        """Each order still undecided or unpaid on the marketplace, with its state (for ``unsettled``:
        an order never accepted is never paid, so no other count sees it)."""
        out = []
        for order_id in self.placed:
            if order_id not in self.paid and order_id not in self.cancelled:
                state = self.marketplace_order(order_id).get("order_state")
                if state in ("STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT"):
                    out.append(f"order {order_id} still {state} on the marketplace")
        return out

    def pay_accepted(self) -> None:
        for order_id in self.placed:
            if order_id in self.paid or order_id in self.cancelled:
                continue
            if self.marketplace_order(order_id).get("order_state") == "WAITING_DEBIT":
                if self.mirakl.post(f"/_sandbox/orders/{order_id}/debit").status_code < 300:
                    self.paid.add(order_id)
                    self.paid_at[order_id] = time.time()
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
                self.cancelled_at[order_id] = time.time()  # before: the sampler may read the offer at once
                if self.mirakl.post(f"/_sandbox/orders/{order_id}/cancel").status_code < 300:
                    self.cancelled.add(order_id)
                    self.note(self.order_skus.get(order_id, ()), f"order {order_id} cancelled by the customer")
                else:
                    self.cancelled_at.pop(order_id, None)

    def cancellations(self) -> dict[str, list[str]]:
        """The customer cancellations so far (order id -> its SKUs), for the sampler's thread."""
        return {order_id: list(self.order_skus.get(order_id, ())) for order_id in list(self.cancelled_at)}

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
                self.shipped_at[order_id] = time.time()
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
            response = self.magento.post("/_sandbox/creditmemo", json=body)
            if response.status_code < 300:
                self.refunded.add(order_id)
                self.memos[int(response.json()["entity_id"])] = (order_id, time.time())
                self.note([item.get("sku", "?")], f"order {order_id} refunded 1 unit")

    def shipment_confirmed(self, order_id: str) -> bool:
        """The marketplace shows the order shipped, with the tracking number given in Magento."""
        if order_id not in self.confirmed:
            raw = self.marketplace_order(order_id)
            if raw.get("order_state") in ("SHIPPED", "RECEIVED", "CLOSED") and self.shipped[order_id] in json.dumps(raw):
                self.confirmed.add(order_id)
        return order_id in self.confirmed

    def act_as_ops(self, database_url: str) -> int:
        """What the Ops guide asks of a person for ``order_waiting_for_stock``: book the stock in
        (the order then goes through by itself). Done once the activity is over."""
        from sqlalchemy import select

        from marketbridge.adapters.db.models.core import IssueRecord
        from marketbridge.adapters.db.session import Database

        db = Database(database_url)
        try:
            with db.session() as session:
                waiting = session.scalars(select(IssueRecord).where(
                    IssueRecord.type == "order_waiting_for_stock",
                    IssueRecord.state.in_(("open", "acknowledged")))).all()
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
    # paid, not in Adobe Commerce within two feed intervals plus processing (bench/soak_orders.py)
    late_orders: list[str] = field(default_factory=list)
    # still in flight when the drain's bound ran out: reported apart, not a failure by itself (what
    # it leaves wrong is counted above, e.g. a shipment not confirmed is an unconfirmed shipment),
    # and the orders still undecided or unpaid on the marketplace at the check (never paid: no other
    # count sees them; acceptance may take hours, so not a failure either)
    unsettled: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.__dataclass_fields__}

    @property
    def clean(self) -> bool:
        return not any(n for name, n in self.counts().items() if name != "unsettled")


def check(cluster: Cluster, world: World) -> Verdict:
    from sqlalchemy import select

    from marketbridge.adapters.db.models.core import IssueRecord
    from marketbridge.adapters.db.session import Database
    from marketbridge.adapters.magento.client import MagentoClient
    from marketbridge.adapters.mirakl.client import MiraklClient
    from marketbridge.domain.stock import publishable_quantity
    from marketbridge.services.skus import all_links
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
        facts = product_facts(magento, sku)
        if facts is None:  # an offer with no Magento product is the audit's business, not this invariant's
            continue
        salable = magento.salable_quantity(sku, 1) if facts.manage_stock else None
        expected, _ = publishable_quantity(salable, facts, rules, unmanaged_default=unmanaged_default)
        if int(offer.quantity or 0) != expected:
            verdict.stock_mismatches.append(f"{offer_sku!r} (marketplace {offer.quantity}, expected {expected})")
            try:
                dossiers[offer_sku] = stock_dossier(db, magento, world, sku, salable, offer.quantity)
                if cluster.router is not None:
                    dossiers[offer_sku]["deliveries"] = list(cluster.router.by_sku.get(sku, ()))
            except Exception as error:  # noqa: BLE001 - the verdict matters more than its dossier
                dossiers[offer_sku] = {"dossier_failed": repr(error)}
    say(f"invariant stock: {len(offers)} offers compared, mismatched={len(verdict.stock_mismatches)}")
    if dossiers:
        path = cluster.workdir / "stock-mismatches.json"
        path.write_text(json.dumps(dossiers, indent=2, default=str))
        say(f"  what each mismatched SKU went through: {path}")

    # 5. every open issue is explained by an injected condition
    with db.session() as session:
        open_records = session.scalars(
            select(IssueRecord).where(IssueRecord.state.in_(("open", "acknowledged")))
        ).all()
        for record in open_records:
            if record.type in PRICE_EXPLAINED_TYPES and set(world.order_skus.get(record.object_id, ())) & world.repriced:
                continue
            if record.type not in EXPLAINED_ISSUE_TYPES:
                verdict.unexplained_exceptions.append(f"{record.type} {record.object_id}: {record.message[:120]}")
    say(f"invariant exceptions: {len(open_records)} open, unexplained={len(verdict.unexplained_exceptions)}")
    magento.close()
    mirakl.close()
    db.dispose()
    return verdict


def judge_order_feed(cluster: Cluster, world: World, disturbances: Disturbances, checked_at: float,
                     target: float) -> list[str]:
    """``late_orders``: paid orders that Adobe Commerce did not have within ``target`` seconds outside
    faults and outages (``bench/soak_orders.py``), with one line on all the waits."""
    rows = httpx2.get(f"http://127.0.0.1:{cluster.magento_port}/_sandbox/orders", timeout=60).json()
    arrivals = soak_orders.magento_arrivals(rows)
    excused = soak_orders.waiting_for_stock(cluster.database_url) & set(world.paid_at)
    late = soak_orders.late_orders(world.paid_at, arrivals, world.cancelled_at, disturbances, checked_at, target,
                                   excused)
    waited = sorted(w.waited for w in soak_orders.waits(world.paid_at, arrivals, world.cancelled_at, disturbances,
                                                       checked_at, excused)) or [0.0]
    say(f"invariant order feed: {len(world.paid_at)} paid, {len(excused)} excused (waiting for stock); payment -> "
        f"Adobe Commerce outside faults and outages median {waited[len(waited) // 2]:.1f} s, longest {waited[-1]:.1f} s; "
        f"late={len(late)} (target {target:.1f} s)")
    return [order.describe() for order in late]


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


def _stamp(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3]


def oversell_dossier(db: Any, world: World, router: Any, episode: Any) -> dict[str, Any]:
    """What happened to one SKU from a minute before an over-target episode to its end: the soak's
    own changes, the webhook deliveries that named it, the service's pushes (noticed, read,
    completed) and its orders' transitions. Enough to tell a change that came late (the webhook
    waited), one that was never read (a read before it, the next push much later) and one that
    was overwritten (a push computed before a marketplace sale)."""
    from sqlalchemy import select

    from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine, OrderTransition
    from marketbridge.adapters.db.models.stock import SkuPushLog

    start, end = episode.first_seen - 60, (episode.ended or episode.last_over) + 5
    low, high = _stamp(start), _stamp(end)
    first, last = dt.datetime.fromtimestamp(start), dt.datetime.fromtimestamp(end)
    utc = dt.UTC
    first_utc, last_utc = (first.astimezone(utc).replace(tzinfo=None), last.astimezone(utc).replace(tzinfo=None))
    sku = episode.sku
    out: dict[str, Any] = {"episode": episode.describe(),
                           "soak_changes": [t for t in world.timeline.get(sku, []) if low <= t[:12] <= high],
                           "deliveries": [d for d in (router.by_sku.get(sku, ()) if router else ()) if low <= d[:12] <= high]}
    with db.session() as session:
        out["pushes"] = [
            f"{r.kind} {r.value} {r.result}: noticed {r.first_noticed_at:%H:%M:%S.%f} read "
            f"{r.read_at:%H:%M:%S.%f} completed {r.completed_at:%H:%M:%S.%f} (UTC)"
            for r in session.scalars(select(SkuPushLog).where(SkuPushLog.sku == sku, SkuPushLog.completed_at >= first_utc,
                                                             SkuPushLog.completed_at <= last_utc).order_by(SkuPushLog.id))
            if r.read_at is not None and r.first_noticed_at is not None]
        out["order_transitions"] = [
            f"{order_id} {t.at:%H:%M:%S.%f} {t.from_state}->{t.to_state} (UTC)"
            for order_id, t in session.execute(
                select(MarketplaceOrder.order_id, OrderTransition)
                .join(OrderLine, OrderLine.order_pk == MarketplaceOrder.id)
                .join(OrderTransition, OrderTransition.order_pk == MarketplaceOrder.id)
                .where(OrderLine.magento_sku == sku, OrderTransition.at >= first_utc, OrderTransition.at <= last_utc)
                .order_by(OrderTransition.at)).all()]
    return out


def write_oversell_dossiers(cluster: Cluster, world: World, episodes: list[Any]) -> None:
    from marketbridge.adapters.db.session import Database

    db = Database(cluster.database_url)
    dossiers = []
    try:
        for episode in episodes:
            try:
                dossiers.append(oversell_dossier(db, world, cluster.router, episode))
            except Exception as error:  # noqa: BLE001 - the figures matter more than a dossier
                dossiers.append({"episode": episode.describe(), "dossier_failed": repr(error)})
    finally:
        db.dispose()
    path = cluster.workdir / "oversell-over-target.json"
    path.write_text(json.dumps(dossiers, indent=2, default=str))
    say(f"  what each SKU over the target went through: {path}")


def product_facts(magento: Any, sku: str) -> Any:
    """The product facts the channel rules read (as the flow reads them), or None without a product."""
    from marketbridge.domain.stock import ProductFacts
    from marketbridge.services.stock.reading import product_read

    try:
        read = product_read(magento.get_product(sku))
    except Exception:  # noqa: BLE001 - an offer with no Magento product is the audit's business
        return None
    return ProductFacts(sku=sku, enabled=read.enabled, type_id=read.type_id, manage_stock=read.manage_stock is not False,
                        attributes=read.attributes, category_ids=read.category_ids)


def allowance(cluster: Cluster) -> soak_watch.Allowance:
    """Facts of every offer's product, the channel rules and the SKU links, read once before the
    activity (the soak changes stock and prices, never product facts or rules)."""
    from marketbridge.adapters.db.session import Database
    from marketbridge.adapters.magento.client import MagentoClient
    from marketbridge.services.skus import all_links
    from marketbridge.services.stock.rules import load_rules
    from marketbridge.settings import OrderCreationMode, load_settings

    settings = load_settings(database_url=cluster.database_url)
    db = Database(cluster.database_url)
    with db.session() as session:
        rules, links = load_rules(session), all_links(session)
    db.dispose()
    offers = httpx2.get(f"http://127.0.0.1:{cluster.mirakl_port}/_sandbox/offer-quantities", timeout=30).json()
    magento = MagentoClient(f"http://127.0.0.1:{cluster.magento_port}", "sandbox-magento-token")
    facts = {}
    for offer_sku in offers:
        sku = links.get(offer_sku, offer_sku)
        found = product_facts(magento, sku)
        if found is not None:
            facts[sku] = found
    magento.close()
    return soak_watch.Allowance(links=links, facts=facts, rules=rules,
                                unmanaged_default=settings.stock_unmanaged_default_quantity,
                                until_shipped=settings.order_creation_mode is OrderCreationMode.DIRECT)


def drain(cluster: Cluster, world: World, args: argparse.Namespace) -> list[soak_watch.InFlight]:
    """Faults are off: the warehouse and Ops finish the day (the end-of-day dispatch wave: every
    paid order Magento holds is shipped, stock booked in where a shipment needs it) and the service
    is given up to ``--drain-seconds`` to settle: every Magento shipment confirmed on the
    marketplace, every credit memo refunded, no stock hint, outbox value, batch or webhook pending,
    two looks in a row. Returns what is still in flight when it stops."""
    deadline = time.monotonic() + args.drain_seconds
    started, said = time.monotonic(), 0.0
    settled_looks = 0
    pending: list[str] = []
    undecided: dict[str, int] = {}
    flight: list[soak_watch.InFlight] = []
    while time.monotonic() < deadline:
        world.act_as_ops(cluster.database_url)
        world.pay_accepted()
        world.ship_created(book_in_missing=True)
        world.refund_some(0.10 if len(world.refunded) < 0.1 * len(world.paid) else 0.0)
        time.sleep(5)
        pending = [o for o in world.paid if o not in world.cancelled and o not in world.shipped]
        undecided = world.undecided()
        flight = soak_watch.in_flight(cluster.database_url, shipped=world.shipped_at,
                                      confirmed=world.shipment_confirmed, memos=world.memos)
        settled_looks = settled_looks + 1 if not (pending or undecided or flight) else 0
        if settled_looks >= 2:
            say(f"settled after {time.monotonic() - started:.0f} s of drain")
            return []
        if time.monotonic() - said >= 30:
            said = time.monotonic()
            say(f"draining: {len(pending)} paid orders not shipped, undecided {undecided or 'none'}; in flight: "
                f"{soak_watch.summarise(flight)}")
    say(f"drain bound ({args.drain_seconds:.0f} s) reached with {len(pending)} paid orders not shipped, orders "
        f"undecided or unpaid on the marketplace: {undecided or 'none'}; in flight: {soak_watch.summarise(flight)}")
    return flight


def run(args: argparse.Namespace) -> int:
    from marketbridge.sandbox.catalogue import TRAILING_SPACE_SKU

    size = QUICK if args.quick else FULL
    if args.drain_seconds is None:
        # with OR11 once a minute the shipments and refunds flows get a read every few minutes: 10 more
        args.drain_seconds = (240.0 if args.quick else 600.0) + (600.0 if args.real_orders else 0.0)
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="marketbridge-soak-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'soak.sqlite'}"
    cluster = Cluster(database_url, workdir, size, args.workers, args.rate_scale, real_orders=args.real_orders,
                      order_feed=not args.no_order_feed)
    cluster.web_ports = [free_port() for _ in range(args.workers)]
    window = 60 * args.rate_scale
    target = 2 * window + args.processing_seconds
    say(f"workdir {workdir}; database {database_url.split('@')[-1]}; {args.workers} worker(s); size {size}")
    say(f"oversell target: {target:.1f} s = two stock windows of {window:.1f} s (60 s x rate scale {args.rate_scale:g}) "
        f"+ {args.processing_seconds:g} s processing; sampled every {args.sample_seconds:g} s")
    feed = soak_orders.feed_interval(cluster.order_poll_seconds, cluster.or11_seconds)
    late_target = soak_orders.allowed_seconds(feed, args.order_processing_seconds)
    say(f"late-order target: {late_target:.1f} s from payment to Adobe Commerce = two feed intervals of {feed:g} s (the "
        f"orders poll every {cluster.order_poll_seconds:g} s, OR11 every {cluster.or11_seconds:g} s"
        f"{', its real pace' if args.real_orders else ''}) + {args.order_processing_seconds:g} s processing; "
        f"order feed {'on' if cluster.order_feed else 'off'}")
    started = time.monotonic()
    sampler: soak_watch.Sampler | None = None
    try:
        subprocess.run([sys.executable, "-m", "marketbridge", "db", "upgrade"],
                       env=cluster.env(0), check=True, capture_output=True)
        # Set-up an Ecommerce person does once: the seeded offer whose SKU has a trailing space
        # on the marketplace is confirmed as its Magento product (every flow then uses the link).
        subprocess.run([sys.executable, "-m", "marketbridge", "skus", "link", TRAILING_SPACE_SKU + " ",
                        TRAILING_SPACE_SKU, "--actor", "soak"], env=cluster.env(0), check=True, capture_output=True)
        cluster.start_router()
        cluster.start_sandbox()
        # Go-live, as the operations guide does it: one full stock sync, so that the offers start
        # equal to Adobe Commerce (the seed has some that differ) and the run judges only its changes.
        subprocess.run([sys.executable, "-m", "marketbridge", "sync", "stock", "--full", "--wait"],
                       env=cluster.env(0), check=True, capture_output=True, timeout=600)
        for index in range(args.workers):
            cluster.start_worker(index)
        for index in range(args.workers):
            cluster.wait_ready(index)
        world = World(cluster, rng)
        skus = world.offers()
        disturbances = Disturbances()
        watch = OversellWatch(disturbances)
        sampler = soak_watch.Sampler(magento_url=f"http://127.0.0.1:{cluster.magento_port}",
                                     mirakl_url=f"http://127.0.0.1:{cluster.mirakl_port}",
                                     database_url=database_url, allowance=allowance(cluster), watch=watch,
                                     interval=args.sample_seconds, cancelled=world.cancellations)
        sampler.start()

        period = size.seconds
        kill_times = sorted(rng.uniform(0.05, 0.95) * period for _ in range(size.kills))
        retired: set[int] = set()
        t0 = time.monotonic()
        orders_per_tick = -(-size.orders // 60)
        stock_per_tick = -(-size.stock_changes // 60)
        tick = period / 60
        faults: int | None = None
        say(f"activity starts; faults on {FAULT_TICKS * tick:.0f} s, off {FAULT_TICKS * tick:.0f} s, in turn")
        for n in range(60):
            if (n // FAULT_TICKS) % 2 == 0 and faults is None:
                inject_faults(cluster, True)
                faults = disturbances.open("faults")
            elif (n // FAULT_TICKS) % 2 == 1 and faults is not None:
                inject_faults(cluster, False)
                disturbances.close(faults)
                faults = None
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
            # About 10 % of paid orders get a credit memo, as the docstring says: 10 % of the
            # shipped, unrefunded orders at every tick had become two thirds of all orders (654
            # memos in a full run) once shipments were confirmed quickly.
            world.refund_some(0.10 if len(world.refunded) < 0.1 * len(world.paid) else 0.0)
            elapsed = time.monotonic() - t0
            while kill_times and kill_times[0] <= elapsed:
                kill_times.pop(0)
                victim = rng.choice([i for i in range(args.workers) if i not in retired])
                outage = disturbances.open(f"outage worker {victim}")
                if args.workers > 1 and not retired and elapsed > period / 2:
                    cluster.kill(victim)
                    retired.add(victim)
                    disturbances.close(outage, time.time() + TAKEOVER_SECONDS)
                    say(f"worker {victim} killed for good (scale-out run)")
                else:
                    cluster.kill(victim)
                    time.sleep(rng.uniform(0.2, 2.0))
                    cluster.start_worker(victim)
                    cluster.restarts += 1
                    sampler.await_ready(f"http://127.0.0.1:{cluster.web_ports[victim]}/healthz", outage)
                    say(f"worker {victim} killed with SIGKILL and restarted ({cluster.kills} kills)")
            time.sleep(max(0.0, t0 + (n + 1) * tick - time.monotonic()))
        if faults is not None:
            inject_faults(cluster, False)
            disturbances.close(faults)
        say(f"activity over: {len(world.placed)} orders placed, {world.stock_changes} stock changes, "
            f"{world.price_changes} price changes, {cluster.kills} kills; faults off, draining")

        flight = drain(cluster, world, args)
        time.sleep(args.settle_seconds)
        checked_at = time.time()
        sampler.stop()
        watch.finish(checked_at)
        cancellations = soak_watch.cancellation_lags(cluster.database_url, dict(world.cancelled_at))
        verdict = check(cluster, world)
        verdict.unsettled = [item.describe() for item in flight] + world.undecided_orders()
        verdict.late_orders = judge_order_feed(cluster, world, disturbances, checked_at, late_target)
        counts = verdict.counts()
        for name in counts:
            for item in getattr(verdict, name)[:10]:
                say(f"  {name}: {item}")
        sweeps = sorted(sampler.sweep_seconds) or [0.0]
        say(f"oversell: {watch.samples} samples (a sweep took {sweeps[len(sweeps) // 2]:.2f} s median, "
            f"{sweeps[-1]:.2f} s max; {sampler.errors} failed), {len(watch.closed)} episodes; excused: "
            f"{disturbances.summary()}")
        lags = sorted((c.known if c.known is not None else checked_at) - c.at for c in cancellations) or [0.0]
        say(f"order feed: {len(cancellations)} customer cancellations reached the service after median "
            f"{lags[len(lags) // 2]:.1f} s, longest {lags[-1]:.1f} s ({sum(1 for c in cancellations if c.known is None)} "
            "not by the check); until then the oversell judge allows their units on the offer (Mirakl put them "
            "back; Adobe Commerce still reserves them)")
        lengths = sorted(e.measured for e in watch.closed) or [0.0]
        ended = [e.measured for e in watch.closed if e.ended is not None]
        say(f"oversell episodes outside faults and outages: median {lengths[len(lengths) // 2]:.1f} s, "
            f"90th percentile {lengths[int(len(lengths) * 0.9)]:.1f} s, {sum(1 for x in lengths if x > target)} "
            f"over the target; {len(watch.closed) - len(ended)} still above at the check (lost changes), the "
            f"longest of the {len(ended)} that ended {max(ended, default=0.0):.1f} s")
        for episode in watch.worst(5):
            say(f"  oversell: {episode.describe()}")
        over = [e for e in watch.worst(20) if e.measured > target]
        if over:
            write_oversell_dossiers(cluster, world, over)
        magento_state = httpx2.get(f"http://127.0.0.1:{cluster.magento_port}/_sandbox/state", timeout=30).json()
        deliveries = magento_state.get("webhook_deliveries", [])
        failed = [d for d in deliveries if not d.get("status") or d["status"] >= 300]
        why = collections.Counter(str(d.get("error") or d.get("status")) for d in failed)
        say(f"webhooks: {len(failed)} of the last {len(deliveries)} deliveries failed after "
            f"{max((d.get('attempts') or 0 for d in deliveries), default=0)} attempts (no worker up, or none answered "
            f"in time; {dict(why) or 'none'}): their changes reach the marketplace only if the service catches up "
            "by itself")
        lag = magento_state.get("webhook_lag") or {}
        if lag:
            say(f"webhooks: {lag['delivered']} delivered; {lag['waited_over_1s']} waited over 1 s and "
                f"{lag['waited_over_5s']} over 5 s behind other deliveries (longest {lag['max_waited_s']:.1f} s)")
            for late in (lag.get("latest") or [])[-5:]:
                say(f"  late webhook: {late['event']} saved at {clock(late['emitted_at'])}, waited {late['waited_s']:.1f} s, "
                    f"answered after {late['done_s']:.1f} s (status {late['status']})")
        if cluster.router is not None and cluster.router.errors:
            say(f"webhooks: the router's failed forwards by worker port: {dict(cluster.router.errors)}")
        if cluster.router is not None:
            say(f"webhooks: {cluster.router.repeats} delivered with the very body of an earlier one (a value set "
                "again): not stored twice, their hints re-run (webhook_dedup_seconds)")
        # A window nobody watched is not a window within the target: a run whose sampler missed more
        # than a tenth of its sweeps fails (it once failed all 459, on an API change, and said "within").
        watched = soak_watch.watched(watch.samples, sampler.errors, MAX_MISSED_SAMPLES)
        if sampler.first_error is not None:
            say(f"oversell: the sampler failed {sampler.errors} of {watch.samples + sampler.errors} sweeps; "
                f"the first: {sampler.first_error}")
        within = watched and watch.max_seconds <= target
        say(f"max_oversell_seconds {watch.max_seconds:.1f} against a target of {target:.1f} s: "
            f"{'within' if within else 'OVER' if watched else 'NOT MEASURED'}")
        say(f"elapsed {time.monotonic() - started:.0f} s")
        measured = f"{watch.max_seconds:.1f}" if watched else "unmeasured"
        print(" ".join(f"{k}={v}" for k, v in counts.items()) + f" max_oversell_seconds={measured}", flush=True)
        return 0 if verdict.clean and within else 1
    finally:
        try:
            if sampler is not None and sampler.is_alive():
                sampler.stop()
        finally:
            cluster.stop()  # never leave the sandbox and workers running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one tenth of the full size")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rate-scale", type=float, default=0.02, help="Mirakl call intervals multiplied by this")
    parser.add_argument("--drain-seconds", type=float, default=None,
                        help="bound on the wait for shipments, refunds and stock to settle (default 240 s "
                        "quick, 600 s full: the full end-of-day wave is a few hundred shipments)")
    parser.add_argument("--settle-seconds", type=float, default=0, help="extra wait once settled")
    parser.add_argument("--sample-seconds", type=float, default=2.0, help="how often the three sides are sampled")
    parser.add_argument("--processing-seconds", type=float, default=PROCESSING_SECONDS,
                        help="processing allowed on top of two stock windows (the oversell target)")
    parser.add_argument("--order-processing-seconds", type=float, default=soak_orders.PROCESSING_SECONDS,
                        help="processing allowed on top of two feed intervals (the late-order target)")
    parser.add_argument("--real-orders", action="store_true",
                        help="OR11 at its real pace (once a minute) and the orders poll at its default, every other "
                        "Mirakl API still at --rate-scale; the drain gets 600 s more")
    parser.add_argument("--no-order-feed", action="store_true",
                        help="the orders poll reads OR11 itself, as before issue 20's order feed")
    args = parser.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
