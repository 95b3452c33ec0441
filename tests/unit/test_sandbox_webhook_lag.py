"""The Magento simulator's webhook sender: one attempt per delivery, and its lag bookkeeping.

The bookkeeping runs on the sender threads: an error in it once killed all of them (structlog's
``event`` argument clashed with a record key), and the simulator silently stopped sending
webhooks for the rest of a soak. These tests pin both.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric import rsa

from marketbridge.sandbox.magento.webhooks import WebhookDispatcher


def _dispatcher(url: str = "http://127.0.0.1:9/hook") -> WebhookDispatcher:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return WebhookDispatcher(url, key, workers=1)


def test_a_late_delivery_is_counted_and_logged_without_killing_the_sender() -> None:
    dispatcher = _dispatcher()
    try:
        dispatcher._count_lag({"event": "observer.x", "attempts": 1, "status": 200, "emitted_at": time.time() - 3,
                               "waited_s": 2.5, "done_s": 2.6})
        dispatcher._count_lag({"event": "observer.y", "attempts": 1, "status": 200, "emitted_at": time.time(),
                               "waited_s": 0.1, "done_s": 0.2})
        assert dispatcher.lag["delivered"] == 2
        assert dispatcher.lag["waited_over_1s"] == 1 and dispatcher.lag["waited_over_5s"] == 0
        assert dispatcher.lag["max_waited_s"] == 2.5
        assert [late["event"] for late in dispatcher.lag["latest"]] == ["observer.x"]
        # the sender thread still works after the bookkeeping: a later delivery is recorded
        dispatcher.emit("observer.z", {"sku": "A"})
        assert dispatcher.wait_idle(5.0)
        assert dispatcher.deliveries[-1]["event"] == "observer.z"
    finally:
        dispatcher.close()


def test_a_failed_delivery_is_tried_once_not_retried() -> None:
    dispatcher = _dispatcher()  # port 9 (discard) is closed on loopback: the connection is refused
    try:
        dispatcher.emit("observer.catalog_product_save_after", {"sku": "A"})
        assert dispatcher.wait_idle(5.0)
        record = dispatcher.deliveries[-1]
        assert record["attempts"] == 1 and record["status"] is None
    finally:
        dispatcher.close()
