"""Serve ASGI apps on loopback with uvicorn, in a background thread or in the foreground.

Tests and benchmarks use :func:`serve_in_thread` so that every client talks real HTTP to the
simulators; ``marketbridge sandbox`` uses :func:`serve_forever`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def _config(app: object, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
    )


def serve_in_thread(app: object, port: int | None = None, host: str = "127.0.0.1") -> RunningServer:
    """Start ``app`` on ``host:port`` (a free port when ``None``) and wait until it accepts."""
    port = port or free_port(host)
    server = uvicorn.Server(_config(app, host, port))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"server on {host}:{port} failed to start")
        if time.monotonic() > deadline:
            raise TimeoutError(f"server on {host}:{port} did not start in 15 s")
        time.sleep(0.02)
    return RunningServer(server, thread, host, port)


def serve_forever(apps: Iterable[tuple[object, int]], host: str = "127.0.0.1") -> None:
    """Serve several apps in one event loop until Ctrl-C."""
    servers = [uvicorn.Server(_config(app, host, port)) for app, port in apps]

    async def main() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(main())
