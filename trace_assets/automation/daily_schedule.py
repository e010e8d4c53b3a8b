"""The daily run: at 06:00 UTC (the seed's schedule), the whole graph for yesterday, from landing
its traces to publishing the training-set snapshots of the window ending on it."""

import dagster as dg

from trace_assets.automation.run_reasons import REASON_TAG, SCHEDULE
from trace_assets.jobs import refresh_traces_job

# build_schedule_from_partitioned_job targets the newest complete daily partition: yesterday (UTC).
daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    refresh_traces_job,
    name="daily_refresh",
    hour_of_day=6,
    minute_of_hour=0,
    tags={REASON_TAG: SCHEDULE},
    description="Yesterday's traces (UTC), landed, scored and labeled, and the training sets of the window ending on it "
    "published, at 06:00 UTC.",
)
