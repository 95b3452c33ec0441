"""Signed webhook notifications, as Adobe Commerce's webhook module sends them (MAGENTO.md §11.1),
or as Adobe I/O Events delivers Commerce events (§11.2), with ``mode="io_events"``.

Bodies by hook type (:mod:`.hook_shapes`): a *plugin* hook sends the method's arguments
(``{"subject": [], "sourceItems": [...], "result": null}``), an *observer* hook
``{"eventName": "observer.sales_order_shipment_save_after", "data": {...}}``; each hook can be
given another shape or a field filter. Each hook has its own URL, ``<url>/<hook name>``, as
``docs/setup/adobe-commerce.md`` has merchants register them (``per_hook_urls=False``: all to
``url``). Header ``x-adobe-commerce-webhook-signature``: base64 of an RSA PKCS#1 v1.5 / SHA-256
signature computed over the **base64 encoding of the raw body** (not the body itself).

I/O Events mode: a CloudEvent per event to ``url``, signed over the raw body with two keys
(``x-adobe-digital-signature-1``/``-2``, key paths in ``x-adobe-public-key1-path``/``-2-path``),
after the ``GET <url>?challenge=…`` handshake.

Delivery runs on background threads, one attempt each (see :class:`WebhookDispatcher`), so an API
call never waits for the receiver; what happened is kept in ``deliveries`` for ``GET /_sandbox/state``.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import httpx2
import structlog
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import hook_shapes

SIGNATURE_HEADER = "x-adobe-commerce-webhook-signature"

log = structlog.get_logger(__name__)


def load_or_create_private_key(path: str | Path) -> rsa.RSAPrivateKey:
    """Load the PEM private key at ``path``; create it (and ``<path>.pub``) when missing."""
    path = Path(path)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} is not an RSA private key")
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        path.chmod(0o600)
    pub = Path(str(path) + ".pub")
    if not pub.exists():
        pub.write_bytes(public_pem(key))
    return key


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(raw_body: bytes, key: rsa.RSAPrivateKey) -> str:
    signature = key.sign(base64.b64encode(raw_body), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def io_sign(raw_body: bytes, key: rsa.RSAPrivateKey) -> str:
    """Adobe I/O Events' ``x-adobe-digital-signature-N``: RSA PKCS#1 v1.5 SHA-256 of the raw body."""
    return base64.b64encode(key.sign(raw_body, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


class WebhookDispatcher:
    """Posts signed envelopes to ``url`` from ``workers`` daemon threads, once each.

    Adobe Commerce webhooks are synchronous (MAGENTO.md §11.1): the PHP request that saves the
    entity calls the hook itself, within the hook's ``timeout``, and many requests run at once.
    Nothing queues deliveries behind one another, and no source documents a retry of a failed
    webhook (retries, up to 7, are an Adobe I/O Events feature, §11.2); the sources being silent,
    the simulator takes the stricter reading: one attempt, and a delivery that fails is gone.
    Enough threads (16) that a burst of saves does not wait behind a slow answer: the earlier four
    threads with three attempts each made deliveries queue for tens of seconds behind a receiver
    that was down, which no real store does. What each delivery did, and how long it waited for a
    thread (``waited_s``), is kept for ``GET /_sandbox/state``. Order across events is not
    guaranteed (it is not in Adobe Commerce either)."""

    def __init__(self, url: str, key: rsa.RSAPrivateKey, *, attempts: int = 1, backoff: float = 0.2,
                 workers: int = 16, per_hook_urls: bool = True, shapes: dict[str, str] | None = None,
                 fields: dict[str, list[Any]] | None = None, mode: str = "webhooks",
                 second_key: rsa.RSAPrivateKey | None = None, client_id: str = "sandbox-client-id",
                 hooks: set[str] | None = None) -> None:
        if mode not in ("webhooks", "io_events"):
            raise ValueError(f"unknown webhook mode {mode!r}")
        self.url = url
        self.key = key
        self.attempts = attempts
        self.backoff = backoff
        self.per_hook_urls = per_hook_urls
        self.shapes = dict(shapes or {})  # hook name -> "plugin" / "observer" (default: by the name)
        self.fields = dict(fields or {})  # hook name -> the field filter (``sourceItems[].sku``)
        self.mode = mode
        self.second_key = second_key or key
        self.client_id = client_id
        self.hooks = None if hooks is None else set(hooks)  # the registered hooks (None: every one)
        self.key_paths = (f"/prod/keys/pub-key-{uuid.uuid4()}.pem", f"/prod/keys/pub-key-{uuid.uuid4()}.pem")
        self.challenge: dict[str, Any] | None = None  # I/O Events: how the handshake went
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=1000)
        # How late deliveries were, over the whole run (``deliveries`` keeps only the last 1000):
        # a receiver that was down or slow shows here as deliveries that waited behind others.
        self.lag: dict[str, Any] = {"delivered": 0, "waited_over_1s": 0, "waited_over_5s": 0,
                                    "max_waited_s": 0.0, "latest": []}
        self._lag_lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, bytes, float, threading.Event] | None] = queue.Queue()
        self._closed = False
        if mode == "io_events":
            threading.Thread(target=self._handshake, name="magento-sandbox-io-challenge", daemon=True).start()
        self._threads = [threading.Thread(target=self._run, name=f"magento-sandbox-webhooks-{n}", daemon=True)
                         for n in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    def render(self, event_name: str, data: dict[str, Any]) -> bytes:
        """The body Adobe Commerce sends for this hook (see :mod:`.hook_shapes`)."""
        if self.mode == "io_events":
            value = hook_shapes.io_value(data)
            if event_name in self.fields:
                value = hook_shapes.filtered(value, self.fields[event_name])
            payload = hook_shapes.cloud_event(event_name, value, client_id=self.client_id)
        else:
            payload = hook_shapes.body(event_name, data, self.shapes.get(event_name))
            if event_name in self.fields:
                payload = hook_shapes.filtered(payload, self.fields[event_name])
        return json.dumps(payload, separators=(",", ":")).encode()

    def emit(self, event_name: str, data: dict[str, Any]) -> threading.Event:
        """Queue one delivery; the event is set once it was answered (or failed)."""
        done = threading.Event()
        if self._closed or (self.hooks is not None and event_name not in self.hooks):
            done.set()
            return done
        self._queue.put((event_name, self.render(event_name, data), time.time(), done))
        return done

    def _target(self, event_name: str) -> str:
        if self.mode == "io_events" or not self.per_hook_urls:
            return self.url
        return self.url.rstrip("/") + "/" + event_name

    def _headers(self, body: bytes) -> dict[str, str]:
        if self.mode == "io_events":
            return {"Content-Type": "application/json",
                    "x-adobe-digital-signature-1": io_sign(body, self.key),
                    "x-adobe-digital-signature-2": io_sign(body, self.second_key),
                    "x-adobe-public-key1-path": self.key_paths[0], "x-adobe-public-key2-path": self.key_paths[1]}
        return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.key)}

    def _handshake(self) -> None:
        """I/O Events checks a new webhook with ``GET <url>?challenge=<value>`` before delivering."""
        value = str(uuid.uuid4())
        try:
            response = httpx2.get(self.url, params={"challenge": value}, timeout=10.0)
            answered = response.status_code == 200 and value in response.text
            self.challenge = {"status": response.status_code, "verified": answered}
        except httpx2.HTTPError as error:
            self.challenge = {"status": None, "verified": False, "error": type(error).__name__}

    def _run(self) -> None:
        with httpx2.Client(timeout=5.0) as client:
            while True:
                item = self._queue.get()
                if item is None:
                    self._queue.task_done()
                    return
                event_name, body, emitted_at, done = item
                record: dict[str, Any] = {
                    "event": event_name,
                    "attempts": 0,
                    "status": None,
                    "emitted_at": round(emitted_at, 3),
                    "waited_s": round(time.time() - emitted_at, 3),  # behind other deliveries
                }
                headers = self._headers(body)
                for attempt in range(1, self.attempts + 1):
                    record["attempts"] = attempt
                    try:
                        response = client.post(self._target(event_name), content=body, headers=headers)
                        record["status"] = response.status_code
                        if response.status_code < 300:
                            break
                    except httpx2.HTTPError as error:
                        record["status"] = None
                        record["error"] = type(error).__name__
                    if attempt < self.attempts:
                        time.sleep(self.backoff * attempt)
                record["done_s"] = round(time.time() - emitted_at, 3)  # from the save to the last answer
                done.set()
                self.deliveries.append(record)
                try:
                    self._count_lag(record)
                finally:  # a sender thread must outlive any bookkeeping error
                    self._queue.task_done()

    def _count_lag(self, record: dict[str, Any]) -> None:
        with self._lag_lock:
            lag = self.lag
            lag["delivered"] += 1
            lag["waited_over_1s"] += record["waited_s"] > 1.0
            lag["waited_over_5s"] += record["waited_s"] > 5.0
            lag["max_waited_s"] = max(lag["max_waited_s"], record["waited_s"])
            if record["waited_s"] > 1.0:  # logged, and the latest 50 kept, to set against the soak's episodes
                log.info("sandbox.webhook_late", hook=record["event"],
                         **{k: v for k, v in record.items() if k != "event"})
                lag["latest"] = [*lag["latest"][-49:], {k: record[k] for k in ("event", "emitted_at", "waited_s",
                                                                                "done_s", "status")}]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Idempotent: stop the delivery thread once the queued notifications are sent."""
        if not self._closed:
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)
