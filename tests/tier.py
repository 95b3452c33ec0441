"""Says which database tier ``make test`` is about to run, before pytest starts."""

import os

url = os.environ.get("MARKETBRIDGE_DATABASE_URL", "")
if url.startswith("postgres"):
    print("marketbridge tests: PostgreSQL tier (MARKETBRIDGE_DATABASE_URL is set).")
else:
    print(
        "marketbridge tests: SQLite tier. The PostgreSQL tier is SKIPPED: set "
        "MARKETBRIDGE_DATABASE_URL=postgresql://USER@HOST:PORT/DB to run it too (.ci/run does)."
    )
if not os.path.exists("/usr/bin/chromium"):
    print("marketbridge tests: browser tests are SKIPPED: Debian's chromium is not installed (apt-get install chromium).")
