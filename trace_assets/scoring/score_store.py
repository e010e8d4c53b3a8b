"""A score table's window: which traces need scoring, scoring them chunk by chunk (each chunk
stored as it is done), and the window's final rows in one commit."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema

from trace_assets.assets.summaries import window_text
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse, WindowCommit, conform
from trace_assets.score_tables import BY_DAY
from trace_assets.scoring.progress import ProgressLog
from trace_assets.scoring.scoring_plan import ScoringPlan, plan_scoring, provenance

# Traces scored per call to a scorer: the Python objects of one chunk are all a step holds besides
# the window's Arrow tables, and a chunk is long enough that its last, thinner wave costs little.
TRACES_PER_CHUNK = 10_000

# score_chunk(traces, on_progress) -> one dict of score columns per trace, in order
ChunkScorer = Callable[[list[dict], Callable[[int, int], None]], list[dict]]


@dataclass(frozen=True)
class ScoreTable:
    identifier: str
    iceberg_schema: Schema

    @property
    def arrow_schema(self) -> pa.Schema:
        return schema_to_pyarrow(self.iceberg_schema, include_field_ids=False)


@dataclass(frozen=True)
class ScoredWindow:
    """`scores`: one row per consented trace of the window; `new`: the rows scored in this run,
    in `seconds` of scoring."""

    scores: pa.Table
    new: pa.Table
    seconds: float = 0.0


def plan_window(
    iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow, consented_traces: pa.Table, identity: dict, log
) -> ScoringPlan:
    """The window's traces, with the stored scores of `identity` that still hold."""
    stored = iceberg.read_window(table.identifier, "timestamp", window.start, window.end)
    plan = plan_scoring(consented_traces, stored, identity)
    fresh = len(plan.fresh)
    log.info(f"{plan.traces.num_rows} consented traces: {plan.traces.num_rows - fresh} scores reused, {fresh} to score")
    return plan


def score_window(
    plan: ScoringPlan,
    table: ScoreTable,
    score_chunk: ChunkScorer,
    progress: Callable[[int, int], None],
    checkpoint: Callable[[pa.Table], None] | None = None,
    chunk_size: int = TRACES_PER_CHUNK,
) -> ScoredWindow:
    """Scores the plan's fresh traces a chunk at a time; the new rows join the reused ones.
    `checkpoint(rows)` stores every chunk's rows but the last as soon as it is scored, so a run
    that dies in the middle of a day keeps them: the rerun reuses them and scores the rest."""
    started = time.monotonic()
    schema = table.arrow_schema
    batches = []
    for chunk_start, traces in zip(range(0, len(plan.fresh), chunk_size), plan.fresh_traces(chunk_size)):
        scores = score_chunk(traces, lambda done, _, offset=chunk_start: progress(offset + done, len(plan.fresh)))
        rows = [{**provenance(trace), **score} for trace, score in zip(traces, scores)]
        batches.append(pa.RecordBatch.from_pylist(rows, schema=schema))
        if checkpoint is not None and chunk_start + chunk_size < len(plan.fresh):
            checkpoint(pa.Table.from_batches(batches[-1:]))
    new = pa.Table.from_batches(batches, schema=schema)
    reused = conform(plan.reused, schema) if plan.reused is not None else schema.empty_table()
    return ScoredWindow(pa.concat_tables([reused, new]), new, time.monotonic() - started)


def score_and_store_window(
    iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow, plan: ScoringPlan, score_chunk: ChunkScorer, log
) -> tuple[ScoredWindow, WindowCommit]:
    """The plan scored chunk by chunk (checkpointed), then the window replaced in one commit."""
    label = table.identifier.rsplit(".", 1)[-1]
    checkpoint = checkpoint_rows(iceberg, table, window)
    scored = score_window(plan, table, score_chunk, ProgressLog(log, label), checkpoint, chunk_size=TRACES_PER_CHUNK)
    return scored, store_window(iceberg, table, window, scored.scores)


def store_window(iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow, scores: pa.Table) -> WindowCommit:
    """Replace the window's rows of the score table by `scores`, in one commit."""
    iceberg_table = iceberg.ensure_table(table.identifier, table.iceberg_schema, BY_DAY, {})
    return iceberg.replace_window(iceberg_table, "timestamp", window.start, window.end, table.arrow_schema, scores.to_batches())


def checkpoint_rows(iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow) -> Callable[[pa.Table], None]:
    """Stores a chunk's score rows in place of the window's rows of the same traces (one commit)."""
    iceberg_table = iceberg.ensure_table(table.identifier, table.iceberg_schema, BY_DAY, {})

    def store(rows: pa.Table) -> None:
        iceberg.replace_rows(iceberg_table, "timestamp", window.start, window.end, "trace_id", table.arrow_schema, rows)

    return store


def window_metadata(window: dg.TimeWindow, scored: ScoredWindow) -> dict:
    """The metadata every score asset reports: its window, rows, and how many were scored anew."""
    return {
        "window": window_text(window),
        "dagster/row_count": scored.scores.num_rows,
        "scored": scored.new.num_rows,
        "reused": scored.scores.num_rows - scored.new.num_rows,
    }
