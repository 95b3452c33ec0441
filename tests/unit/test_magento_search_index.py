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


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False),
              st.sampled_from(["3", "03", "3.0", "abc", "ABD", "2026-11-27 10:00:00", " 4 ", ""])),
    st.sampled_from(["eq", "neq", "gt", "gteq", "moreq", "from", "lt", "lteq", "to"]),
    st.sampled_from(["3", "03", "-1", "abc", "abd", "2026-11-27 09:00:00", " 4 ", "2.5", ""]),
)
def test_comparison_with_the_parsed_value_equals_the_plain_comparison(actual, condition, value):
    from marketbridge.sandbox.magento.search import _compare, matches

    expected = _compare(int(actual) if isinstance(actual, bool) else actual, value)
    plain = None if expected is None else {
        "eq": expected == 0, "neq": expected != 0, "gt": expected > 0, "gteq": expected >= 0,
        "moreq": expected >= 0, "from": expected >= 0, "lt": expected < 0, "lteq": expected <= 0,
        "to": expected <= 0}[condition]
    assert matches(Filter("f", value, condition), actual) is (plain if plain is not None else False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["2026-11-27 10:00:00", "2026-11-27 10:00:01", "2026-11-28 09:00:00", "2025-01-01 00:00:00"]),
             min_size=1, max_size=25),
    st.sampled_from(["gt", "gteq", "from", "moreq"]),
    st.sampled_from(["2026-11-27 10:00:00", "2026-11-27", "2027-01-01 00:00:00", "2000-01-01 00:00:00"]),
    st.integers(0, 10),
    st.integers(1, 3),
)
def test_products_updated_since_from_the_sorted_index_equal_the_scan(stamps, condition, since, after_id, page):
    from marketbridge.sandbox.catalogue import seed_catalogue
    from marketbridge.sandbox.magento.routes import _product_getter
    from marketbridge.sandbox.magento.state import SandboxState

    state = SandboxState(seed_catalogue(len(stamps), 3))
    for product, stamp in zip(state.products.values(), stamps, strict=False):
        product.updated_at = stamp
    state.products_version += 1
    criteria = SearchCriteria([[Filter("updated_at", since, condition)], [Filter("entity_id", str(after_id), "gt")]],
                              [("entity_id", "ASC")], 5, page)
    rows, ids = state.product_rows()
    scanned = apply(rows, criteria, _product_getter, sorted_by="entity_id", sorted_keys=ids)
    indexed = apply(rows, criteria, _product_getter, sorted_by="entity_id", sorted_keys=ids,
                    lookup_range=state.products_from)
    assert [p.id for p in indexed[0]] == [p.id for p in scanned[0]] and indexed[1] == scanned[1]
