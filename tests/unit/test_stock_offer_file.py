"""Issue 14 item 4: the shared OF01 stock/price file. NORMAL mode applies every column present in
the file to every row, blank cells included, so no row may carry a blank value."""

from __future__ import annotations

from marketbridge.domain.stock import import_file, import_rows


def _blank_cells(columns: list[str], rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(row["sku"], c) for row in rows for c in columns if c != "update-delete" and not row.get(c)]


def test_a_mixed_batch_fills_each_missing_value_from_what_we_publish_now() -> None:
    values = {"A": {"quantity": "5"}, "B": {"price": "9.99"}, "C": {"quantity": "1", "price": "2.00"}}
    known = {"A": {"quantity": "4", "price": "12.00"}, "B": {"quantity": "7", "price": "9.00"}}
    file = import_file("OF01", values, known)
    assert file.columns == ["sku", "quantity", "price", "update-delete"]
    assert file.held_back == ()
    assert {r["sku"]: (r["quantity"], r["price"]) for r in file.rows} == {
        "A": ("5", "12.00"), "B": ("7", "9.99"), "C": ("1", "2.00")}
    assert _blank_cells(file.columns, file.rows) == []


def test_a_sku_with_no_known_value_is_held_back_never_sent_blank() -> None:
    values = {"A": {"quantity": "5"}, "B": {"price": "9.99"}, "C": {"price": "3.00"}}
    file = import_file("OF01", values, {"B": {"quantity": "7", "price": "9.00"}})
    assert _blank_cells(file.columns, file.rows) == []
    # the price-only file holds back only A; the file with both columns would hold back A and C
    assert (file.columns, file.held_back) == (["sku", "price", "update-delete"], ("A",))


def test_without_known_values_a_mixed_batch_still_has_no_blank_cell() -> None:
    columns, rows = import_rows("OF01", {"A": {"quantity": "5"}, "B": {"price": "9.99"}})
    assert _blank_cells(columns, rows) == [] and len(rows) == 1


def test_single_kind_files_are_unchanged() -> None:
    assert import_rows("OF01", {"A": {"price": "1.50"}}) == (
        ["sku", "price", "update-delete"], [{"sku": "A", "price": "1.50", "update-delete": "update"}])
    assert import_file("STO01", {"A": {"quantity": "3"}}).rows == [{"offer-sku": "A", "quantity": "3"}]
