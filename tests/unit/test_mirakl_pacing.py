"""How the Mirakl client paces itself: the External Partner OR11 pace, per-API paces from settings,
and what it does with a 429's Retry-After (wait within its bound, tell every other caller, never
sleep through an hourly quota). Remote behaviour is faked with httpx2.MockTransport."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx2
import pytest
from pydantic import ValidationError

from marketbridge.adapters.errors import RateLimited
from marketbridge.adapters.mirakl import InProcessCallLimiter, MiraklClient, SqliteCallLimiter
from marketbridge.settings import Settings

ORDERS = {"orders": [], "total_count": 0}


def _client(handler, **kw) -> MiraklClient:
    options = {"rate_scale": 0.0001, "retry_wait_initial": 0.001, "retry_wait_max": 0.002, "retry_attempts": 3}
    options.update(kw)
    return MiraklClient("http://mirakl.invalid", "k3y-secret", transport=httpx2.MockTransport(handler), **options)


def _ok(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json=ORDERS)


# ------------------------------------------------------------------------------ paces from settings
def test_external_partner_setting_paces_or11_every_15_minutes() -> None:
    settings = Settings(mirakl_external_partner=True, mirakl_base_url="http://mirakl.invalid")
    with MiraklClient.from_settings(settings, transport=httpx2.MockTransport(_ok)) as client:
        client.max_limiter_wait = 1.0
        list(client.list_orders())
        with pytest.raises(RateLimited) as caught:
            list(client.list_orders())  # a minute is not enough any more: 15 minutes
    assert caught.value.status is None and caught.value.retry_after == pytest.approx(901)  # 900 s + 1 s margin


def test_per_api_paces_come_from_settings_and_may_only_be_slower() -> None:
    settings = Settings(mirakl_min_intervals={"STO02": 30}, mirakl_base_url="http://mirakl.invalid")
    with MiraklClient.from_settings(settings, transport=httpx2.MockTransport(_ok)) as client:
        assert client.intervals["STO02"] == 30 and client.intervals["OR11"] == 60
    with pytest.raises(ValidationError, match="faster"):
        Settings(mirakl_min_intervals={"OR11": 10})
    with pytest.raises(ValidationError, match="unknown Mirakl API"):
        Settings(mirakl_min_intervals={"XX99": 100})
    with pytest.raises(ValidationError, match="900 s"):  # External Partner: OR11 no faster than 15 minutes
        Settings(mirakl_external_partner=True, mirakl_min_intervals={"OR11": 300})


def test_hourly_quota_is_the_documented_pace_counted_per_hour() -> None:
    from marketbridge.adapters.mirakl.endpoints import hourly_quota, pacing

    assert hourly_quota(60) == 60 and hourly_quota(900) == 4 and hourly_quota(15) == 240
    assert hourly_quota(None) is None and hourly_quota(86400) is None
    assert pacing(external_partner=True)["OR11"] == 900 and pacing()["OR11"] == 60


# ------------------------------------------------------------------------------ 429 and Retry-After
def test_a_retry_after_beyond_the_bound_is_raised_not_slept() -> None:
    calls: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(time.monotonic())
        return httpx2.Response(429, headers={"Retry-After": "3000"}, json={"status": 429, "message": "hour spent"})

    outcome: list[BaseException] = []

    def run() -> None:
        with _client(handler, max_limiter_wait=5.0) as client:
            try:
                list(client.list_orders())
            except BaseException as error:  # noqa: BLE001 - handed to the test thread
                outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "the client slept through an hour-long Retry-After"
    assert len(calls) == 1
    error = outcome[0]
    assert isinstance(error, RateLimited) and error.status == 429 and error.retry_after == 3000


@pytest.mark.parametrize("limiter_kind", ["memory", "sqlite"])
def test_a_429_closes_the_api_for_the_next_caller_too(limiter_kind: str, tmp_path: Path) -> None:
    limiter = InProcessCallLimiter() if limiter_kind == "memory" else SqliteCallLimiter(tmp_path / "l.sqlite")
    stamps: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return httpx2.Response(429, headers={"Retry-After": "0.6"}, json={"status": 429, "message": "slow"})
        return httpx2.Response(200, json=ORDERS)

    with _client(handler, retry_attempts=1, limiter=limiter) as first, _client(handler, limiter=limiter) as second:
        with pytest.raises(RateLimited):
            list(first.list_orders())  # no retries left: the caller defers its work
        list(second.list_orders())  # another caller sharing the limiter waits out the Retry-After
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.55


def test_the_retry_after_a_429_waits_its_retry_after() -> None:
    stamps: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return httpx2.Response(429, headers={"Retry-After": "0.4"}, json={"status": 429, "message": "slow"})
        return httpx2.Response(200, json=ORDERS)

    with _client(handler) as client:
        list(client.list_orders())
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.39


def test_a_429_holds_back_a_per_event_api_too() -> None:
    stamps: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return httpx2.Response(429, headers={"Retry-After": "0.5"}, json={"status": 429, "message": "slow"})
        return httpx2.Response(204)

    limiter = InProcessCallLimiter()
    with _client(handler, retry_attempts=1, limiter=limiter) as first, _client(handler, limiter=limiter) as second:
        with pytest.raises(RateLimited):
            first.ship_order("JL-1-A")  # OR24 has no pace of its own
        second.ship_order("JL-2-A")
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.45


def test_the_shared_limiter_opens_its_file_once_per_thread_not_per_call(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call asks the shared limiter whether a 429 closed its API; that used to open the
    SQLite file each time. One connection per thread answers every later call, and a deferral
    written from one thread is still seen by another."""
    import sqlite3

    opened: list[str] = []
    real_connect = sqlite3.connect

    def counting_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        opened.append(str(args[0]))
        return real_connect(*args, **kwargs)  # type: ignore[arg-type]

    limiter = SqliteCallLimiter(tmp_path / "l.sqlite")
    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    for _ in range(20):
        assert limiter.acquire("OR24", 0.0, 1.0)
    assert len(opened) == 1
    other = threading.Thread(target=lambda: limiter.defer("OR24", 30.0))
    other.start()
    other.join()
    assert len(opened) == 2
    assert limiter.acquire("OR24", 0.0, 1.0) is False  # closed for 30 s, more than the 1 s we may wait
