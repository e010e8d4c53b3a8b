"""The code location: assembles assets, checks, jobs, automation and the environment's resources."""

import os

import dagster as dg

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.langfuse_scores import langfuse_scores
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.raw_traces import raw_traces
from trace_assets.assets.reward_quality import reward_quality
from trace_assets.assets.training_exports import build_export_assets
from trace_assets.automation.daily_schedule import daily_refresh_schedule
from trace_assets.automation.late_data_sensor import build_late_data_sensor
from trace_assets.checks import build_checks
from trace_assets.environments import (
    build_resources,
    export_window_days,
    late_data_lookback_days,
    max_score_error_rate,
    snapshot_retention_days,
)
from trace_assets.erasure_job import erase_users_job
from trace_assets.export_checks import build_export_checks
from trace_assets.jobs import export_training_sets_job, ingest_traces_job, label_traces_job, refresh_traces_job
from trace_assets.ownership import with_owners
from trace_assets.quality_checks import build_quality_checks
from trace_assets.snapshot_expiry_job import build_expiry_schedule, expire_snapshots_job
from trace_assets.source_choice import write_scores_to_langfuse

defs = dg.Definitions(
    assets=with_owners([
        raw_traces, iceberg_table, judge_scores, ragas_scores, labeled_dataset, reward_quality,
        # dpo_pairs, kto_examples, grpo_prompts over TRACE_EXPORT_WINDOW_DAYS days
        build_export_assets(export_window_days(os.environ)),
        # Rewards back into Langfuse only when asked for (TRACE_LANGFUSE_WRITE_SCORES=true with the API's settings).
        *([langfuse_scores] if write_scores_to_langfuse(os.environ) else []),
    ]),
    asset_checks=[*build_checks(max_score_error_rate(os.environ)), *build_quality_checks(), *build_export_checks()],
    jobs=[ingest_traces_job, label_traces_job, refresh_traces_job, export_training_sets_job, erase_users_job, expire_snapshots_job],
    schedules=[daily_refresh_schedule, build_expiry_schedule(snapshot_retention_days(os.environ))],
    sensors=[build_late_data_sensor(late_data_lookback_days(os.environ))],
    resources=build_resources(os.environ),
)
