"""A window's score rows by trace id, held as Arrow columns and 16-byte fingerprints (no Python
object per row), for joining traces to their scores a batch at a time."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from trace_assets.io_managers.trace_window import RowWindow
from trace_assets.scoring.reuse import KEY_DTYPE, buckets_of, fingerprints

SCORE_ROWS_AT_ONCE = 16_384


@dataclass(frozen=True)
class ScoreIndex:
    """`columns` of a score table's rows, found by trace id (the first row of an id)."""

    sorted_ids: np.ndarray  # fingerprints of the trace ids, sorted
    rows: np.ndarray  # row in `table` of each sorted fingerprint
    table: pa.Table

    @classmethod
    def of(
        cls, scores: RowWindow, columns: Sequence[str], compact: Sequence[str] = (), bucket: int = 0, buckets: int = 1
    ) -> "ScoreIndex":
        """`columns` (without trace_id) of the score rows whose trace id falls in `bucket` of
        `buckets` (all of them by default); `compact` columns (few distinct values: model names,
        versions) are dictionary-encoded."""
        ids: list[np.ndarray] = []
        chunks: dict[str, list[pa.Array]] = {name: [] for name in columns}
        for batch in scores.batches(["trace_id", *columns], rows_per_batch=SCORE_ROWS_AT_ONCE):
            keys = fingerprints(batch.column("trace_id").to_pylist())
            if buckets > 1:
                inside = buckets_of(keys, buckets) == bucket
                keys, batch = keys[inside], batch.filter(pa.array(inside))
            ids.append(keys)
            for name in columns:
                chunks[name].append(batch.column(name))
        keys = np.concatenate(ids) if ids else np.array([], dtype=KEY_DTYPE)
        order = np.argsort(keys, kind="stable")
        if not ids:
            return cls(keys, order, None)
        # Each column in one contiguous chunk (a take from many chunks concatenates them on every
        # call), concatenated a column at a time so that only one column is ever held twice.
        arrays = {}
        for name in columns:
            parts = chunks.pop(name)
            arrays[name] = pa.concat_arrays(parts)
            del parts
            if name in compact:
                arrays[name] = arrays[name].dictionary_encode()
        return cls(keys[order], order, pa.table(arrays))

    def rows_for(self, trace_ids: list[str]) -> tuple[pa.Table | None, np.ndarray]:
        """The score rows of `trace_ids`, in that order (all-null where an id has none), and which
        ids have one."""
        if self.table is None or len(self.sorted_ids) == 0:
            return None, np.zeros(len(trace_ids), dtype=bool)
        keys = fingerprints(trace_ids)
        at = np.minimum(np.searchsorted(self.sorted_ids, keys), len(self.sorted_ids) - 1)
        found = self.sorted_ids[at] == keys
        rows = pa.array(self.rows[at], pa.int64(), mask=~found)
        return self.table.take(rows), found
