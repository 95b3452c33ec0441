"""The Adobe Commerce REST simulator as a FastAPI app (``create_app``).

Request pipeline for ``/rest/<store>/V1/...`` (and ``/index.php/rest/...``):

1. store segment: ``default``, ``all``, a configured store code, or none (= default store view);
   anything else falls through as part of the route → 404 ``Request does not match any route.``;
2. route match on the raw (percent-encoded) path, per method → 404 as above when none;
3. auth: ``Authorization: Bearer <token>`` or an OAuth 1.0a HMAC-SHA256 signed header; anonymous
   routes (guest carts) need neither → else 401 ``The consumer isn't authorized to access
   %resources.`` with ``parameters.resources`` = the route's ACL resource;
4. injected faults from ``POST /_sandbox/faults`` (latency, 500, 429 + Retry-After, hang);
5. body: empty → none; declared non-JSON Content-Type → 400; undecodable JSON → 400 ``Decoding error.``;
6. handler under the state lock; ``ApiError`` → Magento's envelope; anything else → 500 with
   Magento's masked ``Internal Error`` message (the simulator never crashes the connection).

Every call is recorded for ``GET /_sandbox/calls`` as ``METHOD /V1/path-template``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import secrets
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from marketbridge.sandbox.catalogue import SeedProduct, seed_catalogue

from . import cart_routes, routes, sales  # noqa: F401  (cart_routes registers its routes on import)
from .catalog import COMPOSITE_TYPES, Product
from .commit import PendingCommit, emitter
from .errors import NO_ROUTE, NOT_AUTHORIZED, ApiError, bad_request, invalid_value, required
from .oauth import OAuthConfig, OAuthVerifier
from .search import InputLimits, filter_fields, parse_fields
from .state import DEFAULT_SOURCE, SandboxState, SourceItem, gc_paused, utc_now
from .store_config import CARRIER_RATES, FRESH_STORE_CARRIERS, FRESH_STORE_PAYMENT, PAYMENT_TITLES
from .webhooks import WebhookDispatcher, load_or_create_private_key

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
STORE_CODES = {"default", "all"}
_STORE_PATH = re.compile(r"^(?:/index\.php)?/rest(?:/(?P<store>[A-Za-z0-9_]+))?(?P<route>/V1/.*)$")


@dataclass
class FaultRule:
    """One injected-failure rule. ``endpoint`` is ``*``, a path prefix (``/V1/orders``) or an API
    template with its method (``PUT /V1/carts/{cartId}/order``). The ``*_rate`` faults strike
    *before* the call takes effect, except ``error_after_rate`` / ``timeout_after_rate``, which
    let the call take effect and then fail the answer: the case a client must recover from by
    re-reading (did my order get placed?)."""

    endpoint: str = "*"
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    latency_ms: float = 0.0
    latency_spike_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    error_after_rate: float = 0.0
    timeout_after_rate: float = 0.0

    def applies(self, route_path: str, api: str) -> bool:
        if self.endpoint in ("*", ""):
            return True
        if " " in self.endpoint:
            return api == self.endpoint
        return route_path.startswith(self.endpoint)


@dataclass
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self, route_path: str, api: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.applies(route_path, api):
                return rule
        return None

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.lock:
            return self.rng.random() < rate


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type=JSON_TYPE,
        headers=headers,
    )


def _error(error: ApiError) -> Response:
    return _json(error.body(), error.status, error.headers or None)


def create_app(
    catalogue: list[SeedProduct] | None = None,
    *,
    products: int = 300,
    seed: int = 42,
    token: str = "sandbox-magento-token",
    webhook_url: str | None = None,
    webhook_private_key_path: str | None = None,
    oauth: OAuthConfig | None = None,
    store_codes: set[str] | None = None,
    input_limits: bool = False,
    webhook_mode: str = "webhooks",
    webhook_per_hook_urls: bool = True,
    webhook_shapes: dict[str, str] | None = None,
    webhook_fields: dict[str, list[Any]] | None = None,
    webhook_hooks: set[str] | None = None,
    commit_after_webhook: bool = False,
    commit_delay_seconds: float = 2.0,
    payment_methods: Iterable[str] | None = None,
    carriers: Iterable[str] | None = None,
) -> FastAPI:
    """Build a fresh simulator. ``app.state.sandbox`` is the :class:`SandboxState`.

    Webhooks (:class:`WebhookDispatcher`): ``webhook_mode`` ``"webhooks"`` (Adobe Commerce's,
    one URL per hook under ``webhook_url`` unless ``webhook_per_hook_urls`` is off; per-hook
    ``webhook_shapes`` "plugin"/"observer" and ``webhook_fields`` filters; only ``webhook_hooks``
    when given, as Commerce calls only the registered hooks) or ``"io_events"``
    (Adobe I/O Events CloudEvents to ``webhook_url``, signed with ``webhook_private_key_path`` and
    a second key beside it). ``commit_after_webhook``: a ``*_save_after`` hook is delivered
    before the save is visible, which becomes so ``commit_delay_seconds`` after the answer
    (:mod:`.commit`).

    ``payment_methods`` and ``carriers``: the codes the store has enabled; None keeps a fresh
    store's (``checkmo`` and ``free``; ``flatrate``), see :mod:`.store_config`."""
    if catalogue is None:
        with gc_paused():
            catalogue = seed_catalogue(products, seed)
    state = SandboxState(catalogue)
    if input_limits:
        state.input_limits = InputLimits()
    if payment_methods is not None or carriers is not None:
        state.checkout.update({
            "payment_methods": {c: c in set(payment_methods or FRESH_STORE_PAYMENT) for c in PAYMENT_TITLES},
            "carriers": {c: c in set(carriers or FRESH_STORE_CARRIERS) for c, _ in CARRIER_RATES},
        })
    verifier = OAuthVerifier(oauth or OAuthConfig())
    faults = Faults()
    stores = STORE_CODES | (store_codes or set())
    dispatcher: WebhookDispatcher | None = None
    if webhook_url:
        key_path = webhook_private_key_path or "magento-sandbox-webhook.pem"
        second = load_or_create_private_key(key_path + ".second") if webhook_mode == "io_events" else None
        dispatcher = WebhookDispatcher(webhook_url, load_or_create_private_key(key_path), mode=webhook_mode,
                                       per_hook_urls=webhook_per_hook_urls, shapes=webhook_shapes,
                                       fields=webhook_fields, second_key=second, hooks=webhook_hooks)
        state.emit = emitter(state, dispatcher.emit)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if dispatcher is not None:
            dispatcher.close()  # let the delivery thread finish what is queued, then stop

    app = FastAPI(
        title="Adobe Commerce REST sandbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.state.faults = faults
    app.state.webhooks = dispatcher
    app.state.token = token

    def authorized(request: Request, raw_route: str) -> bool:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return secrets.compare_digest(header[7:].strip(), token)
        if header.lower().startswith("oauth "):
            raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
            host = request.headers.get("host", f"{request.url.hostname}:{request.url.port}")
            query = list(request.query_params.multi_items())
            with state.lock:
                return verifier.verify(header, request.method, request.url.scheme, host, raw_path, query)
        return False

    def record(api: str, request: Request, status: int) -> None:
        with state.lock:
            state.calls.append(
                {
                    "api": api,
                    "method": request.method,
                    "path": request.url.path,
                    "status": status,
                    "at": utc_now(),
                }
            )

    async def handle(request: Request) -> Response:
        raw_path = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or request.url.path
        found = _STORE_PATH.match(raw_path)
        api = f"{request.method} ?"
        try:
            if found is None or (found.group("store") and found.group("store") not in stores):
                raise ApiError(404, NO_ROUTE)
            route_path = found.group("route")
            matched = routes.match(request.method, route_path)
            if matched is None:
                raise ApiError(404, NO_ROUTE)
            route, params = matched
            api = f"{request.method} {route.template.rstrip('/') or route.template}"
            if route.acl is not None and not authorized(request, route_path):
                raise ApiError(401, NOT_AUTHORIZED, {"resources": route.acl})
            rule = faults.pick(route_path, api)
            if rule is not None:
                delay = rule.latency_ms / 1000.0
                if faults.roll(rule.latency_spike_rate):
                    delay = delay * 10 + 1.0
                if delay:
                    await asyncio.sleep(delay)
                if faults.roll(rule.timeout_rate):
                    await asyncio.sleep(rule.timeout_seconds)
                    raise ApiError(504, "Gateway Timeout")
                if faults.roll(rule.rate_limit_rate):
                    seconds = rule.retry_after
                    raise ApiError(
                        429,
                        "Too Many Requests",
                        headers={
                            "Retry-After": str(int(seconds) if float(seconds).is_integer() else seconds)
                        },
                    )
                if faults.roll(rule.error_rate):
                    raise ApiError(
                        500,
                        "Internal Error. Details are available in Magento log file. Report ID: webapi-"
                        + secrets.token_hex(6),
                    )
            body = await _read_body(request)
            ctx = routes.Ctx(
                state,
                params,
                list(request.query_params.multi_items()),
                body,
                found.group("store") or "default",
            )
            fields = request.query_params.get("fields")
            with state.lock:  # serialise under the lock too: no half-updated object is ever sent
                state.pending_commit = PendingCommit() if commit_after_webhook and request.method != "GET" else None
                try:
                    result = route.handler(ctx)
                finally:
                    pending = PendingCommit.held(state)
                if fields:
                    try:
                        result = filter_fields(result, parse_fields(fields))
                    except ValueError:
                        raise invalid_value("fields", fields) from None
                response = _json(result)
            if pending is not None:  # its *_save_after hooks went out before the "commit"
                await pending.finish(state, commit_delay_seconds)
            if rule is not None and faults.roll(rule.timeout_after_rate):
                await asyncio.sleep(rule.timeout_seconds)
                raise ApiError(504, "Gateway Timeout")
            if rule is not None and faults.roll(rule.error_after_rate):
                raise ApiError(
                    500,
                    "Internal Error. Details are available in Magento log file. Report ID: webapi-"
                    + secrets.token_hex(6),
                )
        except ApiError as error:
            response = _error(error)
            if error.status == 429:
                response = _json({"message": "Too Many Requests", "trace": None}, 429, error.headers)
        except Exception:  # noqa: BLE001 - a simulator bug must still answer like Magento does
            log.exception("sandbox handler failed")
            response = _json(
                {
                    "message": "Internal Error. Details are available in Magento log file. Report ID: webapi-"
                    + secrets.token_hex(6)
                },
                500,
            )
        record(api, request, response.status_code)
        return response

    for prefix in ("/rest", "/index.php/rest"):
        app.add_api_route(
            prefix + "/{rest_path:path}",
            handle,
            methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
            include_in_schema=False,
        )

    _control_routes(app, state, faults)
    return app


async def _read_body(request: Request) -> Any:
    if request.method in ("GET", "DELETE"):
        return None
    raw = await request.body()
    if not raw.strip():
        return None
    content_type = request.headers.get("content-type", "")
    if not content_type:
        raise bad_request("Content-Type header is empty.")
    if "json" not in content_type.lower():
        raise bad_request("Content-Type header is invalid.")
    charset = re.search(r"charset=([\w-]+)", content_type, re.I)
    if charset and charset.group(1).lower().replace("-", "") != "utf8":
        raise bad_request("UTF-8 is the only supported charset.")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Decoding error.") from None


def _control_routes(app: FastAPI, state: SandboxState, faults: Faults) -> None:
    """``/_sandbox/*``: no auth; lets tests and demos act as the warehouse or break the API."""

    @app.post("/_sandbox/faults", include_in_schema=False)
    async def set_faults(request: Request) -> Response:
        try:
            payload = json.loads(await request.body() or b"{}")
            rules = [FaultRule(**rule) for rule in payload.get("rules", [])]
        except (ValueError, TypeError) as error:
            return _json({"message": f"bad fault rules: {error}"}, 400)
        faults.rules = rules
        faults.rng = random.Random(payload.get("seed"))  # nosec B311 # seeded fault injection in the simulator
        return _json({"rules": len(rules)})

    @app.delete("/_sandbox/faults", include_in_schema=False)
    async def clear_faults() -> Response:
        faults.rules = []
        return _json({"rules": 0})

    @app.get("/_sandbox/calls", include_in_schema=False)
    async def calls() -> Response:
        with state.lock:
            return _json(list(state.calls))

    @app.delete("/_sandbox/calls", include_in_schema=False)
    async def clear_calls() -> Response:
        with state.lock:
            state.calls.clear()
        return _json({"cleared": True})

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            payload = json.loads(await request.body() or b"{}")
        except ValueError:
            raise bad_request("Decoding error.") from None
        if not isinstance(payload, dict):
            raise bad_request("Decoding error.")
        return payload

    def guarded(fn: Any) -> Any:
        async def wrapper(request: Request) -> Response:
            try:
                payload = await body_of(request)
                with state.lock:
                    return _json(fn(payload))
            except ApiError as error:
                return _error(error)

        return wrapper

    def warehouse_stock(payload: dict[str, Any]) -> Any:
        sku = str(payload.get("sku") or "")
        if not sku:
            raise required("sku")
        state.product(sku)
        qty = sales._float("qty", payload.get("qty"))
        source = str(payload.get("source_code") or DEFAULT_SOURCE)
        if source not in state.sources:
            raise bad_request("Could not save Source Item")
        state.save_source_items([SourceItem(sku, source, qty, 1 if qty > 0 else 0)])
        return {
            "sku": sku,
            "source_code": source,
            "quantity": qty,
            "salable_quantity": state.salable_quantity(sku, 1),
        }

    def order_ref(payload: dict[str, Any]) -> int:
        if payload.get("order_id") is not None:
            return sales._int("order_id", payload["order_id"])
        increment = str(payload.get("increment_id") or "")
        ext = str(payload.get("ext_order_id") or "")
        for order in state.orders.values():
            if (increment and order["increment_id"] == increment) or (ext and order.get("ext_order_id") == ext):
                return int(order["entity_id"])
        raise sales.not_found_entity()

    def warehouse_ship(payload: dict[str, Any]) -> Any:
        order_id = order_ref(payload)
        body: dict[str, Any] = {"items": payload.get("items") or []}
        if payload.get("track_number"):
            body["tracks"] = [
                {
                    "track_number": payload["track_number"],
                    "title": payload.get("title") or payload.get("carrier_code") or "Carrier",
                    "carrier_code": payload.get("carrier_code") or "custom",
                }
            ]
        if payload.get("source_code"):
            body["arguments"] = {"extension_attributes": {"source_code": payload["source_code"]}}
        shipment_id = sales.ship_order(state, order_id, body)
        return state.shipments[shipment_id]

    def warehouse_creditmemo(payload: dict[str, Any]) -> Any:
        order_id = order_ref(payload)
        body = {k: v for k, v in payload.items() if k in ("items", "arguments", "notify", "comment")}
        memo_id = sales.refund(state, order_id, body)
        return state.creditmemos[memo_id]

    def quick_product(payload: dict[str, Any]) -> Any:
        sku = str(payload.get("sku") or "").strip()
        if not sku:
            raise required("sku")
        if sku in state.products:
            raise bad_request("The product was unable to be saved. Please try again.")
        now = utc_now()
        product = Product(
            id=state.next_id("product"),
            sku=sku,
            name=str(payload.get("name") or sku),
            type_id="simple",
            price=sales._float("price", payload.get("price", 10.0)),
            status=int(payload.get("status", 1)),
            visibility=4,
            weight=sales._float("weight", payload.get("weight", 1.0)),
            created_at=now,
            updated_at=now,
        )
        for key in ("ean", "brand", "description", "mb_category_code"):
            if payload.get(key) is not None:
                product.attributes[key] = payload[key]
        state._add_product(product)
        qty = sales._float("qty", payload.get("qty", 0))
        state.save_source_items([SourceItem(sku, DEFAULT_SOURCE, qty, 1 if qty > 0 else 0)])
        rendered = state.render_product(product, detail=True)
        state.emit("observer.catalog_product_save_after", {"product": rendered})
        return rendered

    def checkout_config(payload: dict[str, Any]) -> Any:
        """The merchant's Stores > Configuration > Sales: enable or disable payment methods and
        carriers (``{"payment_methods": {"banktransfer": true}, "carriers": {...}}``)."""
        return state.checkout.update(payload)

    app.add_api_route("/_sandbox/checkout-config", guarded(checkout_config), methods=["POST"],
                      include_in_schema=False)
    app.add_api_route("/_sandbox/stock", guarded(warehouse_stock), methods=["POST"], include_in_schema=False)
    app.add_api_route("/_sandbox/ship", guarded(warehouse_ship), methods=["POST"], include_in_schema=False)
    app.add_api_route(
        "/_sandbox/creditmemo", guarded(warehouse_creditmemo), methods=["POST"], include_in_schema=False
    )
    app.add_api_route("/_sandbox/products", guarded(quick_product), methods=["POST"], include_in_schema=False)

    @app.get("/_sandbox/orders", include_in_schema=False)
    async def list_orders(request: Request) -> Response:
        """The warehouse's view of orders (never faulted): ``?ext_order_id=`` narrows to one
        marketplace order; each row carries the items a shipment or credit memo needs, and
        ``created_at`` (Magento's format, UTC to the second) for benchmarks that time creation."""
        wanted = request.query_params.get("ext_order_id")
        with state.lock:
            rows = [
                {
                    "entity_id": order["entity_id"],
                    "increment_id": order["increment_id"],
                    "ext_order_id": order.get("ext_order_id"),
                    "state": order.get("state"),
                    "status": order.get("status"),
                    "created_at": order.get("created_at"),
                    "items": [
                        {k: item.get(k) for k in ("item_id", "sku", "qty_ordered", "qty_shipped", "qty_refunded", "parent_item_id")}
                        for item in order.get("items", [])
                    ],
                }
                for order in state.orders.values()
                if wanted is None or order.get("ext_order_id") == wanted
            ]
        return _json(rows)

    @app.get("/_sandbox/salable-quantities", include_in_schema=False)
    async def salable_quantities(request: Request) -> Response:
        """Every stock-managed simple product's salable quantity on one stock (default 1), read in
        one locked pass: ``{sku: qty}``. A soak samples the whole
        catalogue every few seconds without a REST call per SKU (and without injected faults)."""
        try:
            stock_id = int(request.query_params.get("stock_id", "1"))
        except ValueError:
            return _json({"message": "stock_id must be an integer"}, 400)
        with state.lock:
            if stock_id not in state.stocks:
                return _json({"message": f"no stock {stock_id}"}, 404)
            quantities = {
                sku: state.salable_quantity(sku, stock_id)
                for sku, product in state.products.items()
                if product.manage_stock and product.type_id not in COMPOSITE_TYPES
            }
            return _json(quantities)

    @app.get("/_sandbox/state", include_in_schema=False)
    async def summary() -> Response:
        with state.lock:
            dispatcher = app.state.webhooks
            return _json(
                {
                    "products": len(state.products),
                    "source_items": sum(len(v) for v in state.source_items.values()),
                    "orders": len(state.orders),
                    "invoices": len(state.invoices),
                    "shipments": len(state.shipments),
                    "creditmemos": len(state.creditmemos),
                    "reservations": len(state.reservations),
                    "carts": len(state.carts),
                    "faults": len(faults.rules),
                    "webhook_deliveries": list(dispatcher.deliveries) if dispatcher else [],
                    "webhook_lag": dict(dispatcher.lag) if dispatcher else {},
                }
            )


__all__ = ["FaultRule", "OAuthConfig", "create_app"]
