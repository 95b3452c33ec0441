"""How long a short write transaction waits for its turn when many threads write one SQLite file.

    python bench/sqlite_writers.py [--seconds 10] [--short 16] [--long 4]

The shape of the full soak's worker: ``--short`` threads write one row and commit (webhook
deliveries, about 2 ms inside the transaction), ``--long`` threads hold the write lock longer
(flows, about 20 ms), each pausing 20 ms between transactions. It runs twice on a fresh WAL file:

* ``busy``: plain sqlite3 connections, waiting in SQLite's busy handler (what we had);
* ``turns``: :class:`marketbridge.adapters.db.sqlite_writes.TurnTakingConnection`, waiting on a
  lock in the process.

It prints, per mode, the transactions done and the latency of the short ones (from the first
write to the end of the commit): p50, p90, p99, max. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from marketbridge.adapters.db.sqlite_writes import TurnTakingConnection


def run(mode: str, seconds: float, short: int, long: int) -> None:
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

    threads = [threading.Thread(target=writer, args=(0.002, True)) for _ in range(short)]
    threads += [threading.Thread(target=writer, args=(0.02, False)) for _ in range(long)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    n = len(latencies)

    def pct(q: float) -> str:
        return f"{latencies[min(n - 1, int(n * q))] * 1000:.0f}"

    print(f"{mode:5s}: {done[0]} transactions in {seconds:.0f} s; short ones (ms) p50 {pct(0.5)} "
          f"p90 {pct(0.9)} p99 {pct(0.99)} max {latencies[-1] * 1000:.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--short", type=int, default=16)
    parser.add_argument("--long", type=int, default=4)
    args = parser.parse_args()
    for mode in ("busy", "turns"):
        run(mode, args.seconds, args.short, args.long)


if __name__ == "__main__":
    main()
