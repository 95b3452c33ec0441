"""``make demo`` / ``marketbridge demo``: a working day on the embedded default, end to end.

Three processes, all on loopback:

1. ``marketbridge sandbox`` — the Adobe Commerce and Mirakl simulators, delivering signed
   webhooks to the service;
2. ``marketbridge run`` — the service itself (web console, webhooks, workflows, schedules) on a
   SQLite file in ``var/``;
3. this process — a *working day*: customers order on the marketplace and pay, the warehouse
   ships in Magento (now and then with a carrier that maps to nothing), stock moves, and a few
   credit memos are made. Everything goes through the sandboxes' control APIs, exactly as the
   people and systems around the integration would act; the service is never called directly.

Mirakl's call frequencies are shortened (``--rate-scale``, default 0.1: a "once a minute"
import every 6 seconds) so that a visitor sees things move within minutes. Ctrl-C stops all three.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess  # nosec B404 # runs our own CLI with fixed argument lists, never a shell
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from marketbridge.sandbox.catalogue import seed_catalogue

MAPPED_CARRIERS = [("royalmail", "Royal Mail"), ("dpd", "DPD UK"), ("dhl", "DHL UK"), ("evri", "Evri (Hermes)")]
UNMAPPED_CARRIERS = [("custom", "Bob's Van Hire"), ("custom", "Local Courier Co")]


@dataclass
class DemoConfig:
    web_port: int = 8100
    magento_port: int = 8101
    mirakl_port: int = 8102
    products: int = 300
    seed: int = 42
    rate_scale: float = 0.1
    var_dir: Path = Path("var")
    admin_user: str = "demo-admin"
    admin_password: str = "marketbridge-demo"
    tick_seconds: float = 3.0
    duration_seconds: float | None = None  # None: until Ctrl-C

    @property
    def database_url(self) -> str:
        return f"sqlite:///{(self.var_dir / 'demo.sqlite').resolve()}"

    @property
    def key_path(self) -> Path:
        return self.var_dir / "sandbox-webhook-key.pem"

    @property
    def session_secret_path(self) -> Path:
        return self.var_dir / "session-secret"


def ensure_session_secret(path: Path) -> Path:
    """The demo's cookie-signing secret: made once (48 random bytes, file mode 0600), then reused so
    that a restarted demo keeps its visitors logged in. A file that is missing, empty or weak is
    replaced; the secret never goes on a command line or into the environment."""
    from marketbridge import session_secret

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        current = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        current = ""
    if current and session_secret.problem(current) is None:
        os.chmod(path, 0o600)
        return path
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path


def service_env(config: DemoConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MARKETBRIDGE_SESSION_SECRET", None)  # the demo signs with its own file, below
    env.update(
        {
            "MARKETBRIDGE_DATABASE_URL": config.database_url,
            "MARKETBRIDGE_MAGENTO_BASE_URL": f"http://127.0.0.1:{config.magento_port}",
            "MARKETBRIDGE_MIRAKL_BASE_URL": f"http://127.0.0.1:{config.mirakl_port}",
            "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": str(config.rate_scale),
            "MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY_FILE": str(config.key_path.resolve()) + ".pub",
            "MARKETBRIDGE_ORDER_POLL_CRON": "*/10 * * * * *",
            "MARKETBRIDGE_STOCK_POLL_CRON": "*/30 * * * * *",
            "MARKETBRIDGE_WEB_PORT": str(config.web_port),
            "MARKETBRIDGE_SESSION_SECRET_FILE": str(config.session_secret_path.resolve()),
        }
    )
    return env


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=2.0).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class WorkingDay:
    """Acts like the customers and the warehouse, through the sandboxes' control APIs."""

    config: DemoConfig
    rng: random.Random = field(default_factory=lambda: random.Random(7))  # nosec B311 # made-up demo traffic
    placed: list[str] = field(default_factory=list)
    paid: set[str] = field(default_factory=set)
    shipped: set[str] = field(default_factory=set)
    refunded: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: {"orders": 0, "paid": 0, "shipped": 0, "stock": 0, "credit memos": 0})

    def __post_init__(self) -> None:
        catalogue = seed_catalogue(self.config.products, self.config.seed)
        self.offer_skus = [p.marketplace_sku for p in catalogue if p.marketplace_sku and p.status == 1 and p.qty > 0]
        self.magento_skus = [p.sku for p in catalogue if p.type_id == "simple"]
        self.mirakl = httpx2.Client(base_url=f"http://127.0.0.1:{self.config.mirakl_port}", timeout=10.0)
        self.magento = httpx2.Client(base_url=f"http://127.0.0.1:{self.config.magento_port}", timeout=10.0)
        self.magento_api = httpx2.Client(
            base_url=f"http://127.0.0.1:{self.config.magento_port}/rest/all/V1",
            headers={"Authorization": "Bearer sandbox-magento-token"},
            timeout=10.0,
        )

    def close(self) -> None:
        for client in (self.mirakl, self.magento, self.magento_api):
            client.close()

    # --- customers ----------------------------------------------------------------------
    def customer_orders(self) -> None:
        lines = [
            {"offer_sku": sku, "quantity": self.rng.choice([1, 1, 1, 2])}
            for sku in self.rng.sample(self.offer_skus, self.rng.choice([1, 1, 2]))
        ]
        response = self.mirakl.post("/_sandbox/orders", json={"lines": lines})
        if response.status_code < 300:
            self.placed.append(response.json()["order_id"])
            self.counts["orders"] += 1

    def payments(self) -> None:
        for order_id in self.placed[-30:]:
            if order_id in self.paid:
                continue
            state = self.mirakl.get(f"/_sandbox/orders/{order_id}")
            if state.status_code == 200 and state.json().get("order_state") == "WAITING_DEBIT":
                if self.mirakl.post(f"/_sandbox/orders/{order_id}/debit").status_code < 300:
                    self.paid.add(order_id)
                    self.counts["paid"] += 1

    # --- warehouse ------------------------------------------------------------------------
    def _marketplace_orders_in_magento(self) -> list[dict[str, Any]]:
        params = {
            "searchCriteria[filterGroups][0][filters][0][field]": "ext_order_id",
            "searchCriteria[filterGroups][0][filters][0][conditionType]": "notnull",
            "searchCriteria[sortOrders][0][field]": "entity_id",
            "searchCriteria[sortOrders][0][direction]": "DESC",
            "searchCriteria[pageSize]": "40",
        }
        response = self.magento_api.get("/orders", params=params)
        return list(response.json().get("items", [])) if response.status_code == 200 else []

    def warehouse(self) -> None:
        for order in self._marketplace_orders_in_magento():
            increment_id = order["increment_id"]
            if order.get("state") == "processing" and increment_id not in self.shipped and self.rng.random() < 0.5:
                code, title = self.rng.choice(UNMAPPED_CARRIERS if self.rng.random() < 0.1 else MAPPED_CARRIERS)
                tracking = f"{title[:2].upper()}{self.rng.randint(10**9, 10**10 - 1)}GB"
                payload = {"increment_id": increment_id, "carrier_code": code, "title": title, "track_number": tracking}
                if self.magento.post("/_sandbox/ship", json=payload).status_code < 300:
                    self.shipped.add(increment_id)
                    self.counts["shipped"] += 1
            elif increment_id in self.shipped and increment_id not in self.refunded and self.rng.random() < 0.05:
                items = [
                    {"order_item_id": item["item_id"], "qty": 1}
                    for item in order.get("items", [])[:1]
                    if not item.get("parent_item_id")
                ]
                if items and self.magento.post(
                    "/_sandbox/creditmemo", json={"increment_id": increment_id, "items": items}
                ).status_code < 300:
                    self.refunded.add(increment_id)
                    self.counts["credit memos"] += 1

    def stock_moves(self) -> None:
        for sku in self.rng.sample(self.magento_skus, 3):
            qty = self.rng.choice([0, 2, 5, 9, 14, 30, 60])
            if self.magento.post("/_sandbox/stock", json={"sku": sku, "qty": qty}).status_code < 300:
                self.counts["stock"] += 1

    def tick(self, n: int) -> None:
        for action, every in ((self.stock_moves, 1), (self.customer_orders, 3), (self.payments, 2), (self.warehouse, 4)):
            if n % every == 0:
                try:
                    action()
                except httpx2.HTTPError:
                    pass  # the sandbox may be restarting; the next tick tries again


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # nosec B603


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5)):
            process.send_signal(sig)
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        process.kill()
        process.wait()


def _port_in_use(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _ensure_admin(config: DemoConfig) -> None:
    from marketbridge.bootstrap import build_runtime
    from marketbridge.domain.auth import Role
    from marketbridge.services import auth
    from marketbridge.settings import load_settings

    runtime = build_runtime(load_settings(database_url=config.database_url))
    try:
        with runtime.people_store.unit_of_work() as people:
            try:
                auth.get_user(people, config.admin_user)
            except auth.AuthError:
                auth.create_user(people, config.admin_user, Role.ADMIN, config.admin_password)
    finally:
        runtime.close()


def run_demo(config: DemoConfig, say: Any = print) -> dict[str, int]:
    busy = [p for p in (config.web_port, config.magento_port, config.mirakl_port) if _port_in_use(p)]
    if busy:
        raise RuntimeError(
            f"port(s) {', '.join(map(str, busy))} on 127.0.0.1 are already in use (an earlier demo still "
            "running?); stop it or choose other ports"
        )
    config.var_dir.mkdir(parents=True, exist_ok=True)
    ensure_session_secret(config.session_secret_path)
    env = service_env(config)
    exe = [sys.executable, "-m", "marketbridge"]
    say(f"Preparing the database {config.database_url} and a demo admin user …")
    subprocess.run([*exe, "db", "upgrade"], env=env, check=True, capture_output=True)  # nosec B603
    _ensure_admin(config)  # in-process: a password on a command line shows in the process list

    say(f"Starting the sandboxes (Adobe Commerce :{config.magento_port}, Mirakl :{config.mirakl_port}) …")
    sandbox = _spawn(
        [*exe, "sandbox", "--magento-port", str(config.magento_port), "--mirakl-port", str(config.mirakl_port),
         "--products", str(config.products), "--seed", str(config.seed), "--rate-scale", str(config.rate_scale),
         "--webhook-url", f"http://127.0.0.1:{config.web_port}/webhooks/adobe-commerce",
         "--webhook-key", str(config.key_path),
         # the demo store is set up as the README asks a merchant to: free-delivery orders use
         # Free Shipping, which a fresh store has disabled
         "--carriers", "flatrate,freeshipping"],
        env, config.var_dir / "sandbox.log",
    )
    processes = [sandbox]
    day: WorkingDay | None = None
    try:
        _wait_http(f"http://127.0.0.1:{config.mirakl_port}/_sandbox/state")
        _wait_http(f"http://127.0.0.1:{config.magento_port}/_sandbox/state")
        say("Starting marketbridge (web console, webhooks, workflows, schedules) …")
        service = _spawn([*exe, "run"], env, config.var_dir / "service.log")
        processes.append(service)
        _wait_http(f"http://127.0.0.1:{config.web_port}/healthz")
        say("")
        say(f"  Console:   http://127.0.0.1:{config.web_port}/   log in as {config.admin_user} / {config.admin_password}")
        say(f"  Health:    http://127.0.0.1:{config.web_port}/healthz")
        say(f"  Logs:      {config.var_dir}/service.log and {config.var_dir}/sandbox.log")
        say("  Customers now order on the marketplace, the warehouse ships in Adobe Commerce (now and then")
        say("  with a carrier that maps to nothing), stock moves, and a few credit memos are made.")
        say("  Press Ctrl-C to stop everything.")
        say("")
        day = WorkingDay(config)
        started = time.monotonic()
        n = 0
        while config.duration_seconds is None or time.monotonic() - started < config.duration_seconds:
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a demo process stopped (exit {process.returncode}); see {config.var_dir}/*.log")
            day.tick(n)
            if n % 10 == 0:
                say("  so far: " + ", ".join(f"{v} {k}" for k, v in day.counts.items()))
            n += 1
            time.sleep(config.tick_seconds)
        return dict(day.counts)
    except KeyboardInterrupt:
        say("\nStopping …")
        return dict(day.counts) if day else {}
    finally:
        if day is not None:
            day.close()
        for process in reversed(processes):
            _stop(process)
        say("Stopped. The demo database stays in var/demo.sqlite (make clean removes it).")
