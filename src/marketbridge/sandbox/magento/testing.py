"""Helpers for tests and demos that drive the Magento sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

from marketbridge.sandbox.server import RunningServer, serve_in_thread

from .app import create_app

TOKEN = "sandbox-magento-token"  # nosec B105 # the simulator's public default token, not a secret

ADDRESS: dict[str, Any] = {
    "firstname": "Ada",
    "lastname": "Lovelace",
    "street": ["1 Sloane Square"],
    "city": "London",
    "postcode": "SW1W 8EL",
    "country_id": "GB",
    "telephone": "02070000000",
    "email": "ada@example.invalid",
}


@contextmanager
def running_sandbox(**kwargs: Any) -> Iterator[tuple[RunningServer, Any]]:
    """Start ``create_app(**kwargs)`` on a free loopback port; yields (server, app)."""
    app = create_app(**kwargs)
    server = serve_in_thread(app)
    try:
        yield server, app
    finally:
        server.stop()
        if app.state.webhooks is not None:
            app.state.webhooks.close()


def rest_client(server: RunningServer, store: str = "all", token: str = TOKEN) -> httpx2.Client:
    return httpx2.Client(
        base_url=f"{server.url}/rest/{store}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def place_cart_order(http: httpx2.Client, items: list[dict[str, Any]], *, payment: str = "checkmo") -> int:
    """Admin cart → items → flat-rate shipping → ``PUT /order``; returns the order entity id."""
    cart = http.post("/V1/carts/").json()
    for item in items:
        response = http.post(f"/V1/carts/{cart}/items", json={"cartItem": {"quote_id": str(cart), **item}})
        response.raise_for_status()
    info = {
        "shipping_address": ADDRESS,
        "billing_address": ADDRESS,
        "shipping_carrier_code": "flatrate",
        "shipping_method_code": "flatrate",
    }
    http.post(f"/V1/carts/{cart}/shipping-information", json={"addressInformation": info}).raise_for_status()
    response = http.put(f"/V1/carts/{cart}/order", json={"paymentMethod": {"method": payment}})
    response.raise_for_status()
    return int(response.json())
