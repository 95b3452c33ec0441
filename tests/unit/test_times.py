"""The lenient date readers shared by the console, the orders views, the stock rules and the catalogue."""

from __future__ import annotations

import datetime as dt

from marketbridge.domain.times import as_date, as_datetime


def test_as_datetime_reads_iso_strings_and_takes_naive_ones_as_utc() -> None:
    assert as_datetime("2026-12-08T23:59:59.999+00:00") == dt.datetime(2026, 12, 8, 23, 59, 59, 999000, tzinfo=dt.UTC)
    assert as_datetime("2026-12-08 10:00:00") == dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)
    moment = dt.datetime(2026, 1, 1, 12, 0)
    assert as_datetime(moment) is moment  # a datetime passes through as it is


def test_as_datetime_answers_none_for_what_it_cannot_read() -> None:
    assert as_datetime(None) is None
    assert as_datetime("next tuesday") is None
    assert as_datetime("") is None


def test_as_date_reads_the_date_at_the_start_of_the_text() -> None:
    assert as_date("2026-12-06 00:00:00") == dt.date(2026, 12, 6)
    assert as_date("2026-12-06") == dt.date(2026, 12, 6)
    assert as_date("") is None and as_date(None) is None
    assert as_date("06/12/2026") is None
