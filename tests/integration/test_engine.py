"""DBOS on our own database: launch, run a workflow, schedules registered, portable JSON."""

from dbos import DBOS

from marketbridge.workflows import engine


@DBOS.step()
def _double(value: int) -> dict:
    return {"value": value * 2}


@DBOS.workflow()
def _sample_workflow(value: int) -> dict:
    return _double(value)


def test_engine_launches_on_our_database_and_runs_workflows(runtime):
    engine.launch(runtime, schedules=True)
    try:
        assert engine.is_launched()
        handle = DBOS.start_workflow(_sample_workflow, 21)
        assert handle.get_result() == {"value": 42}
        status = DBOS.get_workflow_status(handle.workflow_id)
        assert status.app_version == runtime.settings.application_version
        assert status.executor_id == runtime.settings.executor_id
        # a serving worker first catches up on what changed while nobody listened (issue 21)
        started = [w.workflow_id for w in DBOS.list_workflows(workflow_id_prefix="stock-catchup-")]
        assert [w.startswith(f"stock-catchup-{runtime.settings.executor_id}-") for w in started] == [True]
    finally:
        engine.shutdown()
    assert not engine.is_launched()


def test_finished_schedule_runs_are_pruned_but_business_workflows_kept(runtime):
    import datetime as dt

    from dbos import SetWorkflowID

    from marketbridge.workflows.maintenance import prune_finished_schedule_runs

    engine.launch(runtime, schedules=False)
    try:
        for workflow_id in ("sched-sample-2026-11-27T00:00:00", "order-create:JL-1"):
            with SetWorkflowID(workflow_id):
                assert DBOS.start_workflow(_sample_workflow, 1).get_result() == {"value": 2}
        assert prune_finished_schedule_runs(runtime) == 0  # younger than the retention
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=runtime.settings.schedule_run_retention_hours + 1)
        assert prune_finished_schedule_runs(runtime, now=later) == 1
        remaining = {w.workflow_id for w in DBOS.list_workflows()}
        assert "order-create:JL-1" in remaining
        assert "sched-sample-2026-11-27T00:00:00" not in remaining
    finally:
        engine.shutdown()


def test_on_sqlite_the_engine_writes_to_its_own_file_not_ours(runtime):
    """One write lock per file: DBOS's step records no longer queue with webhooks and flow writes
    (issue 21: under the full soak webhook requests waited seconds for SQLite's one write lock)."""
    import sqlite3
    from pathlib import Path

    from marketbridge.adapters.db.engine_store import sqlite_file

    main = sqlite_file(runtime.settings.database_url)
    if main is None:
        import pytest

        pytest.skip("PostgreSQL keeps one database; DBOS uses its own schema there")
    engine.launch(runtime, schedules=False)
    try:
        assert DBOS.start_workflow(_sample_workflow, 2).get_result() == {"value": 4}
    finally:
        engine.shutdown()
    engine_file = sqlite_file(runtime.settings.workflow_database_url)
    assert engine_file is not None and Path(engine_file) != Path(main)
    with sqlite3.connect(main) as conn:
        ours = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    with sqlite3.connect(engine_file) as conn:
        theirs = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "workflow_status" in theirs and "workflow_status" not in ours
    assert "catalogue_listings" in ours and "catalogue_listings" not in theirs


def test_the_engine_file_is_in_write_ahead_log_mode(runtime):
    """DBOS does not switch its SQLite file to WAL itself; in rollback-journal mode its readers
    (queue polling, listing) would block its writers (every step record)."""
    import sqlite3

    import pytest

    from marketbridge.adapters.db.engine_store import sqlite_file

    engine_file = sqlite_file(runtime.settings.workflow_database_url)
    if engine_file is None or engine_file == sqlite_file(runtime.settings.database_url):
        pytest.skip("no engine file of its own (PostgreSQL)")
    engine.launch(runtime, schedules=False)
    engine.shutdown()
    with sqlite3.connect(engine_file) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

