"""A warehouse's dispatch wave: how many shipments a minute the shipments flow confirms.

    .venv/bin/python bench/shipments_wave.py --shipments 200

Both simulators in process (real HTTP on loopback, no faults), a fresh SQLite database, Mirakl's
call intervals scaled as in the soak (``--rate-scale 0.02``: OR11 once every 1.2 s). The
warehouse ships ``--shipments`` paid orders one after another (``--gap`` seconds apart); each is
detected as a webhook would (``detect_shipment``) and handed to ``--workers`` send workers (the
send queue's concurrency, 4), which prepare and send it as ``shipments.send`` does. Meanwhile an
orders poll reads OR11 every ``--poll-seconds`` (3, as in the soak), as the orders flow does: OR11
is one budget for the whole shop.

Prints the shipments confirmed a minute, the OR11 calls the sends made, and the time from the
last shipment made in Magento to the last one confirmed.
"""

from __future__ import annotations

import argparse
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shipments", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between two shipments made in Magento")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate-scale", type=float, default=0.02)
    parser.add_argument("--poll-seconds", type=float, default=3.0)
    args = parser.parse_args()

    import httpx2

    from marketbridge.adapters.db.migrate import upgrade
    from marketbridge.adapters.magento import models as magento_models
    from marketbridge.bootstrap import build_runtime
    from marketbridge.sandbox.catalogue import seed_catalogue
    from marketbridge.sandbox.magento.app import create_app as create_magento
    from marketbridge.sandbox.mirakl.app import create_app as create_mirakl
    from marketbridge.sandbox.server import serve_in_thread
    from marketbridge.services import shipments as shipment_service
    from marketbridge.settings import load_settings

    catalogue = seed_catalogue(120, 7)
    for product in catalogue:
        product.qty = max(product.qty, 1000.0)
    skus = [p.sku for p in catalogue if p.type_id == "simple" and p.status == 1 and p.marketplace_sku == p.sku
            and p.manage_stock]
    magento_app, mirakl_app = create_magento(catalogue), create_mirakl(catalogue, rate_scale=args.rate_scale)
    servers = [serve_in_thread(magento_app), serve_in_thread(mirakl_app)]
    magento_url, mirakl_url = servers[0].url, servers[1].url
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/wave.sqlite"
        upgrade(url)
        # the shipments flow's own OR11 reads (the order feed off): the send's batched snapshot and
        # its re-read that confirms at once are what this wave measures; the feed's wave is
        # bench/shipments.py
        runtime = build_runtime(load_settings(database_url=url, magento_base_url=magento_url,
                                              mirakl_base_url=mirakl_url, mirakl_rate_limit_scale=args.rate_scale,
                                              order_feed_enabled=False))
        address = magento_models.Address(firstname="Ada", lastname="Lovelace", street=["1 Test Street"], city="London",
                             postcode="SW1A 1AA", country_id="GB", telephone="0200000000", email="ada@example.com")
        control = httpx2.Client(base_url=mirakl_url, timeout=30)
        print(f"setting up {args.shipments} paid orders ...", flush=True)
        magento_orders = []
        for n in range(args.shipments):
            sku = skus[n % len(skus)]
            created = control.post("/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]}).json()
            runtime.mirakl.accept_order(created["order_id"], dict.fromkeys(created["order_line_ids"], True))
            control.post(f"/_sandbox/orders/{created['order_id']}/debit").raise_for_status()
            entity = runtime.magento.create_order_via_cart([magento_models.CartLine(sku=sku, qty=1.0)], shipping_address=address,
                                                           email="ada@example.com", ext_order_id=created["order_id"])
            magento_orders.append(entity)
        shipment_service.ensure_carriers(runtime)

        due: queue.Queue[int | None] = queue.Queue()
        confirmed: list[float] = []
        stop = threading.Event()

        def orders_poll() -> None:  # the orders flow's OR11 reads share the shop's budget
            while not stop.wait(args.poll_seconds):
                list(runtime.mirakl.list_orders(order_state_codes=["WAITING_ACCEPTANCE"]))

        def worker() -> None:
            while (shipment_id := due.get()) is not None:
                if shipment_service.prepare(runtime, shipment_id).action == "send":
                    result = shipment_service.send(runtime, shipment_id)
                    if result.state == "confirmed":
                        confirmed.append(time.monotonic())

        control.delete("/_sandbox/calls")
        threads = [threading.Thread(target=orders_poll, daemon=True)]
        threads += [threading.Thread(target=worker, daemon=True) for _ in range(args.workers)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        for n, entity in enumerate(magento_orders):
            shipment_id = runtime.magento.ship_order(entity, tracks=[magento_models.TrackInput(
                track_number=f"WAVE{n:06d}", title="DPD UK", carrier_code="dpd")])
            found = shipment_service.detect_shipment(runtime, shipment_id)
            if found is not None:
                due.put(found)
            time.sleep(args.gap)
        last_made = time.monotonic()
        for _ in range(args.workers):
            due.put(None)
        for thread in threads[1:]:
            thread.join(600)
        stop.set()
        calls = [c["api"] for c in control.get("/_sandbox/calls").json()]
        elapsed = (confirmed[-1] if confirmed else time.monotonic()) - started
        label = "real limits" if args.rate_scale >= 1 else f"scaled x{args.rate_scale:g}"
        print(f"[{label}] shipments       {len(confirmed)} of {args.shipments} confirmed in {elapsed:.1f} s "
              f"({len(confirmed) / elapsed * 60:.0f} a minute); made in Magento over {last_made - started:.1f} s")
        print(f"[{label}] last confirmed  {(confirmed[-1] - last_made) if confirmed else float('nan'):.1f} s after "
              "the last shipment was made")
        print(f"[{label}] Mirakl calls    OR11 {calls.count('OR11')} (sends and the orders poll), OR23 "
              f"{calls.count('OR23')}, OR24 {calls.count('OR24')}; OR11 interval {60 * args.rate_scale:.2f} s")
        control.close()
        runtime.close()
    for server in servers:
        server.stop()


if __name__ == "__main__":
    main()
