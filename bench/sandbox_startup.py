"""Start-up time and read latency of the Adobe Commerce simulator at 100,000 products.

    python bench/sandbox_startup.py [--products 100000]
"""

from __future__ import annotations

import argparse
import resource
import time

from marketbridge.sandbox.magento.testing import rest_client, running_sandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    with running_sandbox(products=args.products) as (server, _app), rest_client(server) as http:
        start_up = time.perf_counter() - started
        t0 = time.perf_counter()
        for _ in range(200):
            http.get("/V1/inventory/get-product-salable-quantity/MB-050000/1")
        per_call = (time.perf_counter() - t0) / 200
        t0 = time.perf_counter()
        http.get("/V1/products", params={
            "searchCriteria[filter_groups][0][filters][0][field]": "entity_id",
            "searchCriteria[filter_groups][0][filters][0][value]": str(args.products - 10_000),
            "searchCriteria[filter_groups][0][filters][0][condition_type]": "gt",
            "searchCriteria[sortOrders][0][field]": "entity_id",
            "searchCriteria[pageSize]": "200",
        })
        page = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"products={args.products} start_up={start_up:.2f}s salable_read={per_call * 1000:.2f}ms "
          f"keyset_page_200={page:.3f}s peak_rss={peak:.0f}MB")


if __name__ == "__main__":
    main()
