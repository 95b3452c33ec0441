"""The typed results of the stock push and the dicts their DBOS steps record (unchanged format:
a push recorded by an older version resumes under this one)."""

from __future__ import annotations

import pickle

import pytest

from marketbridge.services.stock.push import PushOutcome, UploadResult
from marketbridge.services.stock.results import FollowResult


@pytest.mark.parametrize(("result", "recorded"), [
    (UploadResult(state="missing"), {"state": "missing"}),
    (UploadResult(state="sent", api="STO01", import_id="2041"), {"state": "sent", "api": "STO01", "import_id": "2041"}),
    (UploadResult(state="failed", api="PRI01"), {"state": "failed", "api": "PRI01", "import_id": None}),
    (UploadResult(state="complete", api="OF01"), {"state": "complete", "api": "OF01", "import_id": None}),
    (UploadResult(state="sent", api="STO01", import_id="7", owner="stock-push-3"),
     {"state": "sent", "api": "STO01", "import_id": "7", "owner": "stock-push-3"}),
])
def test_upload_results_record_as_before(result, recorded):
    assert result.as_dict() == recorded


@pytest.mark.parametrize(("result", "recorded"), [
    (FollowResult(state=None), {"state": None}),
    (FollowResult(state="failed"), {"state": "failed"}),
    (FollowResult(state="failed", status="FAILED"), {"state": "failed", "status": "FAILED"}),
    (FollowResult(state="complete", ok=3, errors=0), {"state": "complete", "ok": 3, "errors": 0}),
])
def test_follow_results_record_as_before(result, recorded):
    assert result.as_dict() == recorded


def test_a_push_outcome_reads_like_the_merged_upload_and_follow():
    sent = UploadResult(state="sent", api="STO01", import_id="9")
    done = PushOutcome(1, sent, FollowResult(state="complete", ok=4, errors=1))
    assert (done.state, done.api, done.ok, done.errors) == ("complete", "STO01", 4, 1)
    failed = PushOutcome(2, UploadResult(state="failed", api="PRI01"))
    assert (failed.state, failed.api, failed.ok, failed.errors) == ("failed", "PRI01", None, None)


def test_results_survive_pickling():
    outcome = PushOutcome(1, UploadResult(state="sent", api="STO01", import_id="9"), FollowResult(state="complete"))
    assert pickle.loads(pickle.dumps(outcome)) == outcome
