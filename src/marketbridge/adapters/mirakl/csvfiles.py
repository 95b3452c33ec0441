"""Mirakl's CSV dialect: ``;``-separated, double-quoted, UTF-8, header row first.

Used both ways: the client builds import files (OF01, STO01, PRI01, P41) and reads error reports
(OF03, STO03, PRI03, P44); the simulator does the reverse. Every value is quoted when written, so
that a SKU with a trailing space (``"MB-TRAILING-0001 "``) survives the round trip untouched.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Mapping, Sequence


class CsvFormatError(ValueError):
    """The file is not a readable ``;`` CSV with a header."""


def write_csv(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quotechar='"', quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(col) is None else _text(row.get(col)) for col in columns])
    return buffer.getvalue().encode("utf-8")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def decode_text(data: bytes) -> str:
    """Mirakl writes UTF-8, but a report re-saved by a person comes back with a BOM, as UTF-16
    (Excel's "Unicode text") or as Windows-1252/Latin-1. Read all of them rather than fail."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CsvFormatError("the file starts with a UTF-16 mark but is not UTF-16 text") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte is a Latin-1 character: never fails


def read_csv(data: bytes | str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows (as dicts). A missing header or a ragged row raises :class:`CsvFormatError`."""
    header, cells = read_csv_cells(data)
    return header, [{col: (row[i] if i < len(row) else "") for i, col in enumerate(header)} for row in cells]


def read_csv_cells(data: bytes | str) -> tuple[list[str], list[list[str]]]:
    """Header and rows as lists of cells, for files read by position (STO03/PRI03: line number and
    reason first, whatever their header cells say, even blank or repeated ones)."""
    text = decode_text(data) if isinstance(data, bytes) else data
    if not text.strip():
        raise CsvFormatError("the file is empty")
    reader = csv.reader(io.StringIO(text), delimiter=";", quotechar='"')
    try:
        rows = list(reader)
    except csv.Error as error:
        raise CsvFormatError(f"unreadable CSV: {error}") from None
    header = [h.strip() for h in rows[0]]
    if not any(header):
        raise CsvFormatError("the header row is empty")
    records: list[list[str]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not cell for cell in row):
            continue
        if len(row) > len(header):
            raise CsvFormatError(f"line {number} has {len(row)} columns, the header has {len(header)}")
        records.append(row + [""] * (len(header) - len(row)))
    return header, records
