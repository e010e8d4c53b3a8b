"""Jobs the UI, the CLI and the demo launch."""

import dagster as dg

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.raw_traces import raw_traces
from trace_assets.assets.reward_quality import reward_quality

# langfuse_scores is in the graph only when TRACE_LANGFUSE_WRITE_SCORES is true: selected by its
# group, which selects nothing when it is absent.
LANGFUSE_WRITE_BACK = dg.AssetSelection.groups("langfuse")
# dpo_pairs, kto_examples, grpo_prompts (one multi-asset, built by TRACE_EXPORT_WINDOW_DAYS).
TRAINING_EXPORTS = dg.AssetSelection.groups("exports")

ingest_traces_job = dg.define_asset_job(
    "ingest_traces",
    selection=[raw_traces, iceberg_table],
    description="Land a day (or a range of days) of traces as Parquet and in the Iceberg table.",
)

label_traces_job = dg.define_asset_job(
    "label_traces",
    selection=dg.AssetSelection.assets(judge_scores, ragas_scores, labeled_dataset, reward_quality) | LANGFUSE_WRITE_BACK,
    description="Score a day's consented traces (judge and ragas), publish its labeled dataset and its reward-quality report "
    "(and, when enabled, write the rewards to Langfuse).",
)

# The daily schedule and the late-data sensor run this job: a day's training-set snapshots are
# published in the same run, after its labeled_dataset (they depend on it). A late-data rerun of a
# past day D republishes snapshot D too, built from the corrected labeled days.
refresh_traces_job = dg.define_asset_job(
    "refresh_traces",
    selection=dg.AssetSelection.assets(raw_traces, iceberg_table, judge_scores, ragas_scores, labeled_dataset, reward_quality)
    | LANGFUSE_WRITE_BACK
    | TRAINING_EXPORTS,
    description="The whole graph for a day: land it, score it, publish its labeled dataset, its reward-quality report and "
    "its training-set snapshots (and, when enabled, write the rewards to Langfuse).",
)

export_training_sets_job = dg.define_asset_job(
    "export_training_sets",
    selection=TRAINING_EXPORTS,
    description="Publish a day's training sets (DPO pairs, KTO examples, GRPO prompts) from the labeled traces of the "
    "TRACE_EXPORT_WINDOW_DAYS days ending on it.",
)
