"""Synchronous Adobe Commerce (Magento 2.4) REST client.

* URL: ``<base_url>/rest/<store_code>/V1/...``; ``all`` (global scope) by default, because writes
  through ``default`` create store-view overrides (MAGENTO.md §1).
* Auth: integration token as ``Authorization: Bearer`` (needs ``enable_integration_as_bearer`` on
  2.4.4+), or OAuth 1.0a HMAC-SHA256 signing of every request (works regardless of that setting).
* Errors: Magento's ``{"message", "parameters"}`` is rendered (``%name`` / ``%1`` filled in) and
  raised as the shared tree in ``adapters/errors.py``.
* Retries (stamina) only where repeating cannot duplicate an effect: GETs. Writes are never
  retried here; the service decides, after checking whether the first attempt took effect
  (e.g. ``find_order_by_ext_id`` before placing an order again). A 429 always carries
  ``retry_after`` and that delay is honoured as is.
* Every call is counted in ``marketbridge_api_calls_total{api,status}`` with ``api`` the route
  template (``GET /V1/orders/{id}``), never the concrete id.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx2
import stamina
from pydantic import BaseModel, ValidationError

from marketbridge.adapters.errors import (
    AuthFailed,
    NetworkError,
    NotFound,
    RateLimited,
    Rejected,
    RemoteError,
    ServerError,
)
from marketbridge.adapters.metrics import record_call

from . import checkout
from . import models as magento_models
from .criteria import SearchCriteria, chunks
from .oauth import OAuth1Credentials, authorization_header

M = TypeVar("M", bound=BaseModel)

_NAMED = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)")
_POSITIONAL = re.compile(r"%(\d+)")


def render_message(message: str, parameters: Any) -> str:
    """Fill Magento's placeholders: ``%name`` from a dict, ``%1``.. from a list (1-based)."""
    if isinstance(parameters, dict):
        return _NAMED.sub(lambda mt: str(parameters.get(mt.group(1), mt.group(0))), message)
    if isinstance(parameters, list):

        def positional(mt: re.Match[str]) -> str:
            index = int(mt.group(1)) - 1
            return str(parameters[index]) if 0 <= index < len(parameters) else mt.group(0)

        return _POSITIONAL.sub(positional, message)
    return message


def error_from_response(response: httpx2.Response, api: str) -> RemoteError:
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = render_message(body["message"], body.get("parameters"))
        details = [
            render_message(e.get("message", ""), e.get("parameters"))
            for e in body.get("errors") or []
            if isinstance(e, dict)
        ]
        if details:
            message = f"{message}: " + "; ".join(details)
    else:
        message = f"HTTP {status}"
    kwargs: dict[str, Any] = {"api": api, "status": status, "body": body}
    if status == 429:
        return RateLimited(message, retry_after=_retry_after(response), **kwargs)
    if status in (401, 403):
        return AuthFailed(message, **kwargs)
    if status == 404:
        return NotFound(message, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return Rejected(message, **kwargs)


def _retry_after(response: httpx2.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0


def _retry_hook(error: Exception) -> bool | float:
    if isinstance(error, RateLimited):
        return error.retry_after
    return isinstance(error, ServerError | NetworkError)


def _as_id(value: Any) -> int:
    """Ship/invoice/refund/place return the id as a JSON int or a numeric string (§1)."""
    text = str(value).strip().strip('"')
    if isinstance(value, bool) or not text.isdigit():
        raise ServerError(f"expected a numeric id, got a {type(value).__name__}", status=200)
    return int(text)


def _parse(model: type[M], data: Any) -> M:
    """Validate an answer into ``model``; an answer of the wrong shape is the remote's fault, so it
    becomes a :class:`ServerError` naming the fields (never their values: they may be personal)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e.get('loc', ())) or 'body'}: {e.get('msg', '')}"
            for e in error.errors()[:3]
        )
        name = getattr(model, "__name__", "entity")
        raise ServerError(f"unexpected {name} in the answer ({problems})", status=200) from None


def _list(data: Any) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise ServerError(f"expected a JSON array, got a {type(data).__name__}", status=200)
    return data


class MagentoClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        store_code: str = "all",
        transport: httpx2.BaseTransport | None = None,
        timeout: float = 30.0,
        oauth: OAuth1Credentials | None = None,
        retry_attempts: int = 4,
        retry_timeout: float | None = 120.0,
        max_page_size: int = 300,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", store_code):
            raise ValueError("store_code must be a Magento store code")
        self.base_url = base_url.rstrip("/")
        self.store_code = store_code
        self._token = token
        self._oauth = oauth
        self.retry_attempts = retry_attempts
        self.retry_timeout = retry_timeout
        self.max_page_size = max_page_size
        self._answered = threading.local()  # per thread: the Date of the last answer
        self._http = httpx2.Client(
            transport=transport, timeout=timeout, headers={"Accept": "application/json"}
        )

    @classmethod
    def from_settings(cls, settings: Any, *, transport: httpx2.BaseTransport | None = None) -> MagentoClient:
        oauth = None
        parts = [
            settings.magento_oauth_consumer_key,
            settings.magento_oauth_consumer_secret,
            settings.magento_oauth_access_token,
            settings.magento_oauth_access_token_secret,
        ]
        if all(p is not None for p in parts):
            oauth = OAuth1Credentials(*(p.get_secret_value() for p in parts))
        return cls(
            str(settings.magento_base_url),
            settings.magento_token.get_secret_value(),
            store_code=settings.magento_store_code,
            transport=transport,
            timeout=settings.magento_timeout_seconds,
            oauth=oauth,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MagentoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        auth = "oauth" if self._oauth else "bearer"
        return f"MagentoClient({self.base_url!r}, store={self.store_code!r}, auth={auth})"

    # ------------------------------------------------------------------ transport
    def _url(self, path: str, params: list[tuple[str, str]] | None) -> str:
        url = f"{self.base_url}/rest/{self.store_code}{path}"
        if params:
            url += "?" + urlencode(params, quote_via=quote)
        return url

    def _send_once(
        self, method: str, path: str, api: str, params: list[tuple[str, str]] | None, body: Any
    ) -> Any:
        url = self._url(path, params)
        headers = {}
        if self._oauth is not None:
            headers["Authorization"] = authorization_header(self._oauth, method, url)
        else:
            headers["Authorization"] = f"Bearer {self._token}"
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        try:
            response = self._http.request(method, url, headers=headers, content=content)
        except httpx2.TransportError as error:
            record_call(api, "network")
            raise NetworkError(f"{type(error).__name__}: {error}", api=api) from None
        record_call(api, response.status_code)
        self._answered.date = response.headers.get("date")
        if response.status_code >= 400:
            raise error_from_response(response, api)
        if not response.content:
            return None
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: a hostile body nested thousands deep
            raise ServerError(
                "response is not JSON", api=api, status=response.status_code, body=response.text[:500]
            ) from None

    def last_answer_time(self) -> datetime | None:
        """Magento's own clock (the HTTP ``Date`` header, UTC) at this thread's last answer, or
        None. Cursors on Magento timestamps use it instead of our clock."""
        text = getattr(self._answered, "date", None)
        if not text:
            return None
        try:
            return parsedate_to_datetime(text).astimezone(UTC)
        except (TypeError, ValueError):
            return None

    def _call(
        self,
        method: str,
        template: str,
        *,
        path_params: dict[str, Any] | None = None,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        retry: bool | None = None,
    ) -> Any:
        """``template`` like ``/V1/orders/{id}``; path params are URL-encoded (SKUs may hold ``/``)."""
        path = template
        for key, value in (path_params or {}).items():
            path = path.replace("{" + key + "}", quote(str(value), safe=""))
        api = f"{method} {template}"
        if retry is None:
            retry = method == "GET"
        if not retry:
            return self._send_once(method, path, api, params, body)
        for attempt in stamina.retry_context(
            on=_retry_hook,
            attempts=self.retry_attempts,
            timeout=self.retry_timeout,
            wait_initial=0.2,
            wait_max=10.0,
        ):
            with attempt:
                return self._send_once(method, path, api, params, body)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ paging helpers
    def _page_size(self, wanted: int) -> int:
        """Never ask for more than ``max_page_size``: stores with web-API input limits on reject
        ``pageSize`` above 300 (``Maximum SearchCriteria pageSize is 300``)."""
        return max(1, min(wanted, self.max_page_size))

    def _search(self, template: str, criteria: SearchCriteria, model: type[M]) -> magento_models.SearchResult[M]:
        data = self._call("GET", template, params=criteria.to_params())
        return _parse(magento_models.SearchResult[model], data)  # type: ignore[valid-type]

    def _keyset(
        self,
        template: str,
        base: SearchCriteria,
        model: type[M],
        page_size: int,
        after_id: int | None = None,
        key: str = "entity_id",
    ) -> Iterator[M]:
        """Keyset paging: ``entity_id gt <last>`` sorted ascending, always page 1 (fast, stable
        while new rows arrive, unlike offset paging)."""
        page_size = self._page_size(page_size)
        last = after_id
        while True:
            criteria = base.copy()
            if last is not None:
                criteria.where(key, last, "gt")
            criteria.sort_orders = [(key, "ASC")]
            criteria.page(page_size, 1)
            result = self._search(template, criteria, model)
            yield from result.items
            if len(result.items) < page_size:
                return
            last = int(getattr(result.items[-1], key))

    def _pages(self, template: str, base: SearchCriteria, model: type[M], page_size: int) -> Iterator[M]:
        """Offset paging for tables without a usable id; stops on an empty page (2.4 semantics)."""
        page_size = self._page_size(page_size)
        page = 1
        while True:
            criteria = base.copy().page(page_size, page)
            result = self._search(template, criteria, model)
            yield from result.items
            if not result.items or page * page_size >= result.total_count:
                return
            page += 1

    # ------------------------------------------------------------------ catalogue
    def get_product(self, sku: str) -> magento_models.Product:
        return _parse(magento_models.Product, self._call("GET", "/V1/products/{sku}", path_params={"sku": sku}))

    def search_products(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Product]:
        return self._search("/V1/products", criteria, magento_models.Product)

    def iterate_products(
        self,
        updated_since: datetime | str | None = None,
        *,
        page_size: int = 200,
        criteria: SearchCriteria | None = None,
    ) -> Iterator[magento_models.Product]:
        base = criteria.copy() if criteria else SearchCriteria()
        if updated_since is not None:
            base.where("updated_at", updated_since, "gt")
        page_size = self._page_size(page_size)
        last: int | None = None
        while True:
            page_criteria = base.copy()
            if last is not None:
                page_criteria.where("entity_id", last, "gt")
            page_criteria.sort_orders = [("entity_id", "ASC")]
            page_criteria.page(page_size, 1)
            result = self.search_products(page_criteria)
            yield from result.items
            if len(result.items) < page_size or result.items[-1].id is None:
                return
            last = result.items[-1].id

    def configurable_children(self, sku: str) -> list[magento_models.Product]:
        data = self._call("GET", "/V1/configurable-products/{sku}/children", path_params={"sku": sku})
        return [_parse(magento_models.Product, p) for p in _list(data)]

    def bundle_options(self, sku: str) -> list[magento_models.BundleOption]:
        data = self._call("GET", "/V1/bundle-products/{sku}/options/all", path_params={"sku": sku})
        return [_parse(magento_models.BundleOption, o) for o in _list(data)]

    def custom_options(self, sku: str) -> list[magento_models.CustomOption]:
        data = self._call("GET", "/V1/products/{sku}/options", path_params={"sku": sku})
        return [_parse(magento_models.CustomOption, o) for o in _list(data)]

    # ------------------------------------------------------------------ inventory
    def source_items(
        self,
        skus: list[str] | None = None,
        *,
        source_code: str | None = None,
        chunk_size: int = 100,
        page_size: int = 300,
    ) -> list[magento_models.SourceItem]:
        """Source items for ``skus`` (``sku in (...)`` in chunks) or for every SKU."""
        base = SearchCriteria()
        if source_code:
            base.where("source_code", source_code)
        if skus is None:
            return list(self.iterate_source_items(criteria=base, page_size=page_size))
        out: list[magento_models.SourceItem] = []
        for batch in chunks(skus, chunk_size):
            criteria = base.copy().where("sku", batch, "in")
            out.extend(self.iterate_source_items(criteria=criteria, page_size=page_size))
        return out

    def iterate_source_items(
        self, *, criteria: SearchCriteria | None = None, page_size: int = 300
    ) -> Iterator[magento_models.SourceItem]:
        base = criteria.copy() if criteria else SearchCriteria()
        base.sort_orders = [("sku", "ASC"), ("source_code", "ASC")]
        return self._pages("/V1/inventory/source-items", base, magento_models.SourceItem, page_size)

    def export_stock_salable_qty(
        self, sales_channel_type: str, sales_channel_code: str, criteria: SearchCriteria
    ) -> magento_models.SearchResult[magento_models.StockSalableQty]:
        """``GET /V1/inventory/export-stock-salable-qty/{salesChannelType}/{salesChannelCode}``:
        salable quantities of one page of *products* (the criteria filter, sort and page the
        product repository). Magento's ``total_count`` is the size of this page, not of the result."""
        data = self._call(
            "GET",
            "/V1/inventory/export-stock-salable-qty/{salesChannelType}/{salesChannelCode}",
            path_params={"salesChannelType": sales_channel_type, "salesChannelCode": sales_channel_code},
            params=criteria.to_params(camel=True),
        )
        return _parse(magento_models.SearchResult[magento_models.StockSalableQty], data)

    def iterate_export_stock_salable_qty(
        self,
        sales_channel_type: str = "website",
        sales_channel_code: str = "base",
        *,
        criteria: SearchCriteria | None = None,
        page_size: int = 300,
        at_most: int | None = None,
    ) -> Iterator[magento_models.StockSalableQty]:
        """Every row, offset-paged in product ``entity_id`` order (the rows carry no id to keyset on).

        The export pages the *product* repository, then drops every product not assigned to the
        stock (``PreciseExportStockProcessor`` skips on ``SkuIsNotAssignedToStockException``), and
        its ``total_count`` is the row count of the page (magento/inventory#3416). So neither a
        short page nor an empty one is the end: one unassigned SKU makes a page short, a page of
        unassigned SKUs is empty. The number of pages comes from the product count under the same
        filter (``GET /V1/products`` with ``pageSize=1``), and every page up to it is read.
        Products created during the scan land past the end (``entity_id`` order) and a deletion
        can shift one product out of the window: callers read the SKUs the export did not list
        another way (``services.stock.reading``). ``at_most``: a bound the caller knows on the
        products the filter matches (the length of a ``sku in`` list), which saves the count."""
        base = criteria.copy() if criteria else SearchCriteria()
        base.sort_orders = [("entity_id", "ASC")]
        size = self._page_size(page_size)
        if at_most is not None:
            total = at_most
        else:
            counted = base.copy().page(1, 1)
            counted.sort_orders = []
            total = self.search_products(counted).total_count
        page = 1
        while (page - 1) * size < total:
            result = self.export_stock_salable_qty(
                sales_channel_type, sales_channel_code, base.copy().page(size, page)
            )
            yield from result.items
            page += 1

    def save_source_items(self, items: list[magento_models.SourceItemInput]) -> None:
        self._call("POST", "/V1/inventory/source-items", body={"sourceItems": [i.payload() for i in items]})

    def sources(self) -> list[magento_models.Source]:
        return self._search("/V1/inventory/sources", SearchCriteria(), magento_models.Source).items

    def stocks(self) -> list[magento_models.Stock]:
        return self._search("/V1/inventory/stocks", SearchCriteria(), magento_models.Stock).items

    def resolve_stock(self, sales_channel_type: str, sales_channel_code: str) -> magento_models.Stock:
        """``GET /V1/inventory/stock-resolver/{type}/{code}``: the stock a sales channel (type
        ``website``) is assigned to, as MSI resolves it for an order of that website; 404 "No linked
        stock found" when none is."""
        data = self._call(
            "GET",
            "/V1/inventory/stock-resolver/{type}/{code}",
            path_params={"type": sales_channel_type, "code": sales_channel_code},
        )
        return _parse(magento_models.Stock, data)

    def stock_source_links(self, stock_id: int | None = None) -> list[magento_models.StockSourceLink]:
        criteria = SearchCriteria()
        if stock_id is not None:
            criteria.where("stock_id", stock_id)
        return self._search("/V1/inventory/stock-source-links", criteria, magento_models.StockSourceLink).items

    def salable_quantity(self, sku: str, stock_id: int) -> float:
        data = self._call(
            "GET",
            "/V1/inventory/get-product-salable-quantity/{sku}/{stockId}",
            path_params={"sku": sku, "stockId": stock_id},
        )
        try:
            value = float(data) if isinstance(data, int | float | str) and not isinstance(data, bool) else None
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            raise ServerError(f"salable quantity of {sku!r} is not a number", status=200)
        return value

    def is_salable(self, sku: str, stock_id: int) -> bool:
        data = self._call(
            "GET",
            "/V1/inventory/is-product-salable/{sku}/{stockId}",
            path_params={"sku": sku, "stockId": stock_id},
        )
        return bool(data)

    def stock_item(self, sku: str) -> magento_models.StockItem:
        return _parse(magento_models.StockItem, self._call("GET", "/V1/stockItems/{sku}", path_params={"sku": sku}))

    # ------------------------------------------------------------------ orders
    def search_orders(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Order]:
        return self._search("/V1/orders", criteria, magento_models.Order)

    def iterate_orders(
        self,
        updated_since: datetime | str | None = None,
        *,
        after_entity_id: int | None = None,
        page_size: int = 100,
    ) -> Iterator[magento_models.Order]:
        base = SearchCriteria()
        if updated_since is not None:
            base.where("updated_at", updated_since, "gt")
        return self._keyset("/V1/orders", base, magento_models.Order, page_size, after_entity_id)

    def get_order(self, order_id: int) -> magento_models.Order:
        return _parse(magento_models.Order, self._call("GET", "/V1/orders/{id}", path_params={"id": order_id}))

    def find_order_by_ext_id(self, ext_order_id: str) -> magento_models.Order | None:
        result = self.search_orders(SearchCriteria().where("ext_order_id", ext_order_id).page(2))
        exact = [o for o in result.items if o.ext_order_id == ext_order_id]
        return exact[0] if exact else None

    def find_order_by_increment_id(self, increment_id: str) -> magento_models.Order | None:
        result = self.search_orders(SearchCriteria().where("increment_id", increment_id).page(2))
        exact = [o for o in result.items if o.increment_id == increment_id]
        return exact[0] if exact else None

    def create_order_via_cart(
        self,
        lines: list[magento_models.CartLine],
        *,
        shipping_address: magento_models.Address,
        billing_address: magento_models.Address | None = None,
        email: str,
        carrier_code: str = "flatrate",
        method_code: str = "flatrate",
        payment_method: str = "checkmo",
        ext_order_id: str | None = None,
        customer_id: int | None = None,
        guest: bool = False,
    ) -> int:
        """Quote flow (reserves stock, Magento computes totals) → order entity id.

        The payment method is ``payment_method`` when the store offers it for the cart (the
        ``payment_methods`` ``shipping-information`` answers), ``free`` when the total is 0;
        otherwise, and for a carrier the store does not offer, a :class:`Rejected` that says what
        to enable (see :mod:`.checkout`).

        The cart API cannot carry ``ext_order_id``; when given it is written right after placement
        with ``POST /V1/orders {"entity": {"entity_id", "increment_id", "ext_order_id"}}`` (the
        increment id must be resent or Magento generates a new one). If placement times out, the
        cart is re-read: an inactive cart with ``reserved_order_id`` means the order exists.
        """
        billing = billing_address or shipping_address
        if guest:
            cart_ref: str = str(self._call("POST", "/V1/guest-carts"))
            prefix = "/V1/guest-carts/{cartId}"
        else:
            if customer_id is not None:
                cart_ref = str(
                    self._call(
                        "POST", "/V1/customers/{customerId}/carts", path_params={"customerId": customer_id}
                    )
                )
            else:
                cart_ref = str(self._call("POST", "/V1/carts/"))
            prefix = "/V1/carts/{cartId}"
        ids = {"cartId": cart_ref}
        for line in lines:
            item = magento_models.CartItemInput(
                sku=line.sku, qty=line.qty, quote_id=cart_ref, product_option=line.product_option()
            )
            self._call("POST", prefix + "/items", path_params=ids, body={"cartItem": item.payload()})
        shipping = shipping_address.model_copy(update={"email": shipping_address.email or email})
        info = magento_models.AddressInformation(
            shipping_address=shipping,
            billing_address=billing.model_copy(update={"email": billing.email or email}),
            shipping_carrier_code=carrier_code,
            shipping_method_code=method_code,
        )
        try:
            details = self._call(
                "POST",
                prefix + "/shipping-information",
                path_params=ids,
                body={"addressInformation": info.payload()},
            )
        except NotFound as error:
            refused = checkout.carrier_refused(error, carrier_code, method_code)
            if refused is None:
                raise
            raise refused from error
        offered = _parse(magento_models.PaymentDetails, details or {})
        chosen = checkout.choose_payment_method(payment_method, offered)
        payment = magento_models.PaymentMethod(method=chosen).payload()
        try:
            if guest:
                order_ref = self._call(
                    "POST",
                    prefix + "/payment-information",
                    path_params=ids,
                    body={"email": email, "paymentMethod": payment},
                )
            else:
                order_ref = self._call(
                    "PUT", prefix + "/order", path_params=ids, body={"paymentMethod": payment}
                )
            order_id = _as_id(order_ref)
        except (NetworkError, ServerError):
            cart = self._call("GET", prefix, path_params=ids)
            reserved = (cart or {}).get("reserved_order_id")
            if (cart or {}).get("is_active") is False and reserved:
                placed = self.find_order_by_increment_id(str(reserved))
                if placed is None:
                    raise
                order_id = placed.entity_id
            else:
                raise
        if ext_order_id is not None:
            self.set_ext_order_id(order_id, ext_order_id)
        return order_id

    def trial_checkout(self, line: magento_models.CartLine,
                       address: magento_models.Address) -> magento_models.CheckoutOptions:
        """Shipping rates and payment methods a test cart is offered; places nothing (see
        :func:`.checkout.trial_checkout`)."""
        return checkout.trial_checkout(self, line, address)

    def set_ext_order_id(self, order_id: int, ext_order_id: str) -> magento_models.Order:
        order = self.get_order(order_id)
        entity = {
            "entity_id": order.entity_id,
            "increment_id": order.increment_id,
            "ext_order_id": ext_order_id,
        }
        return _parse(magento_models.Order, self._call("POST", "/V1/orders", body={"entity": entity}))

    def create_order_direct(self, entity: magento_models.OrderEntity) -> magento_models.Order:
        """``POST /V1/orders``: stores the order as given (marketplace totals kept), **no** MSI reservation."""
        return _parse(magento_models.Order, self._call("POST", "/V1/orders", body={"entity": entity.payload()}))

    def cancel_order(self, order_id: int) -> bool:
        return bool(self._call("POST", "/V1/orders/{id}/cancel", path_params={"id": order_id}))

    def hold_order(self, order_id: int) -> bool:
        return bool(self._call("POST", "/V1/orders/{id}/hold", path_params={"id": order_id}))

    def unhold_order(self, order_id: int) -> bool:
        return bool(self._call("POST", "/V1/orders/{id}/unhold", path_params={"id": order_id}))

    def add_order_comment(
        self,
        order_id: int,
        comment: str,
        *,
        status: str | None = None,
        notify: bool = False,
        visible_on_front: bool = False,
    ) -> bool:
        history = magento_models.StatusHistoryInput(
            comment=comment,
            is_customer_notified=int(notify),
            is_visible_on_front=int(visible_on_front),
            parent_id=order_id,
            status=status,
        )
        return bool(
            self._call(
                "POST",
                "/V1/orders/{id}/comments",
                path_params={"id": order_id},
                body={"statusHistory": history.payload()},
            )
        )

    def invoice_order(
        self,
        order_id: int,
        capture: bool = True,
        *,
        items: list[magento_models.DocumentItemInput] | None = None,
        notify: bool = False,
    ) -> int:
        request = magento_models.InvoiceRequest(capture=capture, items=items, notify=notify)
        return _as_id(
            self._call(
                "POST",
                "/V1/order/{orderId}/invoice",
                path_params={"orderId": order_id},
                body=request.payload(),
            )
        )

    def search_invoices(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Invoice]:
        return self._search("/V1/invoices", criteria, magento_models.Invoice)

    # ------------------------------------------------------------------ shipments
    def ship_order(
        self,
        order_id: int,
        *,
        items: list[magento_models.DocumentItemInput] | None = None,
        tracks: list[magento_models.TrackInput] | None = None,
        source_code: str | None = None,
        notify: bool = False,
        comment: str | None = None,
    ) -> int:
        request = magento_models.ShipRequest(
            items=items,
            tracks=tracks,
            notify=notify,
            comment=magento_models.CommentInput(comment=comment, is_visible_on_front=0) if comment else None,
            arguments=magento_models.ShipArguments(extension_attributes=magento_models.ShipArgumentsExtension(source_code=source_code))
            if source_code
            else None,
        )
        return _as_id(
            self._call(
                "POST", "/V1/order/{orderId}/ship", path_params={"orderId": order_id}, body=request.payload()
            )
        )

    def search_shipments(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Shipment]:
        return self._search("/V1/shipments", criteria, magento_models.Shipment)

    def iterate_shipments(
        self,
        *,
        after_entity_id: int | None = None,
        created_since: datetime | str | None = None,
        order_id: int | None = None,
        page_size: int = 100,
    ) -> Iterator[magento_models.Shipment]:
        base = SearchCriteria()
        if created_since is not None:
            base.where("created_at", created_since, "gt")
        if order_id is not None:
            base.where("order_id", order_id)
        return self._keyset("/V1/shipments", base, magento_models.Shipment, page_size, after_entity_id)

    def get_shipment(self, shipment_id: int) -> magento_models.Shipment:
        return _parse(magento_models.Shipment,
            self._call("GET", "/V1/shipment/{id}", path_params={"id": shipment_id})
        )

    def add_track(
        self, shipment_id: int, order_id: int, track_number: str, title: str, carrier_code: str
    ) -> magento_models.ShipmentTrack:
        entity = magento_models.TrackEntity(
            order_id=order_id,
            parent_id=shipment_id,
            track_number=track_number,
            title=title,
            carrier_code=carrier_code,
        )
        return _parse(magento_models.ShipmentTrack,
            self._call("POST", "/V1/shipment/track", body={"entity": entity.payload()})
        )

    # ------------------------------------------------------------------ credit memos
    def search_creditmemos(self, criteria: SearchCriteria) -> magento_models.SearchResult[magento_models.Creditmemo]:
        return self._search("/V1/creditmemos", criteria, magento_models.Creditmemo)

    def iterate_creditmemos(
        self,
        *,
        after_entity_id: int | None = None,
        created_since: datetime | str | None = None,
        order_id: int | None = None,
        page_size: int = 100,
    ) -> Iterator[magento_models.Creditmemo]:
        base = SearchCriteria()
        if created_since is not None:
            base.where("created_at", created_since, "gt")
        if order_id is not None:
            base.where("order_id", order_id)
        return self._keyset("/V1/creditmemos", base, magento_models.Creditmemo, page_size, after_entity_id)

    def get_creditmemo(self, creditmemo_id: int) -> magento_models.Creditmemo:
        return _parse(magento_models.Creditmemo,
            self._call("GET", "/V1/creditmemo/{id}", path_params={"id": creditmemo_id})
        )

    def refund_order(
        self,
        order_id: int,
        items: list[magento_models.DocumentItemInput] | None = None,
        shipping_amount: float | None = None,
        adjustment_positive: float = 0.0,
        adjustment_negative: float = 0.0,
        *,
        return_to_stock_items: list[int] | None = None,
        notify: bool = False,
        comment: str | None = None,
    ) -> int:
        """Offline credit memo. ``shipping_amount=None`` lets Magento refund the *remaining*
        shipping (its documented default, even for partial refunds): pass 0 to refund items only."""
        ext = (
            magento_models.RefundArgumentsExtension(return_to_stock_items=return_to_stock_items)
            if return_to_stock_items
            else None
        )
        request = magento_models.RefundRequest(
            items=items,
            notify=notify,
            comment=magento_models.CommentInput(comment=comment, is_visible_on_front=0) if comment else None,
            arguments=magento_models.RefundArguments(
                shipping_amount=shipping_amount,
                adjustment_positive=adjustment_positive,
                adjustment_negative=adjustment_negative,
                extension_attributes=ext,
            ),
        )
        return _as_id(
            self._call(
                "POST",
                "/V1/order/{orderId}/refund",
                path_params={"orderId": order_id},
                body=request.payload(),
            )
        )


__all__ = ["MagentoClient", "error_from_response", "render_message"]
