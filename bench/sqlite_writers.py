"""How long a short write transaction waits for its turn when many threads write one SQLite file.

    python bench/sqlite_writers.py [--seconds 10] [--short 16] [--long 4] [--cpu-threads 3]

The shape of the full soak's worker: ``--short`` threads write one row and commit (webhook
deliveries, about 2 ms inside the transaction), ``--long`` threads hold the write lock longer
(flows, about 20 ms), each pausing 20 ms between transactions. It runs twice on a fresh WAL file:

* ``busy``: plain sqlite3 connections, waiting in SQLite's busy handler (what we had);
* ``turns``: :class:`marketbridge.adapters.db.sqlite_writes.TurnTakingConnection`, waiting on a
  lock in the process.

Then it runs both again with ``--cpu-threads`` threads that only compute (the flows' Python
work in the worker), at the interpreter's default switch interval (5 ms) and at 1 ms: a writer
woken for its turn, or back from SQLite, waits for the interpreter lock behind them. The service
keeps the default; a soak of a 1 ms setting (full size, run beside other tests) was not clean
enough to judge it, so it is a figure to measure again, not a setting.

It prints, per mode, the transactions done and the latency of the short ones (from the first
write to the end of the commit): p50, p90, p99, max. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from marketbridge.adapters.db.sqlite_writes import TurnTakingConnection


def run(mode: str, seconds: float, short: int, long: int, cpu_threads: int = 0, switch_interval: float = 0.005) -> None:
    directory = Path(tempfile.mkdtemp(prefix="mb-sqlite-writers-"))
    path = directory / "bench.sqlite"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    setup.commit()
    setup.close()
    factory = TurnTakingConnection if mode == "turns" else sqlite3.Connection
    latencies: list[float] = []
    done = [0]
    guard = threading.Lock()
    stop = time.monotonic() + seconds

    def writer(hold: float, record: bool) -> None:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False, factory=factory)
        conn.execute("PRAGMA synchronous=NORMAL")
        while time.monotonic() < stop:
            started = time.perf_counter()
            conn.execute("INSERT INTO t (body) VALUES (?)", ("x" * 200,))
            time.sleep(hold)
            conn.commit()
            took = time.perf_counter() - started
            with guard:
                done[0] += 1
                if record:
                    latencies.append(took)
            time.sleep(0.02)
        conn.close()

    def compute() -> None:
        total = 0
        while time.monotonic() < stop:
            for i in range(1000):
                total += i * i

    before = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval)
    threads = [threading.Thread(target=compute) for _ in range(cpu_threads)]
    threads += [threading.Thread(target=writer, args=(0.002, True)) for _ in range(short)]
    threads += [threading.Thread(target=writer, args=(0.02, False)) for _ in range(long)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sys.setswitchinterval(before)
    latencies.sort()
    n = len(latencies)

    def pct(q: float) -> str:
        return f"{latencies[min(n - 1, int(n * q))] * 1000:.0f}"

    label = mode if not cpu_threads else f"{mode}, {cpu_threads} computing threads, switch {switch_interval * 1000:g} ms"
    print(f"{label}: {done[0]} transactions in {seconds:.0f} s; short ones (ms) p50 {pct(0.5)} "
          f"p90 {pct(0.9)} p99 {pct(0.99)} max {latencies[-1] * 1000:.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--short", type=int, default=16)
    parser.add_argument("--long", type=int, default=4)
    parser.add_argument("--cpu-threads", type=int, default=3)
    args = parser.parse_args()
    for mode in ("busy", "turns"):
        run(mode, args.seconds, args.short, args.long)
    for switch_interval in (0.005, 0.001):
        for mode in ("busy", "turns"):
            run(mode, args.seconds, args.short, args.long, args.cpu_threads, switch_interval)


if __name__ == "__main__":
    main()
