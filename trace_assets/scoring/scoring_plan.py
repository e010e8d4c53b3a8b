"""Which traces of a window need scoring, and which stored scores still hold.

A plan holds no text: 16-byte fingerprints of the trace ids to score and of the (trace, content)
keys whose stored row is kept. The traces' text is read again, a chunk at a time, when they are
scored; the kept rows are read again from the stored scores when the window is committed."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timezone

import numpy as np
import pyarrow as pa

from trace_assets.io_managers.trace_window import RowWindow, TableWindow
from trace_assets.scoring.content_hash import content_hash
from trace_assets.scoring.reuse import KEY_DTYPE, fingerprints, members, reusable, score_keys

TRACE_COLUMNS = ["id", "timestamp", "input", "output", "contexts"]
HASHED_COLUMNS = ["input", "output", "contexts", "redaction"]
HASHED_ROWS_AT_ONCE = 2_000  # traces read, and turned into Python objects, at a time to hash them
STORED_KEY_COLUMNS = ["trace_id", "content_hash", "error"]
STORED_ROWS_AT_ONCE = 16_384  # stored score rows read at a time


@dataclass
class ScoringPlan:
    """The window's consented traces, how many there are (`rows`) and how many need a new score
    (`fresh`); the stored scores and which of their rows still hold (`reused`)."""

    traces: RowWindow
    rows: int
    fresh: int
    fresh_ids: np.ndarray  # sorted fingerprints of the ids of the traces to score
    stored: RowWindow | None
    reused_keys: np.ndarray  # sorted fingerprints of the (trace_id, content_hash) keys kept
    identity: dict[str, str]  # what scored the stored rows that are kept
    stored_ids: np.ndarray  # sorted fingerprints of the trace ids with a stored row (any)

    def has_stored_rows(self, trace_ids: list[str]) -> bool:
        """Whether any of `trace_ids` has a row in the stored scores (as planned)."""
        return bool(members(self.stored_ids, fingerprints(trace_ids)).any())

    @property
    def reused(self) -> int:
        return self.rows - self.fresh

    def fresh_traces(self, chunk_size: int) -> Iterator[list[dict]]:
        """The traces to score, in window order, `chunk_size` at a time, as dicts of TRACE_COLUMNS
        plus `content_hash`: only one chunk of them is ever held as Python objects."""
        if self.fresh == 0:
            return
        pending: list[pa.RecordBatch] = []
        pending_rows = 0

        def fresh(batch: pa.RecordBatch) -> pa.Array:
            return pa.array(members(self.fresh_ids, fingerprints(batch.column("id").to_pylist())))

        for batch in _hashed_batches(self.traces, TRACE_COLUMNS, keep=fresh):
            while batch.num_rows:
                taken = batch.slice(0, chunk_size - pending_rows)
                batch = batch.slice(taken.num_rows)
                pending.append(taken)
                pending_rows += taken.num_rows
                if pending_rows == chunk_size:
                    yield _traces_with_hashes(pending)
                    pending, pending_rows = [], 0
        if pending_rows:
            yield _traces_with_hashes(pending)

    def reused_batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """`columns` of the stored rows that still hold, as they were stored: one per kept key
        (columns the stored table lacks are left out)."""
        if self.stored is None or len(self.reused_keys) == 0:
            return
        taken = np.zeros(len(self.reused_keys), dtype=bool)
        wanted = [name for name in columns if name in self.stored.column_names]
        needed = [*STORED_KEY_COLUMNS, *(c for c in self.identity if c in self.stored.column_names)]
        for batch in self.stored.batches(list(dict.fromkeys([*wanted, *needed])), rows_per_batch=STORED_ROWS_AT_ONCE):
            keys = score_keys(batch.column("trace_id").to_pylist(), batch.column("content_hash").to_pylist())
            at = np.minimum(np.searchsorted(self.reused_keys, keys), len(self.reused_keys) - 1)
            candidate = (self.reused_keys[at] == keys) & np.asarray(reusable(batch, self.identity))
            positions = np.flatnonzero(candidate)
            # one row per key: the first stored one (within this batch, then across batches)
            _, first = np.unique(at[positions], return_index=True)
            positions = positions[first]
            positions = np.sort(positions[~taken[at[positions]]])
            taken[at[positions]] = True
            if len(positions):
                yield batch.take(pa.array(positions, pa.int64())).select(wanted)

    @property
    def hashes(self) -> pa.Array:
        """Every trace's content hash, in window order (a whole window of strings: for small ones)."""
        return pa.concat_arrays(
            [batch.column("content_hash") for batch in _hashed_batches(self.traces, ["id"])]
        ) if self.rows else pa.array([], pa.string())



def provenance(trace: dict) -> dict:
    """The columns every score row starts with, from a trace of `ScoringPlan.fresh_traces`."""
    return {
        "trace_id": trace["id"],
        "timestamp": trace["timestamp"],
        "date": trace["timestamp"].astimezone(timezone.utc).date(),
        "content_hash": trace["content_hash"],
    }


def plan_scoring(
    consented_traces: RowWindow | pa.Table, stored_scores: RowWindow | pa.Table | None, identity: dict[str, str]
) -> ScoringPlan:
    """The plan of a window: every trace's content hashed a batch at a time and compared with the
    stored rows of `identity`; a trace is scored again unless a row of its id and content hash,
    scored by `identity` without error, is stored."""
    traces = TableWindow(consented_traces) if isinstance(consented_traces, pa.Table) else consented_traces
    stored = TableWindow(stored_scores) if isinstance(stored_scores, pa.Table) else stored_scores
    ids, keys = [], []
    for batch in _hashed_batches(traces, ["id"]):
        trace_ids = batch.column("id").to_pylist()
        ids.append(fingerprints(trace_ids))
        keys.append(score_keys(trace_ids, batch.column("content_hash").to_pylist()))
    ids_array = np.concatenate(ids) if ids else np.array([], dtype=KEY_DTYPE)
    keys_array = np.concatenate(keys) if keys else np.array([], dtype=KEY_DTYPE)
    del ids, keys
    stored_keys, stored_ids = _stored_keys(stored, identity)
    is_fresh = ~members(stored_keys, keys_array)
    fresh_ids = np.unique(ids_array[is_fresh])
    # a trace id scored anew keeps no stored row, even for another trace of the same id
    kept = ~members(fresh_ids, ids_array)
    return ScoringPlan(
        traces=traces,
        rows=len(ids_array),
        fresh=int(np.count_nonzero(~kept)),
        fresh_ids=fresh_ids,
        stored=stored,
        reused_keys=np.unique(keys_array[kept]),
        stored_ids=stored_ids,
        identity=identity,
    )


def _stored_keys(stored: RowWindow | None, identity: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, unique keys of the stored rows scored by `identity` without error, and sorted,
    unique fingerprints of every stored row's trace id."""
    empty = np.array([], dtype=KEY_DTYPE)
    if stored is None:
        return empty, empty
    columns = [*STORED_KEY_COLUMNS, *(c for c in identity if c in stored.column_names)]
    keys, ids = [], []
    for batch in stored.batches(columns, rows_per_batch=STORED_ROWS_AT_ONCE):
        ids.append(np.unique(fingerprints(batch.column("trace_id").to_pylist())))
        batch = batch.filter(reusable(batch, identity))
        keys.append(score_keys(batch.column("trace_id").to_pylist(), batch.column("content_hash").to_pylist()))
    return (np.unique(np.concatenate(keys)) if keys else empty), (np.unique(np.concatenate(ids)) if ids else empty)


def _hashed_batches(traces: RowWindow, columns: list[str], keep=None) -> Iterator[pa.RecordBatch]:
    """Batches of `columns` of the traces (those `keep(batch)` selects) with their `content_hash`
    (input, output, contexts and the redaction rules their text went through; null redaction for
    traces landed before it)."""
    has_redaction = "redaction" in traces.column_names
    read = list(dict.fromkeys([*columns, *(c for c in HASHED_COLUMNS if c != "redaction" or has_redaction)]))
    for batch in traces.batches(read, rows_per_batch=HASHED_ROWS_AT_ONCE):
        if keep is not None:
            batch = batch.filter(keep(batch))
            if batch.num_rows == 0:
                continue
        redaction = batch.column("redaction").to_pylist() if has_redaction else [None] * batch.num_rows
        hashes = [
            content_hash(question, answer, contexts, rules)
            for question, answer, contexts, rules in zip(
                batch.column("input").to_pylist(), batch.column("output").to_pylist(), batch.column("contexts").to_pylist(),
                redaction,
            )
        ]
        yield pa.RecordBatch.from_arrays(
            [*(batch.column(name) for name in columns), pa.array(hashes, pa.string())], names=[*columns, "content_hash"]
        )


def _traces_with_hashes(batches: list[pa.RecordBatch]) -> list[dict]:
    return pa.Table.from_batches(batches).to_pylist()
