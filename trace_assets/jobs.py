"""Jobs the UI, the CLI and the demo launch."""

import dagster as dg

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.raw_traces import raw_traces
from trace_assets.assets.reward_quality import reward_quality

ingest_traces_job = dg.define_asset_job(
    "ingest_traces",
    selection=[raw_traces, iceberg_table],
    description="Land a day (or a range of days) of traces as Parquet and in the Iceberg table.",
)

label_traces_job = dg.define_asset_job(
    "label_traces",
    selection=[judge_scores, ragas_scores, labeled_dataset, reward_quality],
    description="Score a day's consented traces (judge and ragas), publish its labeled dataset and its reward-quality report.",
)

refresh_traces_job = dg.define_asset_job(
    "refresh_traces",
    selection=[raw_traces, iceberg_table, judge_scores, ragas_scores, labeled_dataset, reward_quality],
    description="The whole graph for a day: land it, score it, publish its labeled dataset and its reward-quality report.",
)

export_training_sets_job = dg.define_asset_job(
    "export_training_sets",
    selection=dg.AssetSelection.groups("exports"),
    description="Publish a day's training sets (DPO pairs, KTO examples, GRPO prompts) from the labeled traces of the "
    "TRACE_EXPORT_WINDOW_DAYS days ending on it.",
)
