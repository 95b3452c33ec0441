"""What the benchmarks share: ports, waiting for an address to answer, percentiles, both
simulators and the service as separate processes, a warehouse acting through the Magento
simulator's control API, and the figures read from the Mirakl simulator's call log.

Everything here observes the service from outside (the simulators' control APIs and call logs),
never through its database, so a benchmark measures today's code and a later design of the same
flows (issue 20's order feed) without change.

Call-log figures. ``GET /_sandbox/calls`` on the Mirakl simulator lists every ``/api`` call with
its API code, raw query string, status and sandbox time (UTC; the sandbox clock is the wall clock
unless a test moves it, and benchmarks never do). An OR11 *read* is a first page: a follow-up page
(``offset`` > 0 or ``page_token``) belongs to the read before it and is not counted against the
pace, by the simulator as by the client (docs/api-notes.md). A read with ``order_ids`` is one order
(or up to 100) asked for by id, told apart because issue 20 wants none of them on a schedule.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx2

ROOT = Path(__file__).resolve().parents[1]
MAGENTO_TOKEN = "sandbox-magento-token"  # the Magento simulator's integration token


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{url} not answering after {timeout:.0f} s")


def scale_label(rate_scale: float) -> str:
    """How every printed block names the Mirakl pace it ran at."""
    return "real limits" if rate_scale >= 1.0 else f"scaled x{rate_scale:g}"


def epoch(text: str | None) -> float | None:
    """Seconds since the epoch of a Mirakl (``2026-05-01T10:00:00.123Z``) or Magento
    (``2026-05-01 10:00:00``, UTC) timestamp; None for none."""
    if not text:
        return None
    if "T" in text:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC).timestamp()


# ------------------------------------------------------------------ processes
@dataclass
class Processes:
    """The simulators' process and the service's, stopped together (SIGINT, then SIGKILL)."""

    workdir: Path
    magento_url: str = ""
    mirakl_url: str = ""
    service_url: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose ``python -m marketbridge`` is this checkout's code (``src`` first on the
    path), not whichever copy the virtualenv has installed."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    return env


def start_sandboxes(run: Processes, *, products: int, seed: int, rate_scale: float, webhook_port: int | None = None,
                    carriers: str = "flatrate,freeshipping") -> None:
    """``marketbridge sandbox`` in its own process (the simulators must not share the service's
    interpreter lock), set up as the README asks a merchant: Free Shipping enabled for the
    marketplace's free-delivery orders. With ``webhook_port`` Adobe Commerce's webhooks go to the
    service there, signed with a key made in the work directory."""
    magento_port, mirakl_port = free_port(), free_port()
    command = [sys.executable, "-m", "marketbridge", "sandbox", "--magento-port", str(magento_port),
               "--mirakl-port", str(mirakl_port), "--products", str(products), "--seed", str(seed),
               "--rate-scale", str(rate_scale), "--webhook-key", str(run.workdir / "webhook-key.pem"),
               "--carriers", carriers]
    if webhook_port is not None:
        command += ["--webhook-url", f"http://127.0.0.1:{webhook_port}/webhooks/adobe-commerce"]
    log = open(run.workdir / "sandbox.log", "ab")  # noqa: SIM115 - the process keeps it
    run.procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=run.workdir,
                                      env=child_env()))
    run.magento_url, run.mirakl_url = f"http://127.0.0.1:{magento_port}", f"http://127.0.0.1:{mirakl_port}"
    wait_http(f"{run.mirakl_url}/_sandbox/state")
    wait_http(f"{run.magento_url}/_sandbox/state")


def service_env(run: Processes, database_url: str, web_port: int, extra: dict[str, str] | None = None, *,
                order_feed: bool = True) -> dict[str, str]:
    """The service's environment: its database, both simulators, the webhook key, a fresh session
    secret and its port, and the order feed on (issue 20: the configuration these benchmarks
    judge; ``order_feed=False`` measures the flows' own OR11 reads); every other setting keeps its
    default unless ``extra`` says otherwise."""
    env = child_env({k: v for k, v in os.environ.items() if not k.startswith("MARKETBRIDGE_")})
    env.update({
        "MARKETBRIDGE_DATABASE_URL": database_url,
        "MARKETBRIDGE_MAGENTO_BASE_URL": run.magento_url,
        "MARKETBRIDGE_MIRAKL_BASE_URL": run.mirakl_url,
        "MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY_FILE": str(run.workdir / "webhook-key.pem.pub"),
        "MARKETBRIDGE_SESSION_SECRET": secrets.token_urlsafe(36),
        "MARKETBRIDGE_WEB_PORT": str(web_port),
        "MARKETBRIDGE_ORDER_FEED_ENABLED": "true" if order_feed else "false",
    })
    env.update(extra or {})
    return env


def start_service(run: Processes, env: dict[str, str], timeout: float = 180) -> None:
    """``marketbridge db upgrade`` then ``marketbridge run`` (workflows, schedules, webhooks), ready
    once ``/healthz`` answers."""
    subprocess.run([sys.executable, "-m", "marketbridge", "db", "upgrade"], env=env, check=True,
                   capture_output=True, cwd=run.workdir)
    log = open(run.workdir / "service.log", "ab")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen([sys.executable, "-m", "marketbridge", "run"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=run.workdir)
    run.procs.append(proc)
    run.service_url = f"http://127.0.0.1:{env['MARKETBRIDGE_WEB_PORT']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (run.workdir / "service.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"the service exited with {proc.returncode} at start-up:\n{tail}")
        with contextlib.suppress(TimeoutError):
            wait_http(f"{run.service_url}/healthz", 2)
            return
    raise TimeoutError(f"the service did not answer /healthz within {timeout:.0f} s")


def clean_skus(products: int, seed: int, count: int = 40) -> list[str]:
    """Simple, enabled, stock-managed products whose offer SKU is their own, at their plain price:
    orders of them go through without a person (no link to confirm, no price to explain)."""
    from marketbridge.sandbox.catalogue import seed_catalogue

    return [p.sku for p in seed_catalogue(products, seed) if p.type_id == "simple" and p.status == 1
            and p.marketplace_sku == p.sku and p.manage_stock and p.special_price is None][:count]


def order_lines(skus: list[str], n: int) -> list[dict[str, object]]:
    """The ``n``-th customer's basket: one unit of a SKU, and in every fourth order two units of
    another too (so multi-line orders, and SKUs shared between orders, are in every run)."""
    lines: list[dict[str, object]] = [{"offer_sku": skus[n % len(skus)], "quantity": 1}]
    if n % 4 == 0:
        lines.append({"offer_sku": skus[(n * 7 + 3) % len(skus)], "quantity": 2})
    return lines


def prepare_stock(magento_url: str, mirakl_url: str, skus: list[str], qty: int) -> None:
    """The same quantity on both sides, so the stock flow has nothing to correct for these SKUs."""
    with httpx2.Client(timeout=30) as http:
        for sku in skus:
            http.post(f"{magento_url}/_sandbox/stock", json={"sku": sku, "qty": qty}).raise_for_status()
            http.put(f"{mirakl_url}/_sandbox/offers/{sku}", json={"quantity": qty}).raise_for_status()


# ------------------------------------------------------------------ the warehouse and back office
CARRIERS = [("royalmail", "Royal Mail"), ("dpd", "DPD UK"), ("dhl", "DHL UK"), ("ups", "UPS")]


class Warehouse:
    """Ships and refunds in Adobe Commerce through the Magento simulator's control API, as a
    warehouse and a back office would (``/_sandbox/ship`` and ``/_sandbox/creditmemo`` run the
    same code as ``POST /V1/order/{id}/ship`` and ``/refund``, and emit the same webhooks)."""

    def __init__(self, magento_url: str, mirakl_url: str) -> None:
        self.magento = httpx2.Client(base_url=magento_url, timeout=30)
        self.mirakl = httpx2.Client(base_url=mirakl_url, timeout=30)
        self.shipped: dict[str, tuple[str, float]] = {}  # marketplace order id -> (tracking, when shipped)
        self.refunded: dict[str, float] = {}  # marketplace order id -> when the credit memo was made

    def magento_orders(self) -> dict[str, dict[str, Any]]:
        """Marketplace order id -> the Magento order (entity id, state, items, created_at)."""
        rows = self.magento.get("/_sandbox/orders").json()
        return {row["ext_order_id"]: row for row in rows if row.get("ext_order_id")}

    def marketplace_order(self, order_id: str) -> dict[str, Any]:
        response = self.mirakl.get(f"/_sandbox/orders/{order_id}")
        return response.json() if response.status_code == 200 else {}

    def ship(self, order_id: str, magento_order: dict[str, Any], n: int) -> bool:
        code, title = CARRIERS[n % len(CARRIERS)]
        tracking = f"BENCH{n:08d}"
        response = self.magento.post("/_sandbox/ship", json={
            "order_id": magento_order["entity_id"], "carrier_code": code, "title": title, "track_number": tracking})
        if response.status_code < 300:
            self.shipped[order_id] = (tracking, time.time())
            return True
        return False

    def refund_one_unit(self, order_id: str, magento_order: dict[str, Any]) -> bool:
        """A credit memo of one unit of the first line, no shipping: a customer's return."""
        items = [i for i in magento_order.get("items", []) if not i.get("parent_item_id")]
        if not items:
            return False
        response = self.magento.post("/_sandbox/creditmemo", json={
            "order_id": magento_order["entity_id"], "items": [{"order_item_id": items[0]["item_id"], "qty": 1}],
            "arguments": {"shipping_amount": 0}})
        if response.status_code < 300:
            self.refunded[order_id] = time.time()
            return True
        return False

    def confirmed(self, order_id: str, view: dict[str, Any] | None = None) -> bool:
        """The marketplace shows the order shipped with the tracking number given in Magento."""
        view = self.marketplace_order(order_id) if view is None else view
        tracking = self.shipped.get(order_id, ("", 0.0))[0]
        return view.get("order_state") in ("SHIPPED", "RECEIVED", "CLOSED") and bool(tracking) \
            and view.get("shipping_tracking") == tracking

    def close(self) -> None:
        self.magento.close()
        self.mirakl.close()


# ------------------------------------------------------------------ the Mirakl call log
@dataclass(frozen=True)
class Call:
    api: str
    query: str
    status: int
    at: float  # seconds since the epoch

    @property
    def follow_up(self) -> bool:
        params = parse_qs(self.query)
        return bool(params.get("page_token")) or params.get("offset", ["0"])[0] not in ("", "0")

    @property
    def by_id(self) -> bool:
        return bool(parse_qs(self.query).get("order_ids"))


def read_calls(mirakl_url: str) -> list[Call]:
    rows = httpx2.get(f"{mirakl_url}/_sandbox/calls", timeout=60).json()
    return [Call(row.get("api") or "?", row.get("query") or "", int(row["status"]), epoch(row["at"]) or 0.0)
            for row in rows]


def max_in_window(times: Iterable[float], window: float, tolerance: float = 1.0) -> int:
    """The most calls in any span shorter than ``window - tolerance`` seconds. The tolerance keeps
    two calls a whole window apart (give or take the simulator's 20 ms grace and our clock reads)
    in different windows: calls exactly once a minute count 1, two within 59 s count 2."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= window - tolerance:
            first += 1
        best = max(best, last - first + 1)
    return best


@dataclass
class CallFigures:
    """OR11 and 429s over ``[start, end]``."""

    minutes: float
    or11_reads: int  # first pages: what Mirakl's pace counts
    or11_pages: int  # follow-up pages of those reads
    or11_by_id: int  # reads with order_ids (included in or11_reads)
    or11_max_in_window: int
    window_seconds: float
    rejected: dict[str, int]  # API -> 429s the service received

    @property
    def allowed_reads(self) -> int:
        """One read per window over the span, plus the one at its start (a fencepost, not a burst)."""
        return int(self.minutes * 60 // self.window_seconds) + 1

    @property
    def pace_kept(self) -> bool:
        return self.or11_max_in_window <= 1 and self.or11_reads <= self.allowed_reads

    @property
    def or11_per_minute(self) -> float:
        return self.or11_reads / self.minutes if self.minutes > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"minutes": round(self.minutes, 2), "or11_reads": self.or11_reads, "or11_pages": self.or11_pages,
                "or11_by_id": self.or11_by_id, "or11_per_minute": round(self.or11_per_minute, 3),
                "or11_max_in_window": self.or11_max_in_window, "window_seconds": self.window_seconds,
                "http_429": dict(self.rejected)}


def call_figures(calls: list[Call], start: float, end: float, window: float = 60.0) -> CallFigures:
    """Figures of the calls made in ``[start, end]``; ``window`` is the OR11 pace the shop is held to
    (60 s, or 900 s for an External Partner key)."""
    inside = [c for c in calls if start <= c.at <= end]
    reads = [c for c in inside if c.api == "OR11" and not c.follow_up and c.status != 429]
    rejected: dict[str, int] = {}
    for call in inside:
        if call.status == 429:
            rejected[call.api] = rejected.get(call.api, 0) + 1
    return CallFigures(
        minutes=(end - start) / 60, or11_reads=len(reads),
        or11_pages=sum(1 for c in inside if c.api == "OR11" and c.follow_up),
        or11_by_id=sum(1 for c in reads if c.by_id),
        or11_max_in_window=max_in_window((c.at for c in reads), window), window_seconds=window, rejected=rejected)


def describe_calls(figures: CallFigures) -> list[str]:
    window = "minute" if figures.window_seconds == 60 else f"{figures.window_seconds / 60:g} minutes"
    return [
        f"OR11 reads: {figures.or11_reads} in {figures.minutes:.1f} min = {figures.or11_per_minute:.2f} a minute "
        f"(target: one a {window}, so at most {figures.allowed_reads} in the span, the read at its start included), "
        f"at most {figures.or11_max_in_window} in any {window} (target <= 1); {figures.or11_by_id} of them by "
        f"order_ids; {figures.or11_pages} follow-up pages besides",
        f"429s received by the service: {sum(figures.rejected.values())} (target 0)"
        + (f" by API {figures.rejected}" if figures.rejected else ""),
    ]
