"""The Mirakl seller API simulator as an ASGI app (``create_app``).

Wire behaviour (MIRAKL.md §2): paths under ``/api/...``; ``Authorization: <raw key>`` (no
``Bearer``) else 401; ``shop_id`` accepted on every call (another shop's id is 403); errors as
``{"status": N, "message": "..."}`` (plus ``code`` for OR21-style codes); 429 with an integer
``Retry-After`` when a call comes sooner than the documented maximum frequency allows or beyond
the API's count for the last hour (windows multiplied by ``rate_scale``; :mod:`.ratelimits`). Bad input is a 400, an unknown route a 404, never a 500.

A control API under ``/_sandbox/`` (no auth) drives what the marketplace and its customers would
do::

    POST   /_sandbox/orders                     {"lines": [{"offer_sku", "quantity", "price"?}], "price"? (unit
                                                 price for lines without one; default: the offer's), "customer"?,
                                                 "shipping_address"?, "billing_address"?, "currency_iso_code"?,
                                                 "shipping_price"?, "shipping_type_code"? (STD|NXD|LRG),
                                                 "leadtime_to_ship"?, "shipping_pudo_id"?} -> 201 {"order_id",
                                                 "order_line_ids"} (STAGING first with ``staging_seconds``)
    GET    /_sandbox/orders/{id}                the OR11 view of one order (no rate limit)
    POST   /_sandbox/orders/{id}/debit          WAITING_DEBIT -> SHIPPING (payment captured, address shown)
    POST   /_sandbox/orders/{id}/cancel         customer/operator cancellation (reason 34)
    POST   /_sandbox/orders/{id}/receive        SHIPPED -> RECEIVED
    POST   /_sandbox/orders/{id}/operator-refund  refund started on the marketplace {"amount"?, "reason_code"?}
    POST   /_sandbox/clock/advance              {"seconds": N}: deadlines, imports, refunds, receive/close
    POST   /_sandbox/faults                     {"rules": [{"endpoint": "OR11"|"*"|"/api/...", "error_rate",
                                                 "error_status", "rate_limit_rate", "retry_after", "latency_ms",
                                                 "latency_spike_rate", "latency_spike_ms", "timeout_rate",
                                                 "timeout_seconds"}], "seed"?};  DELETE clears them
    GET    /_sandbox/calls                      [{api, method, path, query, status, at}];  DELETE clears the log
    GET    /_sandbox/offers/{sku}               one offer (OF21 shape)
    PUT    /_sandbox/offers/{sku}               operator edit {"quantity"?, "price"?, "active"?, "inactivity_reasons"?,
                                                "discount_price"?, "discount_start"?, "discount_end"?, "channel_prices"?}
    GET    /_sandbox/state                      summary (offers, orders by state, imports, settings, faults)
    POST   /_sandbox/settings                   switches and timers (see ``SandboxSettings``)
    POST   /_sandbox/rate-limits/reset          forget call-frequency history
    GET    /_sandbox/rate-limits                the operator's paces and hourly counts (``ratelimits``)
    POST   /_sandbox/rate-limits                {"intervals"?: {API: seconds}, "hourly_quotas"?: {API: count}}
    GET    /_sandbox/order-exports              the OR13 exports; POST .../{id}/fail or .../{id}/cancel ends a
                                                PENDING one (:mod:`.order_export_api`)
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from marketbridge.adapters.mirakl.endpoints import resolve
from marketbridge.sandbox.catalogue import SeedProduct
from marketbridge.sandbox.mirakl import reference
from marketbridge.sandbox.mirakl.core import ORDER_STATES, SandboxError, iso, parse_datetime
from marketbridge.sandbox.mirakl.order_export_api import add_order_export_routes
from marketbridge.sandbox.mirakl.state import SandboxState

#: APIs whose call frequency depends on the request (full or differential export, per export), so
#: their handler checks it instead of the gate.
RATED_IN_HANDLER = {"OF52", "OR13", "OR14"}


def _error(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "message": message}
    if code:
        body["code"] = code
    return JSONResponse(body, status_code=status, headers=headers)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise SandboxError(400, "The request body is empty; a JSON object is expected")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SandboxError(400, "The request body is not valid JSON") from None


async def _file_part(request: Request) -> tuple[bytes, dict[str, str]]:
    try:
        form = await request.form()
    except Exception:  # malformed multipart: a client error, never a crash
        raise SandboxError(400, "The request must be multipart/form-data with a 'file' part") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise SandboxError(400, "The multipart part 'file' is missing")
    content = await upload.read()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return content, fields


def _int_param(request: Request, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SandboxError(400, f"Parameter '{name}' must be an integer") from None
    if value < minimum:
        raise SandboxError(400, f"Parameter '{name}' must be >= {minimum}")
    if maximum is not None:
        value = min(value, maximum)
    return value


def _offset_page(request: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """``max`` (default 10, at most 100) / ``offset``; ``Link`` header with next/previous."""
    size = _int_param(request, "max", 10, minimum=1, maximum=100)
    offset = _int_param(request, "offset", 0)
    page = items[offset:offset + size]
    links = []
    base = str(request.url).split("?")[0]
    params = dict(request.query_params)
    if offset + size < len(items):
        links.append(f'<{base}?{urlencode({**params, "max": size, "offset": offset + size})}>; rel="next"')
    if offset > 0:
        links.append(f'<{base}?{urlencode({**params, "max": size, "offset": max(0, offset - size)})}>; rel="previous"')
    return page, ({"Link": ", ".join(links)} if links else {})


def _seek_page(request: Request, filter_keys: tuple[str, ...]) -> tuple[int, int, dict[str, list[str]]]:
    """Seek pagination: ``limit`` (default 10, max 100) and ``page_token``; with a token every other
    parameter is ignored (the token carries them)."""
    token = request.query_params.get("page_token")
    if token:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
            return int(data["offset"]), int(data["limit"]), {k: list(v) for k, v in data["filters"].items()}
        except Exception:
            raise SandboxError(400, "Invalid page_token") from None
    limit = _int_param(request, "limit", 10, minimum=1, maximum=100)
    filters = {}
    for key in filter_keys:
        values: list[str] = []
        for raw in request.query_params.getlist(key):
            values.extend(v for v in raw.split(",") if v)
        if values:
            filters[key] = values
    return 0, limit, filters


def _seek_tokens(offset: int, limit: int, total: int, filters: dict[str, list[str]]) -> dict[str, str]:
    def token(at: int) -> str:
        raw = json.dumps({"offset": at, "limit": limit, "filters": filters}).encode()
        return base64.urlsafe_b64encode(raw).decode()

    tokens = {}
    if offset + limit < total:
        tokens["next_page_token"] = token(offset + limit)
    if offset > 0:
        tokens["previous_page_token"] = token(max(0, offset - limit))
    return tokens


def _follow_up_page(request: Request) -> bool:
    """Pages after the first of one listing are part of the same read and are not counted
    against the API's call frequency (decision recorded in docs/api-notes.md)."""
    q = request.query_params
    return bool(q.get("page_token")) or q.get("offset", "0") not in ("", "0")


def create_app(catalogue: list[SeedProduct] | None = None, *, products: int = 300, seed: int = 42,
               api_key: str = "sandbox-mirakl-key", rate_scale: float = 1.0, shop_id: int = 2001) -> FastAPI:
    state = SandboxState(catalogue, products=products, seed=seed, api_key=api_key, rate_scale=rate_scale,
                         shop_id=shop_id)
    app = FastAPI(title="Mirakl seller API sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = state

    def locked(fn: Callable[[], Any]) -> Any:
        with state.lock:
            state.tick()
            return fn()

    # --- errors: always {"status", "message"} --------------------------------------------------
    @app.exception_handler(SandboxError)
    async def _sandbox_error(_: Request, exc: SandboxError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return _error(400, f"Error with field {where}. Please check the field datatype.")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - safety net
        return _error(500, f"Unexpected error: {type(exc).__name__}")

    # --- gate: auth, shop, faults, call frequency, call log ---------------------------------------
    @app.middleware("http")
    async def gate(request: Request, call_next: Callable[[Request], Any]) -> Response:
        path = request.url.path
        if not path.startswith("/api/"):
            return await call_next(request)
        endpoint = resolve(request.method, path)
        api = endpoint.code if endpoint else None
        response: Response
        decision = None
        if request.headers.get("authorization") != state.api_key:
            response = _error(401, "Unauthorized: missing or invalid API key")
        elif (shop := request.query_params.get("shop_id")) not in (None, "") and shop != str(state.shop_id):
            response = (_error(400, "Parameter 'shop_id' must be an integer") if not shop.isdigit()
                        else _error(403, f"Access denied to shop {shop}"))
        elif endpoint is None:
            allowed = sorted({m for m in ("GET", "POST", "PUT", "DELETE") if resolve(m, path)})
            response = (_error(405, "Method Not Allowed", headers={"Allow": ", ".join(allowed)}) if allowed
                        else _error(404, "Not Found"))
        else:
            decision = state.decide_fault(api, path)
            if decision.delay_before:
                await asyncio.sleep(decision.delay_before)
            if decision.status is not None:
                headers = {"Retry-After": str(decision.retry_after)} if decision.retry_after else None
                message = "Too Many Requests" if decision.status == 429 else "Injected fault"
                response = _error(decision.status, message, headers=headers)
            elif api not in RATED_IN_HANDLER and not _follow_up_page(request) and (retry := state.check_rate(api)) is not None:
                response = _error(429, f"Too many requests: {api} is limited by its call frequency",
                                  headers={"Retry-After": str(retry)})
            else:
                response = await call_next(request)
        state.record_call(api, request.method, path, response.status_code, request.url.query)
        if decision is not None and decision.hang_after:
            await asyncio.sleep(decision.hang_after)  # the call took effect; the client times out
        return response

    # =================================================================== orders
    @app.get("/api/orders")
    async def or11(request: Request) -> Response:
        q = request.query_params

        def run() -> Response:
            orders = list(state.orders.values())
            if q.get("order_ids"):
                ids = [i for i in q["order_ids"].split(",") if i]
                if len(ids) > 100:
                    raise SandboxError(400, "At most 100 order_ids")
                orders = [o for o in orders if o.order_id in ids]
            if q.get("order_state_codes"):
                codes = set(q["order_state_codes"].split(","))
                unknown = codes - ORDER_STATES
                if unknown:
                    raise SandboxError(400, f"Unknown order_state_codes: {', '.join(sorted(unknown))}")
                orders = [o for o in orders if o.state in codes]
            if q.get("start_date"):
                start = parse_datetime(q["start_date"], "start_date")
                orders = [o for o in orders if o.created >= start]
            if q.get("end_date"):
                end = parse_datetime(q["end_date"], "end_date")
                orders = [o for o in orders if o.created <= end]
            if q.get("start_update_date"):
                from datetime import timedelta

                start = parse_datetime(q["start_update_date"], "start_update_date") - timedelta(
                    seconds=state.settings.update_overlap_seconds)
                orders = [o for o in orders if o.updated >= start]
            if q.get("end_update_date"):
                end = parse_datetime(q["end_update_date"], "end_update_date")
                orders = [o for o in orders if o.updated <= end]
            if q.get("customer_debited") in ("true", "false"):
                want = q["customer_debited"] == "true"
                orders = [o for o in orders if (o.debited is not None) == want]
            orders.sort(key=lambda o: (o.created, o.order_id), reverse=q.get("order") == "desc")
            headers: dict[str, str]
            if q.get("paginate") == "false":  # legacy, still used in the wild (MIRAKL.md §2.6)
                page, headers = orders, {}
            else:
                page, headers = _offset_page(request, orders)
            body = {"orders": [state.order_json(o) for o in page], "total_count": len(orders)}
            return JSONResponse(body, headers=headers)

        return locked(run)

    @app.put("/api/orders/refund")
    async def or28(request: Request) -> Response:
        body = await _json_body(request)

        def run() -> Response:
            refunds = state.refund(body)
            out = []
            for refund in refunds:
                order, line = state._find_line(next(line.order_line_id for o in state.orders.values()
                                                    for line in o.lines if refund in line.refunds))
                out.append(state.refund_json(refund, line, order.currency))
            return JSONResponse({"order_tax_mode": body.get("order_tax_mode") or "TAX_INCLUDED", "refunds": out})

        return locked(run)

    @app.put("/api/orders/cancel")
    async def or30(request: Request) -> Response:
        body = await _json_body(request)

        def run() -> Response:
            done = state.cancel_lines(body)
            out: list[dict[str, Any]] = [{"cancelation_id": c.id, "order_line_id": line.order_line_id, "amount": c.amount,
                    "shipping_amount": c.shipping_amount, "quantity": c.quantity, "reason_code": c.reason_code,
                    "taxes": [], "shipping_taxes": [], "fees": []} for line, c in done]
            return JSONResponse({"order_tax_mode": body.get("order_tax_mode") or "TAX_INCLUDED", "cancelations": out})

        return locked(run)

    @app.put("/api/orders/{order_id}/accept")
    async def or21(order_id: str, request: Request) -> Response:
        body = await _json_body(request)
        locked(lambda: state.accept_order(order_id, body))
        return Response(status_code=204)

    @app.put("/api/orders/{order_id}/tracking")
    async def or23(order_id: str, request: Request) -> Response:
        body = await _json_body(request)
        locked(lambda: state.update_tracking(order_id, body))
        return Response(status_code=204)

    @app.put("/api/orders/{order_id}/ship")
    async def or24(order_id: str) -> Response:
        locked(lambda: state.ship_order(order_id))
        return Response(status_code=204)

    @app.put("/api/orders/{order_id}/cancel")
    async def or29(order_id: str) -> Response:
        locked(lambda: state.cancel_order(order_id, by_shop=True))
        return Response(status_code=204)

    add_order_export_routes(app, state, locked)  # OR13 / OR14 / OR15 and their controls

    # =================================================================== shipments
    @app.post("/api/shipments")
    async def st01(request: Request) -> Response:
        body = await _json_body(request)

        def run() -> Response:
            ok, errors = state.create_shipments(body)
            return JSONResponse({"shipment_success": [state.shipment_json(s) for s in ok], "shipment_errors": errors},
                                status_code=201)

        return locked(run)

    @app.get("/api/shipments")
    async def st11(request: Request) -> Response:
        def run() -> Response:
            offset, limit, filters = _seek_page(request, ("order_id", "shipment_state_code", "last_updated_from",
                                                          "last_updated_to"))
            items = sorted(state.shipments.values(), key=lambda s: (s.created, s.id))
            if "last_updated_from" in filters:
                since = parse_datetime(filters["last_updated_from"][0], "last_updated_from")
                items = [s for s in items if s.updated >= since]
            if "last_updated_to" in filters:
                until = parse_datetime(filters["last_updated_to"][0], "last_updated_to")
                items = [s for s in items if s.updated <= until]
            if "order_id" in filters:
                items = [s for s in items if s.order_id in filters["order_id"]]
            if "shipment_state_code" in filters:
                items = [s for s in items if s.status in filters["shipment_state_code"]]
            page = items[offset:offset + limit]
            return JSONResponse({"data": [state.shipment_json(s) for s in page],
                                 **_seek_tokens(offset, limit, len(items), filters)})

        return locked(run)

    @app.post("/api/shipments/tracking")
    async def st23(request: Request) -> Response:
        body = await _json_body(request)

        def run() -> Response:
            ok, errors = state.update_shipment_tracking(body)
            return JSONResponse({"shipment_success": [{"id": i} for i in ok], "shipment_errors": errors})

        return locked(run)

    @app.put("/api/shipments/ship")
    async def st24(request: Request) -> Response:
        body = await _json_body(request)

        def run() -> Response:
            ok, errors = state.ship_shipments(body)
            return JSONResponse({"shipment_success": [{"id": i} for i in ok], "shipment_errors": errors})

        return locked(run)

    # =================================================================== offers
    @app.get("/api/offers")
    async def of21(request: Request) -> Response:
        q = request.query_params

        def run() -> Response:
            offers = state.list_offers(sku=q.get("sku"), offer_state_codes=q.get("offer_state_codes"),
                                       product_id=q.get("product_id"))
            page, headers = _offset_page(request, offers)
            return JSONResponse({"offers": [state.offer_json(o) for o in page], "total_count": len(offers)},
                                headers=headers)

        return locked(run)

    @app.post("/api/offers")
    async def of24(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("offers"), list) or not all(
                isinstance(o, dict) for o in body["offers"]):
            raise SandboxError(400, "Error with field offers. Please check the field datatype.")
        for offer in body["offers"]:
            if "logistic_class" in offer and not isinstance(offer["logistic_class"], str | None):
                raise SandboxError(400, "Error with field offers.logistic_class. Please check the field datatype.")
        job = locked(lambda: state.submit_of24(body["offers"]))
        return JSONResponse({"import_id": job.import_id}, status_code=201,
                            headers={"Location": f"/api/offers/imports/{job.import_id}"})

    @app.post("/api/offers/imports")
    async def of01(request: Request) -> Response:
        content, fields = await _file_part(request)
        mode = (fields.get("import_mode") or "").upper()
        if mode == "PARTIAL_UPDATE":  # SPEC OF01: "Deprecated values: PARTIAL_UPDATE"
            raise SandboxError(400, "import_mode PARTIAL_UPDATE is deprecated: use NORMAL or REPLACE")
        if mode not in ("NORMAL", "REPLACE"):
            raise SandboxError(400, "Parameter 'import_mode' is required: NORMAL or REPLACE")
        if fields.get("with_products", "false").lower() == "true":
            raise SandboxError(400, "with_products is not supported by this sandbox; use P41 then OF01")
        job = locked(lambda: state.submit_import("OF01", content, mode=mode))
        return JSONResponse({"import_id": job.import_id}, status_code=201,
                            headers={"Location": f"/api/offers/imports/{job.import_id}"})

    @app.get("/api/offers/imports/{import_id}")
    async def of02(import_id: str) -> Response:
        return JSONResponse(locked(lambda: state.of02_json(state.get_import("OF", import_id))))

    @app.get("/api/offers/imports/{import_id}/error_report")
    async def of03(import_id: str) -> Response:
        data = locked(lambda: state.error_report(state.get_import("OF", import_id)))
        return Response(data, media_type="text/csv; charset=utf-8")

    @app.post("/api/offers/export/async")
    async def of52(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SandboxError(400, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise SandboxError(400, "The request body must be a JSON object")
        retry = state.check_rate("OF52", full_export=not body.get("last_request_date"))
        if retry is not None:
            return _error(429, "Too many requests: OF52 is limited by its call frequency",
                          headers={"Retry-After": str(retry)})
        job = locked(lambda: state.start_export(body))
        return JSONResponse({"tracking_id": job.tracking_id})

    @app.get("/api/offers/export/async/status/{tracking_id}")
    async def of53(tracking_id: str, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(locked(lambda: state.export_status(tracking_id, base)))

    @app.get("/api/offers/export/async/file/{tracking_id}")
    async def of54(tracking_id: str, file: str) -> Response:
        data, media = locked(lambda: state.export_chunk(tracking_id, file))
        return Response(data, media_type=media)

    @app.post("/api/offers/stock/imports")
    async def sto01(request: Request) -> Response:
        content, _ = await _file_part(request)
        job = locked(lambda: state.submit_import("STO01", content))
        return JSONResponse({"import_id": job.import_id}, status_code=201,
                            headers={"Location": f"/api/offers/stock/imports/{job.import_id}/status"})

    @app.get("/api/offers/stock/imports/{import_id}/status")
    async def sto02(import_id: str) -> Response:
        return JSONResponse(locked(lambda: state.sto02_json(state.get_import("STO01", import_id))))

    @app.get("/api/offers/stock/imports/{import_id}/error_report")
    async def sto03(import_id: str) -> Response:
        data = locked(lambda: state.error_report(state.get_import("STO01", import_id)))
        return Response(data, media_type="text/csv; charset=utf-8")

    @app.post("/api/offers/pricing/imports")
    async def pri01(request: Request) -> Response:
        content, _ = await _file_part(request)
        job = locked(lambda: state.submit_import("PRI01", content))
        return JSONResponse({"import_id": job.import_id}, status_code=201,
                            headers={"Location": f"/api/offers/pricing/imports?import_id={job.import_id}"})

    @app.get("/api/offers/pricing/imports")
    async def pri02(request: Request) -> Response:
        def run() -> Response:
            offset, limit, filters = _seek_page(request, ("import_id", "status"))
            jobs = sorted((j for j in state.imports.values() if j.api == "PRI01"), key=lambda j: j.created, reverse=True)
            if "import_id" in filters:
                jobs = [j for j in jobs if j.import_id in filters["import_id"]]
            if "status" in filters:
                jobs = [j for j in jobs if j.status(state.clock.now()) in filters["status"]]
            page = jobs[offset:offset + limit]
            return JSONResponse({"data": [state.pri02_json(j) for j in page],
                                 **_seek_tokens(offset, limit, len(jobs), filters)})

        return locked(run)

    @app.get("/api/offers/pricing/imports/{import_id}/error_report")
    async def pri03(import_id: str) -> Response:
        data = locked(lambda: state.error_report(state.get_import("PRI01", import_id)))
        return Response(data, media_type="text/csv; charset=utf-8")

    # =================================================================== catalogue
    @app.post("/api/products/imports")
    async def p41(request: Request) -> Response:
        content, _ = await _file_part(request)
        job = locked(lambda: state.submit_import("P41", content))
        return JSONResponse({"import_id": job.import_id}, status_code=201,
                            headers={"Location": f"/api/products/imports/{job.import_id}"})

    @app.get("/api/products/imports/{import_id}")
    async def p42(import_id: str) -> Response:
        return JSONResponse(locked(lambda: state.p42_json(state.get_import("P41", import_id))))

    @app.get("/api/products/imports/{import_id}/error_report")
    async def p44(import_id: str) -> Response:
        data = locked(lambda: state.error_report(state.get_import("P41", import_id)))
        return Response(data, media_type="text/csv; charset=utf-8")

    @app.get("/api/products/imports/{import_id}/new_product_report")
    async def p45(import_id: str) -> Response:
        data = locked(lambda: state.new_product_report(state.get_import("P41", import_id)))
        return Response(data, media_type="text/csv; charset=utf-8")

    @app.get("/api/products/imports/{import_id}/transformation_error_report")
    async def p47(import_id: str) -> Response:
        locked(lambda: state.get_import("P41", import_id))
        raise SandboxError(404, "No transformation error report: this sandbox imports files in the operator format")

    @app.get("/api/products/attributes")
    async def pm11(hierarchy: str | None = None) -> Response:
        attrs = reference.ATTRIBUTES
        if hierarchy:
            attrs = [a for a in attrs if not a["hierarchy_code"] or hierarchy.startswith(a["hierarchy_code"])]
        return JSONResponse({"attributes": attrs})

    @app.get("/api/hierarchies")
    async def h11(hierarchy: str | None = None, max_level: int | None = None) -> Response:
        rows = reference.hierarchies()
        if hierarchy:
            rows = [r for r in rows if r["code"] == hierarchy or r["parent_code"] == hierarchy]
        if max_level is not None:
            rows = [r for r in rows if r["level"] <= max_level]
        return JSONResponse({"hierarchies": rows})

    @app.get("/api/values_lists")
    async def vl11(code: str | None = None) -> Response:
        lists = reference.values_lists()
        if code:
            lists = [vl for vl in lists if vl["code"] == code]
        return JSONResponse({"values_lists": lists})

    # =================================================================== reference data
    @app.get("/api/shipping/carriers")
    async def sh21() -> Response:
        return JSONResponse({"carriers": reference.CARRIERS})

    @app.get("/api/shipping/types")
    async def sh12() -> Response:
        return JSONResponse({"shipping_types": reference.SHIPPING_TYPES})

    @app.get("/api/reasons")
    async def re01() -> Response:
        return JSONResponse({"reasons": reference.REASONS, "total_count": len(reference.REASONS)})

    @app.get("/api/account")
    async def a01() -> Response:
        def run() -> dict[str, Any]:
            return reference.account(state.shop_id, offers_count=len(state.live_offers()),
                                     orders_count=len(state.orders), now_iso=iso(state.clock.now()) or "")

        return JSONResponse(locked(run))

    # =================================================================== control API
    @app.post("/_sandbox/orders")
    async def control_create_order(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise SandboxError(400, "The body must be a JSON object")
        order = locked(lambda: state.create_order(body))
        return JSONResponse({"order_id": order.order_id,
                             "order_line_ids": [line.order_line_id for line in order.lines]}, status_code=201)

    @app.get("/_sandbox/orders/{order_id}")
    async def control_get_order(order_id: str) -> Response:
        return JSONResponse(locked(lambda: state.order_json(state.get_order(order_id))))

    @app.post("/_sandbox/orders/{order_id}/debit")
    async def control_debit(order_id: str) -> Response:
        order = locked(lambda: state.debit_order(order_id))
        return JSONResponse({"order_id": order.order_id, "order_state": order.state})

    @app.post("/_sandbox/orders/{order_id}/cancel")
    async def control_cancel(order_id: str) -> Response:
        order = locked(lambda: state.cancel_order(order_id, by_shop=False, reason_code="34"))
        return JSONResponse({"order_id": order.order_id, "order_state": order.state})

    @app.post("/_sandbox/orders/{order_id}/receive")
    async def control_receive(order_id: str) -> Response:
        order = locked(lambda: state.receive_order(order_id))
        return JSONResponse({"order_id": order.order_id, "order_state": order.state})

    @app.post("/_sandbox/orders/{order_id}/operator-refund")
    async def control_operator_refund(order_id: str, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SandboxError(400, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise SandboxError(400, "The body must be a JSON object")
        refunds = locked(lambda: state.operator_refund(order_id, body))
        return JSONResponse({"refund_ids": [r.id for r in refunds]}, status_code=201)

    @app.post("/_sandbox/clock/advance")
    async def control_clock(request: Request) -> Response:
        body = await _json_body(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise SandboxError(400, 'body must be {"seconds": N} with N >= 0')
        return JSONResponse({"now": state.advance(float(seconds))})

    @app.post("/_sandbox/faults")
    async def control_faults(request: Request) -> Response:
        state.set_faults(await _json_body(request))
        return JSONResponse({"rules": [rule.__dict__ for rule in state.fault_rules]})

    @app.delete("/_sandbox/faults")
    async def control_clear_faults() -> Response:
        state.clear_faults()
        return Response(status_code=204)

    @app.get("/_sandbox/calls")
    async def control_calls() -> Response:
        return JSONResponse(state.calls_json())

    @app.delete("/_sandbox/calls")
    async def control_clear_calls() -> Response:
        state.clear_calls()
        return Response(status_code=204)

    @app.get("/_sandbox/offer-quantities")
    async def control_offer_quantities() -> Response:
        """``{shop_sku: quantity}`` of every live offer, read in one locked pass (imports due by now
        applied first): a soak samples the marketplace side every few seconds with one call."""
        return JSONResponse(locked(lambda: {o.shop_sku: o.quantity for o in state.live_offers()}))

    @app.get("/_sandbox/offers/{sku:path}")
    async def control_get_offer(sku: str) -> Response:
        return JSONResponse(locked(lambda: state.offer_json(state.get_offer(sku))))

    @app.put("/_sandbox/offers/{sku:path}")
    async def control_put_offer(sku: str, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise SandboxError(400, "The body must be a JSON object")
        return JSONResponse(locked(lambda: state.offer_json(state.operator_edit_offer(sku, body))))

    @app.get("/_sandbox/state")
    async def control_state() -> Response:
        return JSONResponse(state.summary())

    @app.post("/_sandbox/settings")
    async def control_settings(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise SandboxError(400, "The body must be a JSON object of settings")
        with state.lock:
            state.settings.update(body)
            return JSONResponse(state.settings.as_dict())

    @app.post("/_sandbox/rate-limits/reset")
    async def control_reset_limits() -> Response:
        state.reset_rate_limits()
        return Response(status_code=204)

    @app.get("/_sandbox/rate-limits")
    async def control_get_limits() -> Response:
        return JSONResponse(locked(state.frequency.as_dict))

    @app.post("/_sandbox/rate-limits")
    async def control_set_limits(request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(locked(lambda: state.frequency.configure(body)))

    return app


__all__ = ["create_app"]
