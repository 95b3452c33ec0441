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
    finally:
        engine.shutdown()
    assert not engine.is_launched()
