"""The stock catch-up at start begins only once the web server accepts webhooks again.

A change whose webhook failed while nobody listened is found by the catch-up's scan; one whose
webhook arrives once the socket is bound is received. Started inside the app's lifespan (before
uvicorn binds), the scan could end before the bind, and a delivery failing in between was lost:
the scale-out soak's 3 to 5 mismatches a run."""

from __future__ import annotations

import socket
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI

from marketbridge.cli.serve import serve


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _app(seen: dict[str, bool], port: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        seen["lifespan_startup_accepts"] = _accepts(port)  # where the engine launches
        yield

    return FastAPI(lifespan=lifespan)


def test_on_listening_runs_once_the_socket_accepts_and_the_lifespan_could_not():
    port = _free_port()
    seen: dict[str, bool] = {}
    called = threading.Event()
    servers: list[object] = []

    def on_listening() -> None:
        seen["on_listening_accepts"] = _accepts(port)
        seen["calls"] = seen.get("calls", 0) + 1  # type: ignore[assignment]
        called.set()

    app = _app(seen, port)
    import uvicorn

    original = uvicorn.Server.run

    def run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        servers.append(self)
        return original(self, *args, **kwargs)

    uvicorn.Server.run = run  # type: ignore[method-assign]
    try:
        thread = threading.Thread(target=serve, args=(app,),
                                  kwargs={"host": "127.0.0.1", "port": port, "on_listening": on_listening},
                                  daemon=True)
        thread.start()
        assert called.wait(15), "on_listening was never called"
    finally:
        uvicorn.Server.run = original  # type: ignore[method-assign]
    server = servers[0]
    server.should_exit = True  # type: ignore[attr-defined]
    thread.join(15)
    # The old wiring ran the start hooks in the lifespan: nothing listened yet there.
    assert seen == {"lifespan_startup_accepts": False, "on_listening_accepts": True, "calls": 1}


def test_on_listening_is_not_called_when_the_server_cannot_start():
    port = _free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    called = threading.Event()
    try:
        try:
            serve(FastAPI(), host="127.0.0.1", port=port, on_listening=called.set)
        except SystemExit:
            pass  # uvicorn exits when the address is in use
        assert not called.wait(0.3)
    finally:
        blocker.close()
