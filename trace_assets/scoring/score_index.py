"""A window's score rows by trace id, held as Arrow columns and 16-byte fingerprints (no Python
object per row), for joining traces to their scores a batch at a time."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from trace_assets.io_managers.trace_window import RowWindow
from trace_assets.scoring.reuse import KEY_DTYPE, buckets_of, fingerprints

SCORE_ROWS_AT_ONCE = 16_384
# The rows are held in blocks of about this many Arrow bytes, each block's columns contiguous: a
# take from a column of many chunks concatenates them on every call, and concatenating the whole
# window's rows at once holds them twice (~60 MB of judge reasoning at 150,000 rows, measured).
BLOCK_BYTES = 8 << 20


@dataclass(frozen=True)
class ScoreIndex:
    """`columns` of a score table's rows, found by trace id (the first row of an id)."""

    sorted_ids: np.ndarray  # fingerprints of the trace ids, sorted
    rows: np.ndarray  # row number (across the blocks) of each sorted fingerprint
    blocks: list[pa.Table]  # the rows, a block at a time
    starts: np.ndarray  # the row number of each block's first row

    @classmethod
    def of(
        cls, scores: RowWindow, columns: Sequence[str], compact: Sequence[str] = (), bucket: int = 0, buckets: int = 1
    ) -> "ScoreIndex":
        """`columns` (without trace_id) of the score rows whose trace id falls in `bucket` of
        `buckets` (all of them by default); `compact` columns (few distinct values: model names,
        versions) are dictionary-encoded."""
        ids: list[np.ndarray] = []
        blocks = _Blocks(list(columns), set(compact))
        for batch in scores.batches(["trace_id", *columns], rows_per_batch=SCORE_ROWS_AT_ONCE):
            keys = fingerprints(batch.column("trace_id").to_pylist())
            if buckets > 1:
                inside = buckets_of(keys, buckets) == bucket
                keys, batch = keys[inside], batch.filter(pa.array(inside))
            ids.append(keys)
            blocks.add(batch)
        blocks.close()
        keys = np.concatenate(ids) if ids else np.array([], dtype=KEY_DTYPE)
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], order, blocks.done, np.array(blocks.starts, dtype=np.int64))

    def rows_for(self, trace_ids: list[str]) -> tuple[pa.Table | None, np.ndarray]:
        """The score rows of `trace_ids`, in that order (all-null where an id has none), and which
        ids have one."""
        if not self.blocks or len(self.sorted_ids) == 0:
            return None, np.zeros(len(trace_ids), dtype=bool)
        keys = fingerprints(trace_ids)
        at = np.minimum(np.searchsorted(self.sorted_ids, keys), len(self.sorted_ids) - 1)
        found = self.sorted_ids[at] == keys
        wanted = np.flatnonzero(found)  # positions in trace_ids that have a row
        rows = self.rows[at[wanted]]
        block_of = np.searchsorted(self.starts, rows, side="right") - 1
        by_block = np.argsort(block_of, kind="stable")
        # Each block's rows taken from that block alone, then put back in the order of trace_ids.
        pieces = [self.blocks[0].schema.empty_table()]
        for group in np.split(by_block, np.flatnonzero(np.diff(block_of[by_block])) + 1):
            if len(group):
                block = block_of[group[0]]
                pieces.append(self.blocks[block].take(pa.array(rows[group] - self.starts[block], pa.int64())))
        gathered = np.zeros(len(trace_ids), dtype=np.int64)
        gathered[wanted[by_block]] = np.arange(len(wanted))
        return pa.concat_tables(pieces).take(pa.array(gathered, pa.int64(), mask=~found)), found


class _Blocks:
    """Batches of score rows gathered into blocks of about BLOCK_BYTES, each column of a block
    one contiguous array."""

    def __init__(self, columns: list[str], compact: set[str]):
        self.columns, self.compact = columns, compact
        self.pending: list[pa.RecordBatch] = []
        self.pending_bytes = self.rows = 0
        self.done: list[pa.Table] = []
        self.starts: list[int] = []

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self.pending.append(batch.select(self.columns))
        self.pending_bytes += batch.nbytes
        if self.pending_bytes >= BLOCK_BYTES:
            self.close()

    def close(self) -> None:
        if not self.pending:
            return
        rows = pa.Table.from_batches(self.pending).combine_chunks()
        self.pending, self.pending_bytes = [], 0
        self.done.append(pa.table({name: self._compacted(name, rows.column(name).chunk(0)) for name in self.columns}))
        self.starts.append(self.rows)
        self.rows += rows.num_rows

    def _compacted(self, name: str, column: pa.Array) -> pa.Array:
        # a column of nulls only (no type to encode) is left as it is: Arrow cannot unify null dictionaries
        return column.dictionary_encode() if name in self.compact and column.type != pa.null() else column
