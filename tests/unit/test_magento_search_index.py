"""The sandbox's search indexes (SKU lookup, cached sort) must answer exactly what a scan does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from marketbridge.sandbox.magento.search import Filter, SearchCriteria, apply
from marketbridge.sandbox.magento.state import SourceItem, SourceItemIndex

SKUS = ["A1", "a1", "B2", "10", "010", "c-3", "Z", "b2"]
SOURCES = ["default", "warehouse-2", "W3"]

items_strategy = st.lists(
    st.tuples(st.sampled_from(SKUS), st.sampled_from(SOURCES), st.integers(0, 5), st.integers(0, 1)),
    max_size=30,
    unique_by=lambda t: (t[0], t[1]),
)
filter_strategy = st.one_of(
    st.builds(lambda v: Filter("sku", ",".join(v), "in"), st.lists(st.sampled_from(SKUS + ["x"]), min_size=1)),
    st.builds(lambda v: Filter("sku", v, "eq"), st.sampled_from(SKUS + ["X", "10"])),
    st.builds(lambda v: Filter("source_code", v, "eq"), st.sampled_from(SOURCES)),
    st.builds(lambda v: Filter("quantity", str(v), "gt"), st.integers(0, 5)),
)
criteria_strategy = st.builds(
    lambda groups, orders, size, page: SearchCriteria(groups, orders, size, page),
    st.lists(st.lists(filter_strategy, min_size=1, max_size=2), max_size=2),
    st.one_of(
        st.none(),
        st.just([("sku", "ASC"), ("source_code", "ASC")]),
        st.just([("sku", "ASC")]),
        st.just([("source_code", "ASC"), ("sku", "ASC")]),
        st.just([("quantity", "DESC")]),
    ),
    st.one_of(st.none(), st.integers(1, 7)),
    st.one_of(st.none(), st.integers(1, 4)),
)


def getter(item: SourceItem, name: str):
    return getattr(item, name, None)


@settings(max_examples=300, deadline=None)
@given(items_strategy, criteria_strategy)
def test_indexed_search_equals_the_scan(raw, criteria):
    rows = [SourceItem(sku, code, float(qty), status) for sku, code, qty, status in raw]
    index = SourceItemIndex(1, rows)
    scanned, scanned_total = apply(rows, criteria, getter)
    indexed, indexed_total = apply(rows, criteria, getter, lookup=index.lookup, presorted=index.presorted)
    assert [id(r) for r in indexed] == [id(r) for r in scanned]
    assert indexed_total == scanned_total
