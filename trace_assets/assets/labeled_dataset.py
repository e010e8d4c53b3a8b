"""labeled_dataset: consented traces joined with both scores, the final reward and its band."""

import math
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from trace_assets.assets.daily_table_asset import daily_table_asset
from trace_assets.assets.summaries import score_distribution, value_counts, window_text
from trace_assets.ingest.hive_day import scan_batches
from trace_assets.io_managers.trace_window import RowWindow, TableWindow, TraceWindow
from trace_assets.langfuse.trace_rows import TRACE_URL_KEY
from trace_assets.partitions import days_in
from trace_assets.reporting.examples import best_and_worst, examples_markdown, trace_urls_in_metadata
from trace_assets.reporting.reward_picture import markdown_image, reward_picture_png, rewards_by_model
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.scoring.reuse import buckets_of, fingerprints
from trace_assets.scoring.rewards import check_weights, final_reward, preference_band
from trace_assets.scoring.score_index import ScoreIndex
from trace_assets.tables.labeled import (
    LABELED_ICEBERG_SCHEMA,
    LABELED_LAKE_TABLE,
    LABELED_PREFIX,
    LABELED_SCHEMA,
    LABELED_TABLE,
)
from trace_assets.tables.scores import BY_DAY

LABELED_AT_ONCE = 2_000  # traces labeled at a time (~7 MB of text)
# Score rows held at once (judge reasoning of a few hundred characters included: ~75 MB)
SCORE_ROWS_PER_BUCKET = 150_000
JUDGE_COLUMNS = ["trace_id", "judge_score", "reasoning", "error", "judge_model", "prompt_version"]
RAGAS_COLUMNS = [
    "trace_id", "faithfulness", "answer_relevancy", "context_precision", "ragas_reward", "reward_note", "error",
    "scorer_version",
]
SUMMARY_COLUMNS = ["model", "final_reward", "preference", "final_reward_note"]  # what the metadata counts
EXAMPLE_COLUMNS = ["trace_id", "model", "input", "output", "final_reward", "preference"]  # reporting/examples.py
EXAMPLE_BATCHES_KEPT = 64  # batches' best and worst rows held before they are narrowed to the best and worst of all


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
    iceberg_table: TraceWindow,
    judge_scores: TraceWindow,
    ragas_scores: TraceWindow,
    trace_lake: TraceLake,
    iceberg: IcebergWarehouse,
) -> dg.MaterializeResult:
    """The window's consented traces with their judge and ragas scores,
    final_reward = 0.6*ragas_reward + 0.4*judge_score (null with the reason when a side is
    missing) and the seed's preference band, as `{lake}/labeled-dataset/date=YYYY-MM-DD/` Parquet
    and the Iceberg table training_data.labeled_traces."""
    window = context.partition_time_window
    labeler = Labeler(judge_scores, ragas_scores, config)
    # Day by day: the traces streamed in batches, labeled, written to the lake as they come.
    files = [
        trace_lake.replace_day(
            LABELED_PREFIX, LABELED_LAKE_TABLE, day, labeler.labeled_batches(iceberg_table.between(*_day_bounds(day)))
        )
        for day in days_in(window)
    ]
    # The window's one Iceberg commit, streamed back from the lake files just written.
    lake_batches = (
        batch
        for day in days_in(window)
        for batch in scan_batches(trace_lake.read_day(LABELED_PREFIX, LABELED_LAKE_TABLE, day), LABELED_SCHEMA.names)
    )
    # What the metadata says of the rows, worked out before the commit: the commit then holds
    # nothing of the window but the chunk it writes.
    dataset = labeler.summary()  # model, final_reward, preference, final_reward_note of every row
    bands = value_counts(dataset, "preference")
    best, worst = labeler.best_and_worst()
    # The Langfuse sources record each trace's page in Langfuse: the examples link to it.
    example_ids = [row["trace_id"] for row in best + worst]
    metadata_json = (
        iceberg_table.rows_with("id", example_ids, ["id", "metadata_json"])
        if "metadata_json" in iceberg_table.column_names else pa.table({"id": pa.array([], pa.string())})
    )
    trace_urls = trace_urls_in_metadata(metadata_json, example_ids, TRACE_URL_KEY)
    metadata = {
        "window": window_text(window),
        "dagster/row_count": dataset.num_rows,
        "preferred": bands.get("preferred", 0),
        "neutral": bands.get("neutral", 0),
        "dispreferred": bands.get("dispreferred", 0),
        "without_final_reward": dg.MetadataValue.json(
            value_counts(dataset.filter(pc.is_null(dataset["final_reward"])), "final_reward_note")
        ),
        "final_reward_distribution": score_distribution(dataset.column("final_reward")),
        "reward_picture": dg.MetadataValue.md(
            markdown_image(reward_picture_png(dataset, _days_text(window)), "final_reward histogram and rewards by model")
        ),
        "rewards_by_model": dg.MetadataValue.json(rewards_by_model(dataset)),
        "best_examples": dg.MetadataValue.md(examples_markdown(best, trace_urls)),
        "worst_examples": dg.MetadataValue.md(examples_markdown(worst, trace_urls)),
        "weights": dg.MetadataValue.json({"ragas": config.ragas_weight, "judge": config.judge_weight}),
        "files_written": sum(len(day.paths) for day in files),
        "location": dg.MetadataValue.path(trace_lake.location(f"{trace_lake.root}/{LABELED_PREFIX}")),
    }
    del dataset, labeler

    table = iceberg.ensure_table(LABELED_TABLE, LABELED_ICEBERG_SCHEMA, BY_DAY, {})
    commit = iceberg.replace_window(table, "timestamp", window.start, window.end, LABELED_SCHEMA, lake_batches)
    return dg.MaterializeResult(metadata={**metadata, "snapshot_id": str(commit.snapshot_id)})


def label_traces(traces: pa.Table, judge_scores: pa.Table, ragas_scores: pa.Table, weights: RewardWeights) -> pa.Table:
    """One labeled row per consented trace (a trace without consent never gets a row), as one
    table (for a small window: the asset streams `Labeler.labeled_batches`)."""
    labeler = Labeler(TableWindow(judge_scores), TableWindow(ragas_scores), weights)
    return pa.Table.from_batches(list(labeler.labeled_batches(TableWindow(traces))), schema=LABELED_SCHEMA)


class Labeler:
    """Joins traces to the window's scores a batch of LABELED_AT_ONCE traces at a time, and keeps
    what the metadata needs of every labeled row: its summary columns and the best and worst
    examples so far. The scores are held as Arrow columns by trace id; a window of more than
    SCORE_ROWS_PER_BUCKET of them is joined in buckets of trace ids, the traces read once a bucket,
    so that only a bucket's scores (judge reasoning included) are held at a time."""

    def __init__(self, judge_scores: RowWindow, ragas_scores: RowWindow, weights: RewardWeights):
        self.judge_scores, self.ragas_scores, self.weights = judge_scores, ragas_scores, weights
        rows = max(judge_scores.rows_at_most(), ragas_scores.rows_at_most())
        self.buckets = max(1, math.ceil(rows / SCORE_ROWS_PER_BUCKET))
        self.labeled_at = datetime.now(timezone.utc)
        self._summaries: list[pa.RecordBatch] = []
        self._examples: list[pa.Table] = []

    def labeled_batches(self, traces: RowWindow) -> Iterator[pa.RecordBatch]:
        has_messages = "messages" in traces.column_names  # a traces table from before `messages` existed
        columns = ["id", "timestamp", "model", "input", "output", "contexts", *(["messages"] if has_messages else []), "consent"]
        for bucket in range(self.buckets):
            judged = ScoreIndex.of(self.judge_scores, JUDGE_COLUMNS[1:], ["judge_model", "prompt_version"], bucket, self.buckets)
            measured = ScoreIndex.of(self.ragas_scores, RAGAS_COLUMNS[1:], ["scorer_version", "reward_note"], bucket, self.buckets)
            for batch in traces.batches(columns, rows_per_batch=LABELED_AT_ONCE):
                keep = pc.fill_null(batch.column("consent"), False)
                if self.buckets > 1:
                    in_bucket = buckets_of(fingerprints(batch.column("id").to_pylist()), self.buckets) == bucket
                    keep = pc.and_(keep, pa.array(in_bucket))
                batch = batch.filter(keep)
                if batch.num_rows == 0:
                    continue
                labeled = self._label(batch, has_messages, judged, measured)
                self._summaries.append(_compact(labeled.select(SUMMARY_COLUMNS)))
                self._keep_examples(*best_and_worst(pa.Table.from_batches([labeled])))
                yield labeled
            del judged, measured
            pa.default_memory_pool().release_unused()  # the bucket's scores, before the next bucket's

    def summary(self) -> pa.Table:
        """SUMMARY_COLUMNS of every row labeled so far."""
        schema = _select(LABELED_SCHEMA, SUMMARY_COLUMNS)
        if not self._summaries:
            return schema.empty_table()
        compact = pa.Table.from_batches(self._summaries)
        return pa.Table.from_arrays([_as(compact.column(name), schema.field(name).type) for name in schema.names], schema=schema)

    def best_and_worst(self) -> tuple[list[dict], list[dict]]:
        if not self._examples:
            return [], []
        return best_and_worst(pa.concat_tables(self._examples))

    def _keep_examples(self, best: list[dict], worst: list[dict]) -> None:
        """Keeps a batch's best and worst rows; every EXAMPLE_BATCHES_KEPT batches, only the best
        and worst of those (their texts, kept for every batch, were ~40 MB at 1M traces)."""
        if best:
            self._examples.append(pa.Table.from_pylist(best + worst, schema=_select(LABELED_SCHEMA, EXAMPLE_COLUMNS)))
        if len(self._examples) >= EXAMPLE_BATCHES_KEPT:
            best, worst = self.best_and_worst()
            self._examples = [pa.Table.from_pylist(best + worst, schema=_select(LABELED_SCHEMA, EXAMPLE_COLUMNS))]

    def _label(self, batch: pa.RecordBatch, has_messages: bool, judge_index: ScoreIndex, ragas_index: ScoreIndex) -> pa.RecordBatch:
        trace_ids = batch.column("id").to_pylist()
        judge, judged = judge_index.rows_for(trace_ids)
        ragas, measured = ragas_index.rows_for(trace_ids)
        judge_scores = judge.column("judge_score").to_pylist() if judge is not None else [None] * len(trace_ids)
        ragas_rewards = ragas.column("ragas_reward").to_pylist() if ragas is not None else [None] * len(trace_ids)
        rewards = [
            final_reward(ragas_reward, judge_score, self.weights.ragas_weight, self.weights.judge_weight)
            for ragas_reward, judge_score in zip(ragas_rewards, judge_scores)
        ]
        n = batch.num_rows
        columns = {
            "trace_id": batch.column("id"),
            "timestamp": batch.column("timestamp"),
            "model": batch.column("model"),
            "input": batch.column("input"),
            "output": batch.column("output"),
            "contexts": batch.column("contexts"),
            "consent": pa.array([True] * n),
            "judge_score": _score_column(judge, "judge_score", n),
            "judge_reasoning": _score_column(judge, "reasoning", n),
            "judge_error": _error_column(judge, judged, "no judge score row"),
            "faithfulness": _score_column(ragas, "faithfulness", n),
            "answer_relevancy": _score_column(ragas, "answer_relevancy", n),
            "context_precision": _score_column(ragas, "context_precision", n),
            "ragas_reward": _score_column(ragas, "ragas_reward", n),
            "ragas_note": _score_column(ragas, "reward_note", n),
            "ragas_error": _error_column(ragas, measured, "no ragas score row"),
            "ragas_weight": pa.array([self.weights.ragas_weight] * n, pa.float64()),
            "judge_weight": pa.array([self.weights.judge_weight] * n, pa.float64()),
            "final_reward": pa.array([reward.value for reward in rewards], pa.float64()),
            "final_reward_note": pa.array([reward.reason for reward in rewards], pa.string()),
            "preference": pa.array([preference_band(reward.value) for reward in rewards], pa.string()),
            "judge_model": _score_column(judge, "judge_model", n),
            "judge_prompt_version": _score_column(judge, "prompt_version", n),
            "ragas_scorer_version": _score_column(ragas, "scorer_version", n),
            "labeled_at": pa.array([self.labeled_at] * n, pa.timestamp("us", tz="UTC")),
            "messages": batch.column("messages") if has_messages else pa.nulls(n, pa.string()),
        }
        return pa.RecordBatch.from_arrays(
            [_as(columns[field.name], field.type) for field in LABELED_SCHEMA], schema=LABELED_SCHEMA
        )


def _compact(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with its string columns dictionary-encoded (model names, bands, notes repeat)."""
    return pa.RecordBatch.from_arrays(
        [column.dictionary_encode() if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) else column
         for column in batch.columns],
        names=batch.schema.names,
    )


def _score_column(rows: pa.Table | None, name: str, n: int):
    return rows.column(name) if rows is not None else pa.nulls(n)


def _error_column(rows: pa.Table | None, found: np.ndarray, missing: str) -> pa.Array:
    """The score row's error, or `missing` for a trace without a score row."""
    errors = rows.column("error") if rows is not None else pa.nulls(len(found), pa.string())
    return pc.if_else(pa.array(found), errors, pa.scalar(missing, errors.type if errors.type != pa.null() else pa.string()))


def _as(array, target: pa.DataType) -> pa.Array:
    """`array` (chunked or not, dictionary-encoded or not) as one array of `target`."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    decoded = [chunk.dictionary_decode() if pa.types.is_dictionary(chunk.type) else chunk for chunk in chunks]
    if not decoded:
        return pa.array([], target)
    return pa.concat_arrays([chunk.cast(target) for chunk in decoded])


def _select(schema: pa.Schema, columns: list[str]) -> pa.Schema:
    return pa.schema([schema.field(name) for name in columns])


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def _days_text(window: dg.TimeWindow) -> str:
    days = days_in(window)
    return str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]}"

