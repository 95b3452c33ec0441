"""The soak's webhook router (bench/soak.py) behaves as a load balancer: with one worker dead,
every delivery reaches the live one, however many arrive at once."""

from __future__ import annotations

import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak import WebhookRouter, skus_in  # noqa: E402


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: nothing listens there


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog (5) refused a connection of 16 at once now and then


def test_with_one_worker_dead_every_concurrent_delivery_reaches_the_live_one() -> None:
    live = _Server(("127.0.0.1", 0), _Ok)
    live.daemon_threads = True
    threading.Thread(target=live.serve_forever, daemon=True).start()
    router = WebhookRouter([f"http://127.0.0.1:{_dead_port()}", f"http://127.0.0.1:{live.server_address[1]}"])
    body = b'{"eventName": "plugin.x", "data": {"sourceItems": [{"sku": "MB-1"}]}}'
    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda _: router.forward("/webhooks/adobe-commerce", body, {})[0], range(400)))
    finally:
        router.stop()
        live.shutdown()
    assert statuses.count(200) == 400, {s: statuses.count(s) for s in set(statuses)}
    assert len(router.by_sku["MB-1"]) == 20 and all("-> 200 from" in line for line in router.by_sku["MB-1"])


def test_skus_are_found_in_every_shape_of_body() -> None:
    body = {"eventName": "x", "data": {"sourceItems": [{"sku": "A"}], "product": {"sku": "B"},
                                       "order": {"items": [{"sku": "C"}, {"sku": 7}]}}}
    assert sorted(skus_in(body)) == ["A", "B", "C"]
