"""Daily partitions in UTC: a partition is the half-open window [00:00, 24:00) of its day."""

import os
from datetime import date, timedelta

import dagster as dg

from trace_assets.environments import partition_start_date

daily_partitions = dg.DailyPartitionsDefinition(start_date=partition_start_date(os.environ), timezone="UTC")


def days_in(window: dg.TimeWindow) -> list[date]:
    """The UTC days a partition window covers (one for a day, several for a backfill range)."""
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=offset) for offset in range((end - first).days)]
