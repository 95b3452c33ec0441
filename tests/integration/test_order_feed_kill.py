"""A worker killed (SIGKILL) in the middle of a feed read: the page it wrote stays, the cursor has
not moved, its lease keeps other readers out until it expires, and the next read then loses
nothing and records nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from marketbridge.bootstrap import build_runtime
from marketbridge.services import order_feed
from tests.conftest import TEST_SESSION_SECRET, make_settings
from tests.integration.test_order_feed import events, place
from tests.waiting import wait_until

READER = """
import sys, time
from pathlib import Path
from marketbridge.bootstrap import build_runtime
from marketbridge.services import order_feed
from marketbridge.settings import load_settings

db_url, mirakl_url, marker, secret = sys.argv[1:5]
runtime = build_runtime(load_settings(database_url=db_url, mirakl_base_url=mirakl_url, order_poll_page_size=2,
                                      mirakl_rate_limit_scale=0.01, order_feed_lease_seconds=4,
                                      order_feed_export_after_seconds=0,
                                      executor_id="doomed", session_secret=secret))
real = runtime.mirakl.iter_offset

def hangs_after_the_first_page(code, params=None, **kw):
    for n, item in enumerate(real(code, params, **kw)):
        if n == kw["page_size"]:  # the first page is committed by now
            Path(marker).write_text("first page written")
            time.sleep(600)
        yield item

runtime.mirakl.iter_offset = hangs_after_the_first_page
order_feed.read(runtime, force=True)
"""


def kill_mid_read(migrated_db_url, fresh_sandboxes, tmp_path: Path) -> list[str]:
    """Five orders placed; a reader (executor ``doomed``) SIGKILLed after its first page."""
    ids = place(fresh_sandboxes, 5)
    marker = tmp_path / "marker"
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    worker = subprocess.Popen([sys.executable, "-c", READER, migrated_db_url, fresh_sandboxes.mirakl_url,
                               str(marker), TEST_SESSION_SECRET], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        wait_until(marker.exists, timeout=60)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    return ids


def test_a_reader_killed_mid_read_loses_nothing(migrated_db_url, fresh_sandboxes, tmp_path: Path):
    ids = kill_mid_read(migrated_db_url, fresh_sandboxes, tmp_path)
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, order_poll_page_size=2,
                                          order_feed_export_after_seconds=0,
                                          order_feed_lease_seconds=4))
    try:
        assert events(runtime) == [(ids[0], "appeared"), (ids[1], "appeared")]
        with runtime.db.session() as s:
            cursor, owner = s.execute(text("SELECT cursor, lease_owner FROM order_feed_state")).one()
        assert cursor is None and owner.startswith("doomed:")
        assert order_feed.read(runtime, force=True).skipped == "another worker reads"
        time.sleep(4.5)  # the dead reader's lease runs out
        after = order_feed.read(runtime, force=True)
        assert after.skipped is None and after.orders == 5 and after.unchanged == 2 and after.events == 3
        recorded = events(runtime)
        assert recorded == [(order_id, "appeared") for order_id in ids]
        with runtime.db.session() as s:
            assert s.execute(text("SELECT cursor FROM order_feed_state")).scalar() is not None
    finally:
        runtime.close()


def test_the_killed_readers_next_process_frees_its_lease_at_start(migrated_db_url, fresh_sandboxes, tmp_path: Path):
    """The same worker restarted (same executor id, another process) does not wait out the lease."""
    ids = kill_mid_read(migrated_db_url, fresh_sandboxes, tmp_path)
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, order_poll_page_size=2,
                                          order_feed_export_after_seconds=0,
                                          executor_id="doomed"))  # the default lease: minutes
    try:
        assert order_feed.read(runtime, force=True).skipped == "another worker reads"
        assert order_feed.release_stale_lease(runtime) is True
        after = order_feed.read(runtime, force=True)
        assert after.skipped is None and after.orders == 5 and after.events == 3
        assert events(runtime) == [(order_id, "appeared") for order_id in ids]
    finally:
        runtime.close()
