"""Orders end to end through both sandboxes: placed on the marketplace, accepted by rule, paid,
created in Adobe Commerce -- with the engine running its schedules and nobody calling a service.

    .venv/bin/python bench/orders.py [--orders 2000] [--rate 1] [--poll-seconds 5] [--db sqlite|URL] [--json FILE]
                                     [--no-order-feed]
    .venv/bin/python bench/orders.py --real-limits [--profile steady|burst] [--orders N] [--minutes M]
                                     [--external-partner] [--wait-minutes W] [--json FILE] [--no-order-feed]

The default is the scaled mode below: Mirakl's call intervals x0.01 in the simulator, so its
figures say how the flow behaves, not what production sees. ``--real-limits`` runs the simulator
at rate scale 1 against ``marketbridge run`` with its default settings (``bench/orders_real.py``).
Every printed line starts with the mode: ``[scaled x0.01]`` or ``[real limits]``.

The order feed is on in both modes, as by default (issue 20: it reads OR11 and hands the orders
to the orders flow); ``--no-order-feed`` runs the orders poll's own OR11 reads instead.

Scaled mode:

Customers place ``--orders`` orders at ``--rate`` per second through the Mirakl sandbox's control
API. The sandbox debits an accepted order at once (``auto_debit``), so "payment confirmed" is the
order's ``customer_debited_date``, and "created" is our ``created`` transition. Prints:

* orders per minute (first order placed → last order created);
* p50 / p99 of payment confirmed → Magento order created (target: p99 <= poll interval + 10 s);
* marketplace API calls per order, excluding the shared OR11 polls (target: <= 2), with OR11
  counted separately.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from _common import (
    clean_skus,
    free_port,
    order_lines,
    percentile,
    prepare_stock,
    read_calls,
    scale_label,
    wait_http,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import func, select  # noqa: E402

from marketbridge.adapters.db.migrate import upgrade  # noqa: E402
from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderTransition  # noqa: E402
from marketbridge.bootstrap import build_runtime  # noqa: E402
from marketbridge.logging import configure_logging  # noqa: E402
from marketbridge.settings import load_settings  # noqa: E402

SCALE = 0.01  # the simulator's rate scale in the default mode
LABEL = scale_label(SCALE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, help="orders placed (default 2000 scaled; the profile's with --real-limits)")
    parser.add_argument("--rate", type=float, default=1.0, help="orders placed per second (keep below capacity)")
    parser.add_argument("--poll-seconds", type=int, default=5, help="order poll interval (cron seconds)")
    parser.add_argument("--overlap-seconds", type=int, default=10, help="OR11 poll overlap")
    parser.add_argument("--no-order-feed", action="store_true",
                        help="both modes: the service without the order feed (on by default, issue 20): each flow "
                        "reads OR11 itself, as before issue 20")
    parser.add_argument("--db", default="sqlite", help="'sqlite' (temporary file) or a PostgreSQL URL")
    parser.add_argument("--sandbox-in-process", action="store_true",
                        help="serve the simulators in this process (default: a separate process)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    real = parser.add_argument_group("real limits (bench/orders_real.py)")
    real.add_argument("--real-limits", action="store_true",
                      help="Mirakl at rate scale 1, the service's default settings, shipments and refunds active")
    real.add_argument("--profile", choices=("steady", "burst"), default="steady",
                      help="steady: 300 orders over 30 minutes; burst: 300 orders in 5 minutes")
    real.add_argument("--minutes", type=float, default=None, help="placement time (default: the profile's)")
    real.add_argument("--external-partner", action="store_true", help="OR11 every 15 minutes (External Partner key)")
    real.add_argument("--wait-minutes", type=float, default=None,
                      help="after the last order, wait this long at most for the rest (default 10, or two OR11 "
                      "intervals and a minute when longer)")
    parser.set_defaults(orders=None)
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> prints every thread's stack
    if args.real_limits:
        import orders_real

        return orders_real.run(args)
    if args.orders is None:
        args.orders = 2000

    from marketbridge.sandbox.catalogue import seed_catalogue
    from marketbridge.sandbox.magento.app import create_app as create_magento
    from marketbridge.sandbox.mirakl.app import create_app as create_mirakl
    from marketbridge.sandbox.server import serve_in_thread
    from marketbridge.workflows import engine

    catalogue = seed_catalogue(120, 7)
    sandbox_process = None
    if args.sandbox_in_process:
        # the store as a merchant sets it up: Free Shipping for free-delivery orders
        magento = serve_in_thread(create_magento(catalogue, carriers=["flatrate", "freeshipping"]))
        mirakl = serve_in_thread(create_mirakl(catalogue, rate_scale=SCALE))
        magento_url, mirakl_url = magento.url, mirakl.url
    else:  # its own process, so the simulators do not share the engine's interpreter lock
        magento_port, mirakl_port = free_port(), free_port()
        sandbox_process = subprocess.Popen(
            [sys.executable, "-c", "from marketbridge.cli import main; main()", "sandbox", "--magento-port",
             str(magento_port), "--mirakl-port", str(mirakl_port), "--products", "120", "--seed", "7",
             "--rate-scale", str(SCALE), "--webhook-key", str(Path(tempfile.gettempdir()) / "bench-orders-key.pem"),
             "--carriers", "flatrate,freeshipping"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT))
        magento_url, mirakl_url = f"http://127.0.0.1:{magento_port}", f"http://127.0.0.1:{mirakl_port}"
        wait_http(f"{mirakl_url}/_sandbox/state")
        wait_http(f"{magento_url}/_sandbox/state")
    tmp = tempfile.TemporaryDirectory()
    db_url = f"sqlite:///{tmp.name}/bench.sqlite" if args.db == "sqlite" else args.db
    upgrade(db_url)
    settings = load_settings(
        database_url=db_url, magento_base_url=magento_url, mirakl_base_url=mirakl_url,
        mirakl_rate_limit_scale=min(1.0, args.poll_seconds / 60 / 2),
        order_poll_cron=f"*/{args.poll_seconds} * * * * *", order_poll_overlap_seconds=args.overlap_seconds,
        stock_sync_enabled=False, price_sync_enabled=False,
        order_feed_enabled=not args.no_order_feed,  # said explicitly: the figures depend on it
    )
    configure_logging(settings, level="WARNING")
    runtime = build_runtime(settings)
    skus = clean_skus(120, 7)
    per_sku = args.orders * 3 // len(skus) + 10
    prepare_stock(magento_url, mirakl_url, skus, per_sku)
    httpx2.post(f"{mirakl_url}/_sandbox/settings", json={"auto_debit": True}).raise_for_status()
    httpx2.delete(f"{mirakl_url}/_sandbox/calls")

    engine.launch(runtime, schedules=True)
    placed: list[str] = []
    started = time.monotonic()
    try:
        with httpx2.Client(timeout=30) as http:
            for n in range(args.orders):
                due = started + n / args.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                response = http.post(f"{mirakl_url}/_sandbox/orders", json={"lines": order_lines(skus, n)})
                response.raise_for_status()
                placed.append(response.json()["order_id"])
        print(f"[{LABEL}] placed {len(placed)} orders in {time.monotonic() - started:.1f} s", flush=True)
        deadline = time.monotonic() + args.timeout
        created_count = 0
        while time.monotonic() < deadline:
            with runtime.db.session() as session:
                created_count = session.scalar(select(func.count()).select_from(MarketplaceOrder).where(
                    MarketplaceOrder.magento_entity_id.is_not(None))) or 0
            if created_count >= len(placed):
                break
            time.sleep(1.0)
        finished = time.monotonic()
        from dbos import DBOS

        settle = time.monotonic() + 120  # let invoices and comments of the last orders finish
        while time.monotonic() < settle and DBOS.list_workflows(status=["PENDING", "ENQUEUED"], name="orders.create"):
            time.sleep(0.5)
    finally:
        engine.shutdown()

    with runtime.db.session() as session:
        rows = session.execute(
            select(MarketplaceOrder.order_id, MarketplaceOrder.customer_debited_at, OrderTransition.at)
            .join(OrderTransition, OrderTransition.order_pk == MarketplaceOrder.id)
            .where(OrderTransition.to_state == "created")).all()
        states: dict[str, int] = {}
        for (state,) in session.execute(select(MarketplaceOrder.state)).all():
            states[state] = states.get(state, 0) + 1
        steps = session.execute(
            select(MarketplaceOrder.order_id, MarketplaceOrder.customer_debited_at, OrderTransition.to_state,
                   OrderTransition.at).join(OrderTransition, OrderTransition.order_pk == MarketplaceOrder.id)).all()
    latencies = [(created - debited).total_seconds() for _, debited, created in rows if debited is not None]
    seen: dict[str, dict[str, object]] = {}
    for order_id, debited, state, at in steps:
        seen.setdefault(order_id, {"debited": debited})[state] = at
    gaps: dict[str, list[float]] = {"received->accepted": [], "debited->seen paid": [], "seen paid->created": []}
    for marks in seen.values():
        if "accepted" in marks:
            gaps["received->accepted"].append((marks["accepted"] - marks["received"]).total_seconds())
        if "awaiting_payment" in marks and marks["debited"]:
            gaps["debited->seen paid"].append((marks["awaiting_payment"] - marks["debited"]).total_seconds())
        if "created" in marks and "awaiting_payment" in marks:
            gaps["seen paid->created"].append((marks["created"] - marks["awaiting_payment"]).total_seconds())
    calls = read_calls(mirakl_url)
    by_api: dict[str, int] = {}
    for call in calls:
        by_api[call.api] = by_api.get(call.api, 0) + 1
    rejected = sum(1 for call in calls if call.status == 429)
    magento_calls = len(httpx2.get(f"{magento_url}/_sandbox/calls").json())
    runtime.close()
    if sandbox_process is not None:
        sandbox_process.terminate()
        sandbox_process.wait(timeout=30)
    else:
        magento.stop()
        mirakl.stop()
    tmp.cleanup()

    created = len(rows)
    minutes = (finished - started) / 60
    per_order = sum(v for k, v in by_api.items() if k != "OR11") / max(created, 1)
    p99 = percentile(latencies, 99)
    ok = created == len(placed) and p99 <= args.poll_seconds + 10 and per_order <= 2
    for line in [
        f"order feed {'off: the orders poll reads OR11 itself' if args.no_order_feed else 'on'}",
        f"orders placed: {len(placed)}   created in Adobe Commerce: {created}   final states: {states}",
        f"throughput: {created / minutes:.1f} orders per minute ({finished - started:.1f} s wall)",
        f"payment confirmed -> Magento order created: p50 {percentile(latencies, 50):.2f} s, p99 {p99:.2f} s, "
        f"max {max(latencies, default=float('nan')):.2f} s (target p99 <= {args.poll_seconds + 10} s)",
        "where the time goes (p50 / p99 s): " + ", ".join(
            f"{k} {percentile(v, 50):.2f} / {percentile(v, 99):.2f}" for k, v in gaps.items()),
        f"marketplace calls per order beyond OR11 polls: {per_order:.2f} (target <= 2); by API: {by_api}",
        f"OR11 calls in total (shared polls, pages included): {by_api.get('OR11', 0)}; 429s received: {rejected}; "
        f"Adobe Commerce calls per order: {magento_calls / max(created, 1):.1f}"
        + (" (at least: the simulator keeps only its last 20,000 calls)" if magento_calls >= 20000 else ""),
        "RESULT: " + ("targets met" if ok else "targets NOT met"),
    ]:
        print(f"[{LABEL}] {line}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "mode": LABEL, "rate_scale": SCALE, "order_feed": not args.no_order_feed, "orders": len(placed),
            "created": created,
            "orders_per_minute": round(created / minutes, 2),
            "payment_to_magento_s": {"p50": percentile(latencies, 50), "p99": p99,
                                     "max": max(latencies, default=None)},
            "calls_per_order_beyond_or11": round(per_order, 3), "calls_by_api": by_api, "http_429": rejected,
            "targets_met": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
