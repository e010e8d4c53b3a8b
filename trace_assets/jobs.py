"""Jobs the UI, the CLI and the demo launch."""

import dagster as dg

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.raw_traces import raw_traces

ingest_traces_job = dg.define_asset_job(
    "ingest_traces",
    selection=[raw_traces, iceberg_table],
    description="Land a day (or a range of days) of traces as Parquet and in the Iceberg table.",
)

label_traces_job = dg.define_asset_job(
    "label_traces",
    selection=[judge_scores, ragas_scores, labeled_dataset],
    description="Score a day's consented traces (judge and ragas) and publish its labeled dataset.",
)

refresh_traces_job = dg.define_asset_job(
    "refresh_traces",
    selection=[raw_traces, iceberg_table, judge_scores, ragas_scores, labeled_dataset],
    description="The whole graph for a day: land it, score it, publish its labeled dataset.",
)
