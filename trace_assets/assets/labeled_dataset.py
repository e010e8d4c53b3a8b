"""labeled_dataset: consented traces joined with both scores, the final reward and its band."""

from datetime import datetime, timezone

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from trace_assets.assets.daily_table_asset import daily_table_asset
from trace_assets.assets.summaries import score_distribution, value_counts, window_text
from trace_assets.labeled_table import (
    LABELED_ICEBERG_SCHEMA,
    LABELED_LAKE_TABLE,
    LABELED_PREFIX,
    LABELED_SCHEMA,
    LABELED_TABLE,
)
from trace_assets.langfuse.trace_rows import TRACE_URL_KEY
from trace_assets.partitions import days_in
from trace_assets.reporting.examples import best_and_worst, examples_markdown, trace_urls_in_metadata
from trace_assets.reporting.reward_picture import markdown_image, reward_picture_png, rewards_by_model
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.score_tables import BY_DAY
from trace_assets.scoring.rewards import check_weights, final_reward, preference_band

LABELED_AT_ONCE = 10_000  # traces turned into Python objects at a time
JUDGE_COLUMNS = ["trace_id", "judge_score", "reasoning", "error", "judge_model", "prompt_version"]
RAGAS_COLUMNS = [
    "trace_id", "faithfulness", "answer_relevancy", "context_precision", "ragas_reward", "reward_note", "error",
    "scorer_version",
]


class RewardWeights(dg.Config):
    ragas_weight: float = Field(default=0.6, ge=0, description="Weight of ragas_reward (the seed's 0.6).")
    judge_weight: float = Field(default=0.4, ge=0, description="Weight of judge_score (the seed's 0.4).")

    @model_validator(mode="after")
    def _weights_have_a_sum(self) -> "RewardWeights":
        check_weights(self.ragas_weight, self.judge_weight)  # the reward divides by their sum
        return self


@daily_table_asset(LABELED_TABLE, group_name="dataset", kinds={"iceberg", "parquet"})
def labeled_dataset(
    context: dg.AssetExecutionContext,
    config: RewardWeights,
    iceberg_table: pa.Table,
    judge_scores: pa.Table,
    ragas_scores: pa.Table,
    trace_lake: TraceLake,
    iceberg: IcebergWarehouse,
) -> dg.MaterializeResult:
    """The window's consented traces with their judge and ragas scores,
    final_reward = 0.6*ragas_reward + 0.4*judge_score (null with the reason when a side is
    missing) and the seed's preference band, as `{lake}/labeled-dataset/date=YYYY-MM-DD/` Parquet
    and the Iceberg table training_data.labeled_traces."""
    window = context.partition_time_window
    dataset = label_traces(iceberg_table, judge_scores, ragas_scores, config)
    files = [
        trace_lake.replace_day(LABELED_PREFIX, LABELED_LAKE_TABLE, day, _rows_of_day(dataset, day).to_batches())
        for day in days_in(window)
    ]
    table = iceberg.ensure_table(LABELED_TABLE, LABELED_ICEBERG_SCHEMA, BY_DAY, {})
    commit = iceberg.replace_window(table, "timestamp", window.start, window.end, LABELED_SCHEMA, dataset.to_batches())

    bands = value_counts(dataset, "preference")
    unlabeled = value_counts(dataset.filter(pc.is_null(dataset["final_reward"])), "final_reward_note")
    best, worst = best_and_worst(dataset)
    # The Langfuse sources record each trace's page in Langfuse: the examples link to it.
    trace_urls = trace_urls_in_metadata(iceberg_table, [row["trace_id"] for row in best + worst], TRACE_URL_KEY)
    return dg.MaterializeResult(
        metadata={
            "window": window_text(window),
            "dagster/row_count": dataset.num_rows,
            "preferred": bands.get("preferred", 0),
            "neutral": bands.get("neutral", 0),
            "dispreferred": bands.get("dispreferred", 0),
            "without_final_reward": dg.MetadataValue.json(unlabeled),
            "final_reward_distribution": score_distribution(dataset.column("final_reward").to_pylist()),
            "reward_picture": dg.MetadataValue.md(
                markdown_image(reward_picture_png(dataset, _days_text(window)), "final_reward histogram and rewards by model")
            ),
            "rewards_by_model": dg.MetadataValue.json(rewards_by_model(dataset)),
            "best_examples": dg.MetadataValue.md(examples_markdown(best, trace_urls)),
            "worst_examples": dg.MetadataValue.md(examples_markdown(worst, trace_urls)),
            "weights": dg.MetadataValue.json({"ragas": config.ragas_weight, "judge": config.judge_weight}),
            "files_written": sum(len(day.paths) for day in files),
            "location": dg.MetadataValue.path(trace_lake.location(f"{trace_lake.root}/{LABELED_PREFIX}")),
            "snapshot_id": str(commit.snapshot_id),
        }
    )


def label_traces(traces: pa.Table, judge_scores: pa.Table, ragas_scores: pa.Table, weights: RewardWeights) -> pa.Table:
    """One labeled row per consented trace (a trace without consent never gets a row), built
    LABELED_AT_ONCE traces at a time: only that many are ever Python objects."""
    judged = {row["trace_id"]: row for row in judge_scores.select(JUDGE_COLUMNS).to_pylist()}
    measured = {row["trace_id"]: row for row in ragas_scores.select(RAGAS_COLUMNS).to_pylist()}
    labeled_at = datetime.now(timezone.utc)
    if "messages" not in traces.column_names:  # a traces table from before `messages` existed
        traces = traces.append_column("messages", pa.nulls(traces.num_rows, pa.string()))
    columns = ["id", "timestamp", "model", "input", "output", "contexts", "messages", "consent"]
    batches = [
        pa.RecordBatch.from_pylist(_labeled_rows(batch.to_pylist(), judged, measured, weights, labeled_at), schema=LABELED_SCHEMA)
        for batch in traces.select(columns).to_batches(max_chunksize=LABELED_AT_ONCE)
    ]
    return pa.Table.from_batches(batches, schema=LABELED_SCHEMA)


def _labeled_rows(traces: list[dict], judged: dict, measured: dict, weights: RewardWeights, labeled_at: datetime) -> list[dict]:
    rows = []
    for trace in traces:
        if not trace["consent"]:
            continue
        judge = judged.get(trace["id"], {})
        ragas = measured.get(trace["id"], {})
        reward = final_reward(ragas.get("ragas_reward"), judge.get("judge_score"), weights.ragas_weight, weights.judge_weight)
        rows.append(
            {
                "trace_id": trace["id"],
                "timestamp": trace["timestamp"],
                "model": trace["model"],
                "input": trace["input"],
                "output": trace["output"],
                "contexts": trace["contexts"],
                "consent": True,
                "judge_score": judge.get("judge_score"),
                "judge_reasoning": judge.get("reasoning"),
                "judge_error": judge.get("error") if judge else "no judge score row",
                "faithfulness": ragas.get("faithfulness"),
                "answer_relevancy": ragas.get("answer_relevancy"),
                "context_precision": ragas.get("context_precision"),
                "ragas_reward": ragas.get("ragas_reward"),
                "ragas_note": ragas.get("reward_note"),
                "ragas_error": ragas.get("error") if ragas else "no ragas score row",
                "ragas_weight": weights.ragas_weight,
                "judge_weight": weights.judge_weight,
                "final_reward": reward.value,
                "final_reward_note": reward.reason,
                "preference": preference_band(reward.value),
                "judge_model": judge.get("judge_model"),
                "judge_prompt_version": judge.get("prompt_version"),
                "ragas_scorer_version": ragas.get("scorer_version"),
                "labeled_at": labeled_at,
                "messages": trace["messages"],
            }
        )
    return rows


def _days_text(window: dg.TimeWindow) -> str:
    days = days_in(window)
    return str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]}"


def _rows_of_day(dataset: pa.Table, day) -> pa.Table:
    return dataset.filter(pc.equal(pc.cast(dataset["timestamp"], pa.date32()), pa.scalar(day, pa.date32())))
