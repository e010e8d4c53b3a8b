"""The code location: assembles assets, jobs and the resources of the environment."""

import os

import dagster as dg

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.raw_traces import raw_traces
from trace_assets.environments import build_resources
from trace_assets.jobs import ingest_traces_job

defs = dg.Definitions(
    assets=[raw_traces, iceberg_table, judge_scores],
    jobs=[ingest_traces_job],
    resources=build_resources(os.environ),
)
