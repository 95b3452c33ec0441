"""The benchmarks' figures from the Mirakl simulator's call log (bench/_common.py): OR11 reads a
minute count first pages only, reads by id are told apart, and 429s are counted per API."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _common import Call, call_figures, epoch, max_in_window, percentile, scale_label  # noqa: E402


def test_calls_a_whole_window_apart_count_once_and_two_inside_one_count_twice() -> None:
    assert max_in_window([0.0, 60.0, 120.0, 180.0], 60) == 1
    assert max_in_window([0.0, 59.99, 120.0], 60) == 1  # the simulator's 20 ms grace
    assert max_in_window([0.0, 30.0, 120.0], 60) == 2
    assert max_in_window([10.0, 5.0, 0.0], 60) == 3  # any order
    assert max_in_window([], 60) == 0
    assert max_in_window([0.0, 600.0, 898.0], 900) == 3
    assert max_in_window([0.0, 600.0, 899.5], 900) == 2  # 0 and 899.5: a whole window apart, give or take


def test_or11_figures_count_first_pages_in_the_span_and_429s_by_api() -> None:
    calls = [
        Call("OR11", "start_update_date=x&max=100&offset=0", 200, 10.0),
        Call("OR11", "start_update_date=x&max=100&offset=100", 200, 10.5),  # its follow-up page
        Call("OR11", "order_ids=A,B&max=100&offset=0", 200, 40.0),  # by id, 30 s later
        Call("OR11", "max=100", 429, 41.0),  # refused: not a read
        Call("OR21", "", 204, 42.0),
        Call("STO01", "", 429, 43.0),
        Call("OR11", "page_token=abc", 200, 44.0),  # a seek page
        Call("OR11", "max=100", 200, 130.0),
        Call("OR11", "max=100", 200, 500.0),  # after the span
    ]
    figures = call_figures(calls, 0.0, 180.0)

    assert (figures.or11_reads, figures.or11_pages, figures.or11_by_id) == (3, 2, 1)
    assert figures.or11_max_in_window == 2  # 10 s and 40 s
    assert figures.rejected == {"OR11": 1, "STO01": 1}
    assert figures.or11_per_minute == pytest.approx(1.0)
    assert figures.as_dict()["http_429"] == {"OR11": 1, "STO01": 1}


def test_timestamps_of_both_simulators_and_the_labels() -> None:
    assert epoch("2026-05-01T10:00:00.250Z") == pytest.approx(1777629600.25)
    assert epoch("2026-05-01 10:00:00") == pytest.approx(1777629600.0)  # Magento: UTC without a zone
    assert epoch(None) is None and epoch("") is None
    assert scale_label(1.0) == "real limits" and scale_label(0.01) == "scaled x0.01"
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0 and percentile([], 99) != percentile([], 99)  # NaN


def test_the_pace_allows_one_read_a_window_plus_the_one_at_the_start() -> None:
    once_a_minute = [Call("OR11", "max=100", 200, 60.0 * n) for n in range(6)]  # 0..300 s
    assert call_figures(once_a_minute, 0.0, 300.0).pace_kept  # 6 reads in 5 minutes
    assert call_figures(once_a_minute, 0.0, 300.0).allowed_reads == 6
    crowded = [*once_a_minute, Call("OR11", "order_ids=A", 200, 90.0)]
    assert not call_figures(crowded, 0.0, 300.0).pace_kept  # two reads within a minute
    fifteen = [Call("OR11", "max=100", 200, 0.0), Call("OR11", "max=100", 200, 900.0)]
    assert call_figures(fifteen, 0.0, 1000.0, window=900.0).pace_kept
    assert not call_figures([*fifteen, Call("OR11", "max=100", 200, 960.0)], 0.0, 1000.0, window=900.0).pace_kept
