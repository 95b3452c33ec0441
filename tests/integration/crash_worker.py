"""A worker process for the crash tests: runs a 3-step workflow whose steps append to a log.

    python crash_worker.py DB_URL EXECUTOR_ID LOG_PATH start|serve

``start`` launches the engine and starts workflow ``crash-1`` (step 2 is slow, so the test can
kill the process in the middle); ``serve`` launches the engine and just runs (recovering its own
work at start-up, and with the sweeper resuming a dead worker's work) until step 3 is logged.
"""

from __future__ import annotations

import os
import sys
import time

from dbos import DBOS, SetWorkflowID

from marketbridge.bootstrap import build_runtime
from marketbridge.settings import load_settings
from marketbridge.workflows import engine
from marketbridge.workflows.maintenance import Heartbeat

DB_URL, EXECUTOR_ID, LOG_PATH, MODE = sys.argv[1:5]


def log(event: str) -> None:
    with open(LOG_PATH, "a") as fh:
        fh.write(f"{event} {EXECUTOR_ID} {os.getpid()}\n")
        fh.flush()
        os.fsync(fh.fileno())


@DBOS.step()
def step(n: int) -> int:
    log(f"step{n}-start")
    if n == 2 and MODE == "start":
        time.sleep(60)
    log(f"step{n}-done")
    return n


@DBOS.workflow(name="crash_test.workflow")
def crash_workflow() -> int:
    return step(1) + step(2) + step(3)


settings = load_settings(
    database_url=DB_URL,
    executor_id=EXECUTOR_ID,
    stale_executor_seconds=3,
    sweeper_cron="*/2 * * * * *",
)
runtime = build_runtime(settings)
from marketbridge.adapters.db.migrate import upgrade  # noqa: E402

upgrade(DB_URL)
Heartbeat(runtime, interval=0.5).start()
engine.launch(runtime, schedules=MODE == "serve")
if MODE == "start":
    with SetWorkflowID("crash-1"):
        DBOS.start_workflow(crash_workflow)
deadline = time.time() + 120
while time.time() < deadline:
    if os.path.exists(LOG_PATH) and "step3-done" in open(LOG_PATH).read():
        break
    time.sleep(0.2)
engine.shutdown()
# Leave now. The other flows' schedules run here too, against remote systems this worker has not
# got; DBOS.destroy does not wait for their steps, but the interpreter joins the step threads at
# exit, and one sitting in a rate-limit or retry back-off kept a worker alive for many minutes
# after step 3 (seen on the PostgreSQL tier). The step log is flushed and fsynced per line.
os._exit(0)
