"""Daily partitions in UTC: a partition is the half-open window [00:00, 24:00) of its day."""

import os
from collections.abc import Mapping
from datetime import date, timedelta

import dagster as dg

DEFAULT_START_DATE = "2026-04-01"


def partition_start_date(environ: Mapping[str, str]) -> str:
    """First daily partition (TRACE_ASSETS_START_DATE, default the seed's 2026-04-01)."""
    value = environ.get("TRACE_ASSETS_START_DATE", DEFAULT_START_DATE)
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"TRACE_ASSETS_START_DATE={value!r} is not a date like 2026-04-01") from None


daily_partitions = dg.DailyPartitionsDefinition(start_date=partition_start_date(os.environ), timezone="UTC")


def days_in(window: dg.TimeWindow) -> list[date]:
    """The UTC days a partition window covers (one for a day, several for a backfill range)."""
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=offset) for offset in range((end - first).days)]
