"""The whole simulated Mirakl instance for one shop, in memory.

Thread-safety: every public operation runs under one re-entrant lock (``state.lock``); the app
wraps each request in it, and tests that poke the state directly should do the same. ``tick()``
runs the timers (import processing, automatic refusal, refund completion, auto-receive/close)
and is called at the start of every request, so the sandbox needs no background thread.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from marketbridge.adapters.mirakl.endpoints import ENDPOINTS
from marketbridge.sandbox.catalogue import SeedProduct, seed_catalogue
from marketbridge.sandbox.mirakl.core import SandboxClock, SandboxError, SandboxSettings, iso
from marketbridge.sandbox.mirakl.offers import OffersMixin
from marketbridge.sandbox.mirakl.order_export import OrderExportMixin
from marketbridge.sandbox.mirakl.orders import OrdersMixin
from marketbridge.sandbox.mirakl.ratelimits import CallFrequency

#: Grace given to a client whose limiter and ours see the same interval a few ms apart.
RATE_LIMIT_GRACE_SECONDS = 0.02


@dataclass
class FaultRule:
    endpoint: str = "*"  # API code ("OR11"), "*" or a path prefix ("/api/orders")
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    latency_ms: float = 0.0
    latency_spike_rate: float = 0.0
    latency_spike_ms: float = 2000.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 35.0
    error_status: int = 500

    def matches(self, api: str | None, path: str) -> bool:
        if self.endpoint == "*":
            return True
        if self.endpoint.startswith("/"):
            return path.startswith(self.endpoint)
        return api == self.endpoint

    @classmethod
    def parse(cls, data: Any) -> FaultRule:
        if not isinstance(data, dict):
            raise SandboxError(400, "each rule must be an object")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise SandboxError(400, f"unknown fault fields: {', '.join(sorted(unknown))}")
        rule = cls()
        for key, value in data.items():
            if key == "endpoint":
                if not isinstance(value, str) or not value:
                    raise SandboxError(400, "endpoint must be an API code, '*' or a path prefix")
                rule.endpoint = value
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise SandboxError(400, f"{key} must be a number >= 0")
            if key.endswith("_rate") and value > 1:
                raise SandboxError(400, f"{key} must be between 0 and 1")
            setattr(rule, key, int(value) if key in ("retry_after", "error_status") else float(value))
        return rule


@dataclass
class FaultDecision:
    status: int | None = None  # respond with this error instead of handling
    retry_after: int | None = None
    delay_before: float = 0.0
    hang_after: float = 0.0  # handle, then hold the response this long (a client time-out)


@dataclass
class CallRecord:
    api: str | None
    method: str
    path: str
    status: int
    at: str
    query: str = ""  # the raw query string: tells a follow-up page (offset > 0) or a read by order_ids

    def as_dict(self) -> dict[str, Any]:
        return {"api": self.api, "method": self.method, "path": self.path, "query": self.query,
                "status": self.status, "at": self.at}


class SandboxState(OffersMixin, OrdersMixin, OrderExportMixin):
    def __init__(self, catalogue: list[SeedProduct] | None = None, *, products: int = 300, seed: int = 42,
                 api_key: str = "sandbox-mirakl-key", rate_scale: float = 1.0, shop_id: int = 2001) -> None:
        if rate_scale <= 0:
            raise ValueError("rate_scale must be > 0")
        self.lock = threading.RLock()
        self.clock = SandboxClock()
        self.api_key = api_key
        self.shop_id = shop_id
        self.rate_scale = rate_scale
        self.settings = SandboxSettings(
            import_delay_seconds=1.0 * rate_scale,
            product_integration_delay_seconds=300.0 * rate_scale,
            export_delay_seconds=1.0 * rate_scale,
            order_export_delay_seconds=1.0 * rate_scale,
            refund_delay_seconds=2.0 * rate_scale,
        )
        self.calls: list[CallRecord] = []
        self.fault_rules: list[FaultRule] = []
        self._fault_rng = random.Random(0)  # nosec B311 # seeded fault injection in the simulator
        self.frequency = CallFrequency(rate_scale, RATE_LIMIT_GRACE_SECONDS)
        self._init_offers(catalogue if catalogue is not None else seed_catalogue(products, seed))
        self._init_orders()
        self._init_order_exports()

    # --- timers ---------------------------------------------------------------------------------
    def tick(self) -> None:
        with self.lock:
            self._process_due_imports()
            self._run_order_timers(self.clock.now())
            self._complete_due_order_exports(self.clock.now())

    def advance(self, seconds: float) -> str:
        with self.lock:
            moment = self.clock.advance(seconds)
            self.tick()
            return iso(moment) or ""

    # --- call frequency ---------------------------------------------------------------------------
    def check_rate(self, api: str | None, *, full_export: bool = False, scope: str | None = None) -> int | None:
        """Record a call of ``api``; return a Retry-After (whole seconds) if it came too early or
        the API's hourly count is spent (:mod:`.ratelimits`; ``scope``: a budget per export)."""
        if api is None or ENDPOINTS.get(api) is None:
            return None
        with self.lock:
            return self.frequency.check(api, time.monotonic(), full_export=full_export,
                                        external_partner=self.settings.external_partner, scope=scope)

    def reset_rate_limits(self) -> None:
        with self.lock:
            self.frequency.reset()

    # --- faults ------------------------------------------------------------------------------------
    def set_faults(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
            raise SandboxError(400, 'body must be {"rules": [...], "seed": optional int}')
        rules = [FaultRule.parse(item) for item in body["rules"]]
        seed = body.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SandboxError(400, "seed must be an integer")
        with self.lock:
            self.fault_rules = rules
            self._fault_rng = random.Random(seed)  # nosec B311 # seeded fault injection in the simulator

    def clear_faults(self) -> None:
        with self.lock:
            self.fault_rules = []

    def decide_fault(self, api: str | None, path: str) -> FaultDecision:
        decision = FaultDecision()
        with self.lock:
            for rule in self.fault_rules:
                if not rule.matches(api, path):
                    continue
                rng = self._fault_rng
                decision.delay_before += rule.latency_ms / 1000
                if rule.latency_spike_rate and rng.random() < rule.latency_spike_rate:
                    decision.delay_before += rule.latency_spike_ms / 1000
                if decision.status is None and rule.error_rate and rng.random() < rule.error_rate:
                    decision.status = rule.error_status
                if decision.status is None and rule.rate_limit_rate and rng.random() < rule.rate_limit_rate:
                    decision.status, decision.retry_after = 429, rule.retry_after
                if decision.status is None and rule.timeout_rate and rng.random() < rule.timeout_rate:
                    decision.hang_after = max(decision.hang_after, rule.timeout_seconds)
        return decision

    # --- calls log ----------------------------------------------------------------------------------
    def record_call(self, api: str | None, method: str, path: str, status: int, query: str = "") -> None:
        with self.lock:
            self.calls.append(CallRecord(api, method, path, status, iso(self.clock.now()) or "", query))

    def calls_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c.as_dict() for c in self.calls]

    def clear_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    # --- summary -------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        with self.lock:
            self.tick()
            orders_by_state: dict[str, int] = {}
            for order in self.orders.values():
                orders_by_state[order.state] = orders_by_state.get(order.state, 0) + 1
            live = self.live_offers()
            return {
                "shop_id": self.shop_id,
                "now": iso(self.clock.now()),
                "rate_scale": self.rate_scale,
                "settings": self.settings.as_dict(),
                "offers": len(live),
                "active_offers": sum(1 for o in live if o.active),
                "products": len(self.products),
                "orders": len(self.orders),
                "orders_by_state": orders_by_state,
                "imports": [{"api": j.api, "import_id": j.import_id, "status": j.status(self.clock.now()),
                             "lines": len(j.rows), "errors": len(j.errors)} for j in self.imports.values()],
                "shipments": len(self.shipments),
                "calls": len(self.calls),
                "faults": [rule.__dict__ for rule in self.fault_rules],
            }


__all__ = ["CallRecord", "FaultDecision", "FaultRule", "SandboxState"]
