"""The end-of-day dispatch wave: how long until the marketplace shows every shipment.

    python bench/shipments.py --real-limits [--shipments 500] [--wave-seconds 120] [--json FILE]
    python bench/shipments.py [--shipments 200]      # scaled: bench/shipments_wave.py, x0.02

``--real-limits``: the Mirakl simulator at rate scale 1 (OR11 once a minute) and ``marketbridge
run`` in its own process with its default settings (every flow on, Adobe Commerce's webhooks
delivered to it). Customers place ``--shipments`` one-line orders; once the service has created
them all in Adobe Commerce (the set-up, bounded by ``--setup-minutes``), the warehouse ships them
evenly over ``--wave-seconds`` (120: a carrier's collection) through the Magento simulator, each
with a tracking number. The run then waits, up to ``--wait-minutes`` from the wave's start, until
the marketplace shows every order shipped with its tracking number.

Prints how long until all were confirmed (target: within 5 minutes of the wave's start), each
shipment's time from Adobe Commerce to the marketplace (the marketplace's ``shipped_date``), the
OR11 reads during the wave (target: none per shipment, i.e. no read ``order_ids=`` for a shipment),
the 429s the service received, and what was still unconfirmed at the end. Every figure is read from
outside the service (the simulators' control APIs and the Mirakl call log).

Without ``--real-limits`` it runs ``bench/shipments_wave.py`` (the shipments service alone, Mirakl's
intervals x0.02), labelled as scaled.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from _common import (
    Processes,
    Warehouse,
    call_figures,
    clean_skus,
    describe_calls,
    epoch,
    free_port,
    percentile,
    prepare_stock,
    read_calls,
    scale_label,
    service_env,
    start_sandboxes,
    start_service,
)

TARGET_SECONDS = 300.0  # issue 20: a 2-minute wave confirmed within 5 minutes
PRODUCTS, SEED = 120, 7
LABEL = scale_label(1.0)


def say(text: str) -> None:
    print(f"[{LABEL}] {text}", flush=True)


def shipped_count(mirakl_url: str) -> int:
    by_state = httpx2.get(f"{mirakl_url}/_sandbox/state", timeout=30).json().get("orders_by_state", {})
    return sum(by_state.get(state, 0) for state in ("SHIPPED", "RECEIVED", "CLOSED"))


def shipped_on_marketplace(view: dict[str, object]) -> float | None:
    """When OR24 shipped the order: the latest ``shipped_date`` of its lines."""
    lines = view.get("order_lines")
    stamps = [epoch(line.get("shipped_date")) for line in lines or [] if isinstance(line, dict)] \
        if isinstance(lines, list) else []
    return max((s for s in stamps if s is not None), default=None)


def set_up(run: Processes, warehouse: Warehouse, count: int, setup_minutes: float) -> list[str]:
    """Place ``count`` one-line orders and wait until the service has created them in Adobe Commerce."""
    skus = clean_skus(PRODUCTS, SEED)
    prepare_stock(run.magento_url, run.mirakl_url, skus, count // len(skus) + 10)
    placed = []
    with httpx2.Client(base_url=run.mirakl_url, timeout=30) as http:
        for n in range(count):
            response = http.post("/_sandbox/orders", json={"lines": [{"offer_sku": skus[n % len(skus)], "quantity": 1}]})
            response.raise_for_status()
            placed.append(response.json()["order_id"])
    started, said = time.monotonic(), time.monotonic()
    in_magento: set[str] = set()
    while time.monotonic() - started < setup_minutes * 60:
        in_magento = set(warehouse.magento_orders()) & set(placed)
        if len(in_magento) == len(placed):
            break
        if time.monotonic() - said >= 60:
            said = time.monotonic()
            say(f"set-up: {len(in_magento)} of {len(placed)} orders in Adobe Commerce after {said - started:.0f} s")
        time.sleep(5)
    say(f"set-up: {len(in_magento)} of {len(placed)} orders in Adobe Commerce after {time.monotonic() - started:.0f} s")
    return [order_id for order_id in placed if order_id in in_magento]


def run_real(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="marketbridge-bench-shipments-"))
    say(f"dispatch wave: order feed {'off' if args.no_order_feed else 'on'}; "
        f"{args.shipments} shipments made in Adobe Commerce over {args.wave_seconds:g} s; OR11 once "
        f"every 60 s; the service with its default settings; work directory {workdir}")
    run = Processes(workdir)
    web_port = free_port()
    try:
        start_sandboxes(run, products=PRODUCTS, seed=SEED, rate_scale=1.0, webhook_port=web_port)
        httpx2.post(f"{run.mirakl_url}/_sandbox/settings", json={"auto_debit": True}, timeout=10).raise_for_status()
        httpx2.delete(f"{run.mirakl_url}/_sandbox/calls", timeout=10)
        database = f"sqlite:///{workdir / 'bench.sqlite'}" if args.db == "sqlite" else args.db
        start_service(run, service_env(run, database, web_port, order_feed=not args.no_order_feed))
        service_ready = time.time()
        warehouse = Warehouse(run.magento_url, run.mirakl_url)
        orders = set_up(run, warehouse, args.shipments, args.setup_minutes)
        before = shipped_count(run.mirakl_url)
        rows = warehouse.magento_orders()
        wave_start = time.time()
        for n, order_id in enumerate(orders):
            delay = wave_start + n * args.wave_seconds / max(len(orders), 1) - time.time()
            if delay > 0:
                time.sleep(delay)
            if not warehouse.ship(order_id, rows[order_id], n):
                say(f"the warehouse could not ship {order_id}")
        wave_end = time.time()
        while time.time() - wave_start < args.wait_minutes * 60:
            if shipped_count(run.mirakl_url) - before >= len(warehouse.shipped):
                break
            time.sleep(2)
        ended = time.time()
        views = {order_id: warehouse.marketplace_order(order_id) for order_id in warehouse.shipped}
        calls = read_calls(run.mirakl_url)
        warehouse.close()
    finally:
        run.stop()

    confirmed = {o: shipped_on_marketplace(v) for o, v in views.items() if warehouse.confirmed(o, v)}
    unconfirmed = [o for o in warehouse.shipped if o not in confirmed]
    lags = [max(0.0, at - warehouse.shipped[o][1]) for o, at in confirmed.items() if at is not None]
    last = max((at for at in confirmed.values() if at is not None), default=None)
    wave_calls = call_figures(calls, wave_start, last if last is not None and not unconfirmed else ended)
    whole_run = call_figures(calls, service_ready, ended)
    all_in_time = not unconfirmed and last is not None and last - wave_start <= TARGET_SECONDS
    say(f"shipments: {len(warehouse.shipped)} made in Adobe Commerce over {wave_end - wave_start:.0f} s; "
        f"{len(confirmed)} confirmed on the marketplace with their tracking number")
    if last is not None:
        say(f"last confirmed {last - wave_start:.0f} s after the wave began, {last - wave_end:.0f} s after its last "
            f"shipment (target: all within {TARGET_SECONDS:.0f} s of the wave's start): "
            f"{'met' if all_in_time else 'NOT met'}")
    say(f"Adobe Commerce -> marketplace per shipment: p50 {percentile(lags, 50):.0f} s, p99 {percentile(lags, 99):.0f} s, "
        f"max {max(lags, default=float('nan')):.0f} s")
    say(f"during the wave: {wave_calls.or11_reads} OR11 reads ({wave_calls.or11_by_id} by order_ids, "
        f"{wave_calls.or11_pages} follow-up pages besides) for {len(warehouse.shipped)} shipments "
        "(target: none per shipment)")
    for line in describe_calls(whole_run):
        say("whole run: " + line)
    if unconfirmed:
        states: dict[str, int] = {}
        for order_id in unconfirmed:
            view = views.get(order_id, {})
            key = f"{view.get('order_state')}, tracking {'set' if view.get('shipping_tracking') else 'not set'}"
            states[key] = states.get(key, 0) + 1
        say(f"unconfirmed at the end: {len(unconfirmed)} ({states}), e.g. {', '.join(unconfirmed[:5])}")
    else:
        say("unconfirmed at the end: 0")
    checks = {"all confirmed within 5 minutes": all_in_time, "no OR11 read per shipment": wave_calls.or11_by_id == 0,
              "no 429": not whole_run.rejected}
    failed = [name for name, ok in checks.items() if not ok]
    say(f"RESULT: {'targets met' if not failed else 'targets NOT met: ' + ', '.join(failed)}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "mode": LABEL, "rate_scale": 1.0, "shipments": len(warehouse.shipped), "wave_seconds": wave_end - wave_start,
            "confirmed": len(confirmed), "last_confirmed_after_wave_start_s": None if last is None else last - wave_start,
            "ship_to_confirmed_s": {"p50": percentile(lags, 50), "p99": percentile(lags, 99),
                                    "max": max(lags, default=None)},
            "wave_calls": wave_calls.as_dict(), "run_calls": whole_run.as_dict(), "unconfirmed": unconfirmed,
            "checks": checks, "targets_met": not failed}, indent=2))
        say(f"figures written to {args.json}")
    return 0 if not failed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real-limits", action="store_true", help="the whole service at Mirakl's real limits")
    parser.add_argument("--shipments", type=int, default=None, help="default 500 real, 200 scaled")
    parser.add_argument("--wave-seconds", type=float, default=120.0, help="the shipments are made over this long")
    parser.add_argument("--wait-minutes", type=float, default=10.0,
                        help="from the wave's start, wait this long at most for every confirmation")
    parser.add_argument("--setup-minutes", type=float, default=30.0,
                        help="bound on the wait for the orders to reach Adobe Commerce before the wave")
    parser.add_argument("--no-order-feed", action="store_true",
                        help="the service without the order feed: each flow reads OR11 itself, as before issue 20")
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a fresh file) or a PostgreSQL URL")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    if args.real_limits:
        args.shipments = 500 if args.shipments is None else args.shipments
        return run_real(args)
    import shipments_wave

    sys.argv = [sys.argv[0], "--shipments", str(200 if args.shipments is None else args.shipments)]
    shipments_wave.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
