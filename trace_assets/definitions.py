"""The code location: assembles assets, checks, jobs and the resources of the environment."""

import os

import dagster as dg

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.raw_traces import raw_traces
from trace_assets.checks import build_checks
from trace_assets.environments import build_resources, max_score_error_rate
from trace_assets.jobs import ingest_traces_job, label_traces_job

defs = dg.Definitions(
    assets=[raw_traces, iceberg_table, judge_scores, ragas_scores, labeled_dataset],
    asset_checks=build_checks(max_score_error_rate(os.environ)),
    jobs=[ingest_traces_job, label_traces_job],
    resources=build_resources(os.environ),
)
