"""The soak's oversell judge (bench/soak_watch.py): episodes are timed fairly, outside the fault
windows and outages only, and "allowed" is what the flow itself would publish."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_watch import Allowance, Disturbances, OversellWatch, watched  # noqa: E402

from marketbridge.domain.stock import Kind, ProductFacts, Rule, Scope  # noqa: E402


def test_time_outside_windows_subtracts_overlaps_once_and_open_windows_up_to_the_end() -> None:
    d = Disturbances()
    d.add("faults", 10, 20)
    d.add("outage worker 0", 15, 25)  # overlaps the fault window: counted once
    token = d.open("faults", at=40)  # still open

    assert d.outside(0, 30) == pytest.approx(15)  # 0-10 and 25-30
    assert d.outside(12, 18) == 0
    assert d.outside(35, 50) == pytest.approx(5)  # 35-40, then the open window
    d.close(token, at=45)
    assert d.outside(35, 50) == pytest.approx(10)
    assert not d.quiet(16) and d.quiet(30) and not d.quiet(41) and d.quiet(46)


def test_an_episode_runs_from_first_sample_above_to_first_not_above_minus_disturbances() -> None:
    d = Disturbances()
    d.add("faults", 100, 110)
    watch = OversellWatch(d)
    allowed = {"A": 1, "B": 5}
    watch.observe(104, {"A": 3, "B": 5}, allowed)  # A above, inside the fault window
    watch.observe(106, {"A": 3, "B": 6}, allowed)  # B above too (worst +1)
    watch.observe(112, {"A": 3, "B": 5}, allowed)  # B back within
    watch.observe(118, {"A": 1, "B": 5}, allowed)  # A back within

    by_sku = {e.sku: e for e in watch.closed}
    assert by_sku["A"].measured == pytest.approx(8)  # 110-118: the faults excuse 104-110
    assert by_sku["B"].measured == pytest.approx(2)  # 110-112
    assert watch.max_seconds == pytest.approx(8)
    assert by_sku["A"].worst == 2 and by_sku["A"].ended == 118


def test_an_offer_below_or_equal_is_never_an_episode_and_unknown_skus_are_not_judged() -> None:
    watch = OversellWatch(Disturbances())
    watch.observe(1, {"A": 0, "B": 4, "GHOST": 50}, {"A": 2, "B": 4})
    watch.observe(2, {"A": 2, "B": 3, "GHOST": 50}, {"A": 2, "B": 4})
    watch.finish(3)
    assert watch.closed == [] and watch.max_seconds == 0


def test_an_episode_still_open_at_the_check_is_measured_up_to_the_check() -> None:
    watch = OversellWatch(Disturbances())
    watch.observe(10, {"A": 60}, {"A": 1})
    watch.observe(200, {"A": 60}, {"A": 1})
    watch.finish(230)
    assert watch.max_seconds == pytest.approx(220)
    assert watch.closed[0].ended is None and "still above" in watch.closed[0].describe()


def _facts(sku: str, *, manage_stock: bool = True, enabled: bool = True) -> ProductFacts:
    return ProductFacts(sku=sku, enabled=enabled, type_id="simple", manage_stock=manage_stock, attributes={},
                        category_ids=[])


def test_allowed_is_salable_less_units_held_through_the_channel_rules() -> None:
    buffer = Rule(kind=Kind.STOCK, scope=Scope.GLOBAL, scope_key="", params={"buffer": 1})
    allowance = Allowance(links={"a ": "A"}, facts={"A": _facts("A"), "B": _facts("B", manage_stock=False),
                                                    "C": _facts("C", enabled=False), "D": _facts("D")},
                          rules=[buffer], unmanaged_default=100, until_shipped=False)

    allowed = allowance.allowed(["a ", "B", "C", "D", "E"], salable={"A": 10.0, "C": 9.0}, held={"A": 2.0})

    assert allowed == {"a ": 7, "B": 100, "C": 0}  # D: no salable read, E: no product → not judged


def test_a_run_whose_sampler_missed_its_sweeps_is_not_judged_within() -> None:
    # A full soak once failed all 459 sweeps (the held-units query had changed signature) and
    # printed max_oversell_seconds=0.0, "within": no sample is no verdict.
    assert not watched(0, 459, 0.1)
    assert not watched(0, 0, 0.1)
    assert not watched(400, 59, 0.1)
    assert watched(459, 0, 0.1)
    assert watched(420, 39, 0.1)



def test_units_mirakl_put_back_for_a_cancellation_not_yet_known_are_allowed_on_top() -> None:
    """A customer cancellation puts the unit back on the offer before the order feed brings it in
    and Magento releases its reservation: the unit exists, so the judge allows it, on that SKU only."""
    allowance = Allowance(links={}, facts={"A": _facts("A"), "B": _facts("B")}, rules=[], unmanaged_default=0,
                          until_shipped=False)
    salable, held = {"A": 4.0, "B": 4.0}, {"A": 1.0}
    assert allowance.allowed(["A", "B"], salable, held) == {"A": 3, "B": 4}
    assert allowance.allowed(["A", "B"], salable, held, {"A": 2}) == {"A": 5, "B": 4}
