"""Stock sync benchmark: sandboxes and the service as separate processes, real HTTP throughout.

    .venv/bin/python bench/stock_sync.py            # 50,000 SKUs, 100,000 changes over 60 s
    .venv/bin/python bench/stock_sync.py --quick    # 5,000 SKUs, 10,000 changes over 20 s, 1/10 intervals

What it does, in order:

1. starts the Adobe Commerce sandbox (signing webhooks to the service), the Mirakl sandbox (real
   call-frequency limits unless ``--rate-scale``) and ``marketbridge run`` as three processes;
2. **full resync**: ``marketbridge sync stock --full --wait`` (reads every product and source item,
   applies the rules, pushes one STO01 and one PRI01 import, waits for the marketplace) — timed;
3. waits until the stock import window is open again, then makes the **burst**: ``--changes``
   source-item changes through ``POST /V1/inventory/source-items`` (``--batch`` items a call),
   spread evenly over ``--seconds``; nobody calls the service, it hears the webhooks;
4. waits until the service has drained its outbox, then reads the figures: imports sent versus the
   lower bound (one per import interval per API over the run), latency per change from the moment
   Magento answered the change to the completion of the import that carried it (p50, p99), the
   import's own processing time, the service's CPU seconds and peak memory (``/proc``);
5. checks a sample of SKUs: the marketplace offer equals Magento's salable quantity.

The service's database is read directly (read-only) for the figures; nothing else touches it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "sandbox-magento-token"


# ------------------------------------------------------------------------------- child roles
def serve_role(args: argparse.Namespace) -> None:
    from marketbridge.sandbox.catalogue import seed_catalogue
    from marketbridge.sandbox.server import serve_forever

    catalogue = seed_catalogue(args.skus, args.seed)
    if args.role == "magento":
        from marketbridge.sandbox.magento.app import create_app

        app = create_app(catalogue, webhook_url=args.webhook_url, webhook_private_key_path=args.key)
    else:
        from marketbridge.sandbox.mirakl.app import create_app

        app = create_app(catalogue, rate_scale=args.rate_scale)
    serve_forever([(app, args.port)])


# ------------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 180.0) -> None:
    import httpx2

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=5).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not up after {timeout}s")


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parse_ts(value: str | None) -> float | None:
    if not value:
        return None
    text = value.replace(" ", "T")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def db_rows(db_path: Path, query: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def wait_drained(db_path: Path, *, deadline: float, since: str | None, expect_batches: bool = False,
                 settle_after: float = 0.0) -> None:
    """Until nothing is hinted, pending, in flight or unhandled (and, with ``since``, at least one
    batch created since then exists and all of them are finished)."""
    while time.time() < deadline:
        time.sleep(1.0)
        hints = db_rows(db_path, "select count(*) from stock_hints")[0][0]
        pending = db_rows(db_path, "select count(*) from sync_outbox where pending_value is not null "
                                   "or inflight_batch_id is not null")[0][0]
        active = db_rows(db_path, "select count(*) from sync_lanes where active_batch_id is not null")[0][0]
        unhandled = db_rows(db_path, "select count(*) from webhook_events where handled_at is null")[0][0]
        if hints or pending or active or unhandled or time.time() - settle_after < 3:
            continue
        if expect_batches and since is not None:
            rows = db_rows(db_path, "select count(*), sum(state in ('complete','failed')) from sync_batches "
                                    "where created_at >= ?", (since,))[0]
            if not rows[0] or rows[0] != rows[1]:
                continue
        return
    raise TimeoutError("the service did not drain its outbox in time")


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]


# ------------------------------------------------------------------------------- the run
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skus", type=int, default=50_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=100, help="source items per Magento REST call")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="Mirakl interval multiplier (1.0 = real)")
    parser.add_argument("--quick", action="store_true", help="5,000 SKUs, 10,000 changes, 20 s, intervals x0.1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--sample", type=int, default=500, help="SKUs checked Magento vs marketplace at the end")
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    parser.add_argument("--role", choices=["magento", "mirakl"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--webhook-url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        serve_role(args)
        return
    if args.quick:
        args.skus, args.changes, args.seconds, args.rate_scale = 5_000, 10_000, 20.0, 0.1
    run(args)


def run(args: argparse.Namespace) -> None:
    import httpx2

    from marketbridge.sandbox.catalogue import seed_catalogue

    work = Path(tempfile.mkdtemp(prefix="mb-bench-stock-"))
    db_path = work / "marketbridge.sqlite"
    key = work / "webhook.pem"
    ports = {"magento": free_port(), "mirakl": free_port(), "service": free_port()}
    interval = 60.0 * args.rate_scale
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "MARKETBRIDGE_DATABASE_URL": f"sqlite:///{db_path}",
        "MARKETBRIDGE_MAGENTO_BASE_URL": f"http://127.0.0.1:{ports['magento']}",
        "MARKETBRIDGE_MIRAKL_BASE_URL": f"http://127.0.0.1:{ports['mirakl']}",
        "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": str(args.rate_scale),
        "MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY_FILE": str(key) + ".pub",
        "MARKETBRIDGE_LOG_LEVEL": "WARNING",
        "MARKETBRIDGE_SESSION_SECRET": secrets.token_urlsafe(48),  # `run` refuses to start without one
    }
    procs: list[subprocess.Popen] = []
    logs = {name: open(work / f"{name}.log", "wb") for name in ("magento", "mirakl", "service")}

    def spawn(name: str, argv: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, stdout=logs[name], stderr=subprocess.STDOUT, cwd=work)
        procs.append(proc)
        return proc

    me = [sys.executable, str(Path(__file__).resolve())]
    cli = [sys.executable, "-c", "from marketbridge.cli.main import main; main()"]
    figures: dict[str, object] = {"skus": args.skus, "changes": args.changes, "seconds": args.seconds,
                                  "rate_scale": args.rate_scale, "import_interval_s": interval, "workdir": str(work)}
    try:
        print(f"[bench] workdir {work}", flush=True)
        t0 = time.monotonic()
        spawn("magento", [*me, "--role", "magento", "--port", str(ports["magento"]), "--skus", str(args.skus),
                          "--seed", str(args.seed), "--key", str(key),
                          "--webhook-url", f"http://127.0.0.1:{ports['service']}/webhooks/adobe-commerce"])
        spawn("mirakl", [*me, "--role", "mirakl", "--port", str(ports["mirakl"]), "--skus", str(args.skus),
                         "--seed", str(args.seed), "--rate-scale", str(args.rate_scale)])
        wait_http(f"http://127.0.0.1:{ports['magento']}/_sandbox/state")
        wait_http(f"http://127.0.0.1:{ports['mirakl']}/_sandbox/state")
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, cwd=work, capture_output=True)
        service = spawn("service", [*cli, "run", "--port", str(ports["service"])])
        wait_http(f"http://127.0.0.1:{ports['service']}/healthz")
        print(f"[bench] sandboxes ({args.skus} SKUs) and service up in {time.monotonic() - t0:.1f} s", flush=True)

        # ---- full resync (also the warm-up: the service learns every SKU) -------------------
        # `marketbridge sync stock --full` reads and queues every SKU; the running service pushes.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        resync_from = datetime.now(UTC).isoformat(sep=" ")
        done = subprocess.run([*cli, "sync", "stock", "--full"], env=env, cwd=work, capture_output=True, text=True)
        read_s = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"resync failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        wait_drained(db_path, deadline=time.time() + 900, since=resync_from, expect_batches=True)
        resync_s = time.monotonic() - started
        figures["full_resync_s"] = round(resync_s, 1)
        figures["full_resync_read_and_queue_s"] = round(read_s, 1)
        figures["full_resync_cli_cpu_s"] = round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 1)
        figures["full_resync_cli_peak_rss_mb"] = round(after.ru_maxrss / 1024, 1)
        resync_batches = db_rows(db_path, "select api, sku_count, sent_at, completed_at from sync_batches "
                                          "where created_at >= ? order by id", (resync_from,))
        figures["full_resync_imports"] = [{"api": a, "skus": n, "processing_s": round(parse_ts(c) - parse_ts(s), 1)
                                           if s and c else None} for a, n, s, c in resync_batches]
        figures["service_peak_rss_mb_after_resync"] = round(proc_peak_rss_mb(service.pid), 1)
        print(f"[bench] full resync of {args.skus} SKUs: {resync_s:.1f} s (read and queue {read_s:.1f} s) "
              f"{figures['full_resync_imports']}", flush=True)

        # ---- burst ----------------------------------------------------------------------------
        last_sent = max((parse_ts(r[0]) or 0) for r in db_rows(db_path, "select last_sent_at from sync_lanes") or [(None,)])
        wait = max(0.0, last_sent + interval - time.time() + 0.5)
        if wait:
            print(f"[bench] waiting {wait:.0f} s for the import window", flush=True)
            time.sleep(wait)
        skus = [p.sku for p in seed_catalogue(args.skus, args.seed)
                if p.type_id == "simple" and p.marketplace_sku == p.sku and p.manage_stock and p.status == 1]
        rng = random.Random(args.seed)
        calls = math.ceil(args.changes / args.batch)
        plan = [[(rng.choice(skus), rng.randint(0, 500)) for _ in range(min(args.batch, args.changes - i * args.batch))]
                for i in range(calls)]
        changes: list[tuple[float, str, int]] = []
        lock = threading.Lock()
        errors = []
        cpu_before = proc_cpu_seconds(service.pid)
        burst_start = time.time()

        def sender(worker: int, workers: int) -> None:
            with httpx2.Client(base_url=f"http://127.0.0.1:{ports['magento']}", timeout=120,
                               headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                for index in range(worker, calls, workers):
                    due = burst_start + index * args.seconds / calls
                    delay = due - time.time()
                    if delay > 0:
                        time.sleep(delay)
                    body = {"sourceItems": [{"sku": s, "source_code": "default", "quantity": q, "status": 1 if q else 0}
                                            for s, q in plan[index]]}
                    try:
                        response = client.post("/rest/all/V1/inventory/source-items", json=body)
                    except httpx2.HTTPError as error:
                        errors.append(f"{type(error).__name__}")
                        continue
                    at = time.time()
                    if response.status_code != 200:
                        errors.append(response.text[:200])
                        continue
                    with lock:
                        changes.extend((at, s, q) for s, q in plan[index])

        threads = [threading.Thread(target=sender, args=(w, 4)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        burst_end = time.time()
        print(f"[bench] burst: {len(changes)} changes in {burst_end - burst_start:.1f} s ({len(errors)} failed calls)",
              flush=True)

        # ---- drain ----------------------------------------------------------------------------
        wait_drained(db_path, deadline=time.time() + 10 * interval + 600, since=None, settle_after=burst_end)
        drained = time.time()
        cpu = proc_cpu_seconds(service.pid) - cpu_before
        figures["burst_failed_calls"] = len(errors)
        figures["burst_seconds_actual"] = round(burst_end - burst_start, 1)
        figures["service_cpu_s_burst"] = round(cpu, 1)
        figures["service_peak_rss_mb"] = round(proc_peak_rss_mb(service.pid), 1)
        figures["drain_s_after_burst"] = round(drained - burst_end, 1)

        batches = [(a, n, parse_ts(s), parse_ts(c), st) for a, n, s, c, st in db_rows(
            db_path, "select api, sku_count, sent_at, completed_at, state from sync_batches where created_at >= ? "
                     "order by id", (datetime.fromtimestamp(burst_start, UTC).isoformat(sep=" "),))]
        run_s = drained - burst_start
        by_api: dict[str, int] = {}
        for api, _n, sent, _c, _st in batches:
            if sent:
                by_api[api] = by_api.get(api, 0) + 1
        lower = math.ceil(run_s / interval)
        figures["imports_sent"] = by_api
        figures["imports_lower_bound_per_api"] = lower
        figures["imports_definition"] = "lower bound = ceil((drained - first change) / interval) per import API"
        figures["import_processing_s"] = [round(c - s, 1) for _a, _n, s, c, _st in batches if s and c]
        figures["batch_sizes"] = [n for _a, n, _s, _c, _st in batches]

        # ---- latency per change: change answered by Magento -> completion of the import whose
        # Magento read happened after it (read_at >= change time), from the per-SKU push history
        history: dict[str, list[tuple[float, float]]] = {}
        for sku, read_at, completed in db_rows(
                db_path, "select sku, read_at, completed_at from sku_push_log where kind='stock' and result='ok' "
                         "and completed_at >= ? order by id",
                (datetime.fromtimestamp(burst_start, UTC).isoformat(sep=" "),)):
            history.setdefault(sku, []).append((parse_ts(read_at) or 0.0, parse_ts(completed) or 0.0))
        latencies, unmatched = [], 0
        for at, sku, _q in changes:
            rows = history.get(sku, [])
            hit = next((c for r, c in rows if r >= at), None)
            if hit is None:  # value unchanged by this change (coalesced to an equal value already in flight)
                hit = next((c for _r, c in rows if c >= at), None)
            if hit is None:
                unmatched += 1
                continue
            latencies.append(hit - at)
        figures["latency_p50_s"] = round(percentile(latencies, 50), 1)
        figures["latency_p99_s"] = round(percentile(latencies, 99), 1)
        figures["latency_max_s"] = round(max(latencies), 1) if latencies else None
        figures["latency_changes_measured"] = len(latencies)
        figures["latency_changes_without_import"] = unmatched

        # ---- correctness sample ---------------------------------------------------------------
        final: dict[str, int] = {}
        for _at, sku, q in sorted(changes):
            final[sku] = q
        sample = rng.sample(sorted(final), min(args.sample, len(final)))
        mismatches = []
        with httpx2.Client(timeout=30) as client:
            for sku in sample:
                salable = client.get(f"http://127.0.0.1:{ports['magento']}/rest/all/V1/inventory/"
                                     f"get-product-salable-quantity/{sku}/1",
                                     headers={"Authorization": f"Bearer {TOKEN}"}).json()
                offered = client.get(f"http://127.0.0.1:{ports['mirakl']}/_sandbox/offers/{sku}").json()["quantity"]
                if int(salable) != offered:
                    mismatches.append((sku, salable, offered))
        figures["sample_checked"] = len(sample)
        figures["sample_mismatches"] = len(mismatches)
        if mismatches:
            figures["sample_mismatch_examples"] = mismatches[:5]
        issues = db_rows(db_path, "select type, count(*) from exception_records where state='open' group by type")
        figures["open_exceptions"] = dict(issues)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for handle in logs.values():
            handle.close()
    print(json.dumps(figures, indent=2), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
