"""A score table's window: which traces need scoring, scoring them chunk by chunk (each chunk
stored as it is done), and the window's final rows in one commit.

Nothing here holds a window's rows: the plan holds fingerprints, each scored chunk is staged to a
local Parquet file (and checkpointed to the table), and the final commit streams the kept stored
rows and the staged ones; what the assets report is read back a few columns at a time."""

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema

from trace_assets.assets.summaries import window_text
from trace_assets.io_managers.trace_window import ROWS_PER_BATCH, RowWindow, TraceWindow
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse, WindowCommit, conform
from trace_assets.scoring.progress import ProgressLog
from trace_assets.scoring.scoring_plan import ScoringPlan, plan_scoring, provenance
from trace_assets.tables.scores import BY_DAY

# Traces scored per call to a scorer: the Python objects of one chunk (the traces, the requests,
# the answers) are all a step holds of the window: ~20 KB a trace, so 10,000 cost ~200 MB at the
# peak (measured); a chunk of 2,000 is still 31 requests per judge worker (64 in flight), so its
# last, thinner wave costs little.
TRACES_PER_CHUNK = 2_000
# Scored rows stored in the table (a checkpoint: one Iceberg commit) at least this often, so a run
# that dies keeps its work without a commit, and a small file, per chunk.
TRACES_PER_CHECKPOINT = 10_000

# score_chunk(traces, on_progress) -> one dict of score columns per trace, in order
ChunkScorer = Callable[[list[dict], Callable[[int, int], None]], list[dict]]


@dataclass(frozen=True)
class ScoreTable:
    identifier: str
    iceberg_schema: Schema

    @property
    def arrow_schema(self) -> pa.Schema:
        return schema_to_pyarrow(self.iceberg_schema, include_field_ids=False)


@dataclass
class ScoredWindow:
    """The window's score rows: one per consented trace, the plan's kept stored rows and the rows
    scored in this run (`new_rows` of them, in `seconds` of scoring, staged in local files until
    the window is committed)."""

    plan: ScoringPlan
    schema: pa.Schema
    staged: list[Path] = field(default_factory=list)
    new_rows: int = 0
    seconds: float = 0.0
    _folder: tempfile.TemporaryDirectory = field(default_factory=lambda: tempfile.TemporaryDirectory(prefix="scores-"))

    @property
    def rows(self) -> int:
        return self.plan.reused + self.new_rows

    def stage(self, rows: pa.RecordBatch) -> None:
        path = Path(self._folder.name) / f"chunk-{len(self.staged):05d}.parquet"
        pq.write_table(pa.Table.from_batches([rows], schema=self.schema), path)
        self.staged.append(path)
        self.new_rows += rows.num_rows

    def new_batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The rows scored in this run, `columns` of them (all by default)."""
        for path in self.staged:
            yield from pq.ParquetFile(path).iter_batches(batch_size=ROWS_PER_BATCH, columns=columns)

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Every row of the window: the kept stored rows, then the new ones, in the table's schema."""
        schema = _select(self.schema, columns or self.schema.names)
        for batch in self.plan.reused_batches(schema.names):
            yield from conform(pa.Table.from_batches([batch]), schema).to_batches()
        yield from self.new_batches(columns)

    def new_summary(self, columns: Sequence[str]) -> pa.Table:
        """`columns` of the rows scored in this run, as one table (pick narrow columns)."""
        return pa.Table.from_batches(list(self.new_batches(columns)), schema=_select(self.schema, columns))

    def summary(self, columns: Sequence[str]) -> pa.Table:
        """`columns` of every row of the window, as one table (pick narrow columns)."""
        return pa.Table.from_batches(list(self.batches(columns)), schema=_select(self.schema, columns))

    @property
    def new(self) -> pa.Table:
        """The rows scored in this run, whole (for a small window)."""
        return self.new_summary(self.schema.names)

    @property
    def scores(self) -> pa.Table:
        """Every row of the window, whole (for a small window)."""
        return self.summary(self.schema.names)


def plan_window(
    iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow, consented_traces: RowWindow | pa.Table,
    identity: dict, log,
) -> ScoringPlan:
    """The window's traces, with the stored scores of `identity` that still hold."""
    catalog = iceberg.catalog()
    stored = (
        TraceWindow.of(catalog.load_table(table.identifier), "timestamp", window.start, window.end)
        if catalog.table_exists(table.identifier)
        else None
    )
    plan = plan_scoring(consented_traces, stored, identity)
    log.info(f"{plan.rows} consented traces: {plan.reused} scores reused, {plan.fresh} to score")
    return plan


def score_window(
    plan: ScoringPlan,
    table: ScoreTable,
    score_chunk: ChunkScorer,
    progress: Callable[[int, int], None],
    checkpoint: Callable[[pa.Table, bool], None] | None = None,
    chunk_size: int = TRACES_PER_CHUNK,
    checkpoint_every: int | None = None,
) -> ScoredWindow:
    """Scores the plan's fresh traces a chunk at a time; the new rows join the reused ones.
    `checkpoint(rows, replaces)` stores the scored rows whenever `checkpoint_every` (default: a
    chunk) of them are waiting, except at the end, so a run that dies in the middle of a day keeps
    them: the rerun reuses them and scores the rest (`replaces`: some of the rows' traces have a
    stored row, which the checkpoint replaces)."""
    started = time.monotonic()
    scored = ScoredWindow(plan, table.arrow_schema)
    checkpoint_every = checkpoint_every or chunk_size
    waiting: list[pa.RecordBatch] = []  # scored rows not checkpointed yet (score columns only: small)
    for chunk_start, traces in zip(range(0, plan.fresh, chunk_size), plan.fresh_traces(chunk_size)):
        scores = score_chunk(traces, lambda done, _, offset=chunk_start: progress(offset + done, plan.fresh))
        rows = pa.RecordBatch.from_pylist(
            [{**provenance(trace), **score} for trace, score in zip(traces, scores)], schema=scored.schema
        )
        del traces, scores
        scored.stage(rows)
        waiting.append(rows)
        more_to_come = chunk_start + chunk_size < plan.fresh
        if checkpoint is not None and more_to_come and sum(batch.num_rows for batch in waiting) >= checkpoint_every:
            stored = pa.Table.from_batches(waiting)
            checkpoint(stored, plan.has_stored_rows(stored.column("trace_id").to_pylist()))
            waiting = []
    scored.seconds = time.monotonic() - started
    return scored


def score_and_store_window(
    iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow, plan: ScoringPlan, score_chunk: ChunkScorer, log
) -> tuple[ScoredWindow, WindowCommit]:
    """The plan scored chunk by chunk (checkpointed), then the window replaced in one commit."""
    label = table.identifier.rsplit(".", 1)[-1]
    checkpoint = checkpoint_rows(iceberg, table, window)
    scored = score_window(
        plan, table, score_chunk, ProgressLog(log, label), checkpoint, chunk_size=TRACES_PER_CHUNK,
        checkpoint_every=TRACES_PER_CHECKPOINT,
    )
    return scored, store_window(iceberg, table, window, scored)


def store_window(
    iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow, scores: ScoredWindow | pa.Table
) -> WindowCommit:
    """Replace the window's rows of the score table by `scores`, in one commit (streamed)."""
    iceberg_table = iceberg.ensure_table(table.identifier, table.iceberg_schema, BY_DAY, {})
    batches = scores.to_batches() if isinstance(scores, pa.Table) else scores.batches()
    return iceberg.replace_window(iceberg_table, "timestamp", window.start, window.end, table.arrow_schema, batches)


def checkpoint_rows(
    iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow
) -> Callable[[pa.Table, bool], None]:
    """Stores a chunk's score rows in place of the window's rows of the same traces (one commit).
    A chunk none of whose traces has a stored row is appended: a delete by key makes pyiceberg read
    (and hold) every data file of the window whole, and a window's score rows can be one file."""
    iceberg_table = iceberg.ensure_table(table.identifier, table.iceberg_schema, BY_DAY, {})

    def store(rows: pa.Table, replaces: bool = True) -> None:
        if replaces:
            iceberg.replace_rows(iceberg_table, "timestamp", window.start, window.end, "trace_id", table.arrow_schema, rows)
        else:
            iceberg_table.append(conform(rows, iceberg_table.schema().as_arrow()))

    return store


def window_metadata(window: dg.TimeWindow, scored: ScoredWindow) -> dict:
    """The metadata every score asset reports: its window, rows, and how many were scored anew."""
    return {
        "window": window_text(window),
        "dagster/row_count": scored.rows,
        "scored": scored.new_rows,
        "reused": scored.rows - scored.new_rows,
    }


def _select(schema: pa.Schema, columns: Sequence[str]) -> pa.Schema:
    return pa.schema([schema.field(name) for name in columns])
