"""Grouping a window's spans by trace in bounded memory, however large the day.

Langfuse hands out spans in time order (the API, newest first) or in export files by when they
were written, so a trace's spans straddle pages and files. Readers append spans to a spool on
local disk as they arrive, split there and then by a hash of the trace id into bucket files
(Arrow IPC streams: appending costs no memory beyond a fixed write buffer shared by all
buckets), so all spans of a trace are in one bucket. Each bucket is then read whole, sorted
with Arrow and cut into traces. A bucket larger than its share of the memory limit is split
again, as it is read back, before it is sorted: in a day of more than 64 shares every bucket
is (two rounds keep the appends few and large), and so is any bucket of a day larger than the
reader expected. Of a span served twice (an updated span before ClickHouse merges, or a row on
an export window boundary), the latest `updated_at` is kept.
"""

import math
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.langfuse.spans import SPAN_SCHEMA, TRACE_KIND

# The sort that decides which of a span's copies is kept (the first) and the order a trace's
# spans are handed on in: trace, its v3 TRACE record first, span id, the latest version first.
_IS_TRACE = "__is_trace"
_ORDER = [(name, order, "at_end") for name, order in
          (("trace_id", "ascending"), (_IS_TRACE, "descending"), ("id", "ascending"), ("updated_at", "descending"))]
# A bucket is at most this fraction of the memory limit (measured: 1/8 peaked ~110 MB higher
# landing a day of 30,000 traces, bench/langfuse_sources.py's shape).
BUCKET_SHARE = 16
# Buckets when the reader cannot tell how large the window is (it is split again if needed).
_DEFAULT_BUCKETS = 8
_MAX_BUCKETS = 4096
# Buckets of the first split, at most: each flush of the shared write buffer appends to every
# bucket, so appends grow with buckets x flushes, the square of the day. A larger day is split
# in two rounds (each first-round bucket split again as it is read back): measured at 1,000,000
# traces, 513 buckets in one round took ~200,000 appends of ~30 KB; 64 then ~9 each take
# ~30,000 of ~250 KB and ~4,000 of ~2 MB, the day written twice.
_FIRST_ROUND_BUCKETS = 64
# A bucket split again is split into buckets of about this fraction of the share (hashes do not
# split evenly; one over its share would be split a third time).
_SPLIT_FILL = 0.8
# Rows read back from a bucket are split again in pieces of about this many bytes.
_RESPLIT_PIECE_BYTES = 8 << 20


class SpanSpool:
    """A context manager: optionally `expect` the window's size, `add` batches of SPAN_SCHEMA,
    then iterate `traces()` (or `trace_tables()`).

    `memory_limit` bounds what grouping holds at once: a bucket is at most a sixteenth of it (its
    sorted copy and what assembly makes of it come on top), and the write buffers of all buckets
    together another sixteenth."""

    def __init__(self, memory_limit: str = "256MB", directory: str | None = None):
        self.memory_limit = memory_limit
        self._bucket_bytes = _bytes_of(memory_limit) / BUCKET_SHARE
        self._directory = Path(tempfile.mkdtemp(prefix="trace-assets-spans-", dir=directory))
        self._buckets: _Buckets | None = None
        self._expected_bytes = 0.0
        self.spans = 0
        self.bytes = 0  # Arrow bytes added
        self.largest_bucket_bytes = 0  # the largest bucket sorted at once

    def __enter__(self) -> "SpanSpool":
        return self

    def __exit__(self, *exc) -> None:
        if self._buckets is not None:
            self._buckets.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def expect(self, arrow_bytes: float) -> None:
        """The window's spans will be about `arrow_bytes` as Arrow: enough buckets that each fits,
        in two rounds beyond 64 (called before the first `add`; later calls are ignored)."""
        if self._buckets is None:
            self._expected_bytes = arrow_bytes

    def add(self, spans: pa.RecordBatch | pa.Table) -> None:
        if spans.num_rows == 0:
            return
        if self._buckets is None:
            count = max(_DEFAULT_BUCKETS, math.ceil(self._expected_bytes / self._bucket_bytes))
            self._buckets = _Buckets(self._directory / "spool", min(count, _FIRST_ROUND_BUCKETS), self._bucket_bytes, seed=0)
        table = spans if isinstance(spans, pa.Table) else pa.Table.from_batches([spans])
        table = table.cast(SPAN_SCHEMA)
        self._buckets.append(table)
        self.spans += table.num_rows
        self.bytes += table.nbytes

    def trace_tables(self) -> Iterator[pa.Table]:
        """Tables of whole traces: each trace's spans in one table, each span once, sorted by
        trace id, then (the v3 TRACE record first) span id. Traces of different tables are in no
        particular order."""
        if self._buckets is None:
            return
        self._buckets.close()
        for table in _sorted_buckets(self._buckets, self._bucket_bytes, depth=1):
            self.largest_bucket_bytes = max(self.largest_bucket_bytes, table.nbytes)
            yield table

    def traces(self, rows_per_slice: int = 5_000) -> Iterator[tuple[str | None, list[dict]]]:
        """(trace id, its spans as dicts, each span once) for every trace in the spool; spans
        without a trace id come last in one group with id None."""
        for table in self.trace_tables():
            yield from traces_of(table, rows_per_slice)


class _Buckets:
    """Files `bucket-<n>.arrows` under `folder`, one per hash of the trace id. Rows wait in
    memory until the buffers of all buckets together reach `buffer_bytes` (a fixed total,
    however many buckets), then each bucket's rows are appended to its file as one Arrow IPC
    stream: no file stays open, however many buckets a large day needs."""

    def __init__(self, folder: Path, count: int, buffer_bytes: float, seed: int):
        folder.mkdir(parents=True)
        self.folder, self.count, self.seed = folder, count, seed
        self.paths = [folder / f"bucket-{bucket}.arrows" for bucket in range(count)]
        self.bytes = [0] * count
        self._pending: list[list[pa.Table]] = [[] for _ in range(count)]
        self._pending_bytes = 0
        self._buffer_bytes = buffer_bytes

    def append(self, table: pa.Table) -> None:
        of_row = bucket_of(table.column("trace_id"), self.count, self.seed)
        order = np.argsort(of_row, kind="stable")
        bounds = np.searchsorted(of_row[order], np.arange(self.count + 1))
        # One take puts the rows in bucket order; each bucket's rows are then a slice of it.
        table = table.take(pa.array(order))
        before = np.concatenate([[0], np.cumsum(_row_bytes(table))])
        for bucket in np.flatnonzero(np.diff(bounds)):
            part = table.slice(bounds[bucket], bounds[bucket + 1] - bounds[bucket])
            part_bytes = int(before[bounds[bucket + 1]] - before[bounds[bucket]])
            self._pending[bucket].append(part)
            self._pending_bytes += part_bytes
            self.bytes[bucket] += part_bytes
        if self._pending_bytes >= self._buffer_bytes:
            self.flush()

    def flush(self) -> None:
        for bucket, parts in enumerate(self._pending):
            if not parts:
                continue
            with open(self.paths[bucket], "ab") as file, pa.ipc.new_stream(file, SPAN_SCHEMA) as stream:
                stream.write_table(pa.concat_tables(parts).combine_chunks())
            self._pending[bucket] = []
        self._pending_bytes = 0

    def close(self) -> None:
        self.flush()


def _row_bytes(table: pa.Table) -> np.ndarray:
    """Each row's Arrow bytes, about: its large texts' lengths, and the rest of the table's bytes
    shared evenly (the nbytes of each bucket's slice cost ~0.1 ms a slice: 8 ms a batch in 64 buckets)."""
    sizes = np.zeros(table.num_rows)
    for name in _LARGE_TEXTS:
        start = 0
        # Chunk by chunk: combine_chunks would copy the texts, even of a single chunk.
        for texts in table.column(name).chunks:
            offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
            sizes[start : start + len(texts)] += np.diff(offsets)
            start += len(texts)
    if table.num_rows:
        sizes += max(table.nbytes - sizes.sum(), 0) / table.num_rows
    return sizes


_LARGE_TEXTS = [field.name for field in SPAN_SCHEMA if field.type == pa.large_string()]


def _sorted_buckets(buckets: _Buckets, bucket_bytes: float, depth: int) -> Iterator[pa.Table]:
    for bucket in range(buckets.count):
        if buckets.bytes[bucket]:
            yield from _sorted_bucket(buckets.paths[bucket], buckets.bytes[bucket], bucket_bytes, depth)


def _sorted_bucket(path: Path, arrow_bytes: int, bucket_bytes: float, depth: int = 1) -> Iterator[pa.Table]:
    """The traces of one bucket file as sorted_unique tables; the file is removed. A bucket of
    more than `bucket_bytes` is split again, with another hash, before sorting."""
    if arrow_bytes > bucket_bytes and depth < 4:
        count = min(math.ceil(arrow_bytes / (bucket_bytes * _SPLIT_FILL)), _MAX_BUCKETS)
        smaller = _Buckets(path.with_suffix(""), count, bucket_bytes, seed=depth)
        piece, piece_bytes = [], 0
        for batch in _read_streams(path):
            piece.append(batch)
            piece_bytes += batch.nbytes
            if piece_bytes >= _RESPLIT_PIECE_BYTES:
                smaller.append(pa.Table.from_batches(piece))
                piece, piece_bytes = [], 0
        if piece:
            smaller.append(pa.Table.from_batches(piece))
        smaller.close()
        path.unlink()
        yield from _sorted_buckets(smaller, bucket_bytes, depth + 1)
        return
    table = pa.Table.from_batches(list(_read_streams(path)), schema=SPAN_SCHEMA)
    path.unlink()
    yield _sorted_unique(table)


def _read_streams(path: Path) -> Iterator[pa.RecordBatch]:
    """A bucket file's rows: the Arrow IPC streams appended to it, one after the other."""
    if not path.exists():
        return
    size = path.stat().st_size
    with pa.OSFile(str(path)) as source:
        while source.tell() < size:
            yield from pa.ipc.open_stream(source)


def _sorted_unique(table: pa.Table) -> pa.Table:
    """The spans sorted as _ORDER says, of each (trace, TRACE record or not, span id) the first."""
    table = table.append_column(_IS_TRACE, pc.equal(table.column("type"), TRACE_KIND))
    table = table.take(pc.sort_indices(table, sort_keys=_ORDER))
    if table.num_rows > 1:
        same = None
        for name in ("trace_id", "id", _IS_TRACE):
            column = table.column(name).combine_chunks()
            before, after = column.slice(0, len(column) - 1), column.slice(1)
            equal = pc.fill_null(pc.equal(before, after), False)
            equal = pc.or_(equal, pc.and_(before.is_null(), after.is_null()))
            same = equal if same is None else pc.and_(same, equal)
        if pc.any(same).as_py():  # copies served twice: keep the first (a filter copies every column)
            table = table.filter(pa.concat_arrays([pa.array([True]), pc.invert(same)]))
    return table.drop_columns([_IS_TRACE])


def traces_of(table: pa.Table, rows_per_slice: int) -> Iterator[tuple[str | None, list[dict]]]:
    """A sorted table's traces as (trace id, spans as dicts), converted a slice at a time."""
    trace_ids = table.column("trace_id").combine_chunks()
    if len(trace_ids) == 0:
        return
    changes = pc.not_equal(trace_ids.slice(0, len(trace_ids) - 1), trace_ids.slice(1))
    changes = pc.or_(pc.fill_null(changes, False), pc.xor(trace_ids.slice(0, len(trace_ids) - 1).is_null(), trace_ids.slice(1).is_null()))
    starts = np.concatenate([[0], np.flatnonzero(changes.to_numpy(zero_copy_only=False)) + 1, [len(trace_ids)]])
    slice_start = 0
    while slice_start < len(starts) - 1:
        # Whole traces, about rows_per_slice spans (one trace may be more).
        slice_end = max(slice_start + 1, int(np.searchsorted(starts, starts[slice_start] + rows_per_slice, side="right")) - 1)
        slice_end = min(slice_end, len(starts) - 1)
        first, last = int(starts[slice_start]), int(starts[slice_end])
        spans = table.slice(first, last - first).to_pylist()
        for begin, end in zip(starts[slice_start:slice_end], starts[slice_start + 1 : slice_end + 1], strict=True):
            group = spans[begin - first : end - first]
            yield group[0]["trace_id"], group
        slice_start = slice_end


_MIX = np.uint64(0x9E3779B97F4A7C15)


def bucket_of(trace_ids: pa.ChunkedArray | pa.Array, buckets: int, seed: int = 0) -> np.ndarray:
    """A bucket in [0, buckets) for each trace id, by a hash of its UTF-8 bytes: the same in every
    process and run (Python's str hash is not). Null ids go to bucket 0."""
    ids = trace_ids.combine_chunks() if isinstance(trace_ids, pa.ChunkedArray) else trace_ids
    ids = ids.cast(pa.large_string())
    n = len(ids)
    if buckets <= 1 or n == 0:
        return np.zeros(n, dtype=np.int64)
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int64)[ids.offset : ids.offset + n + 1]
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8) if ids.buffers()[2] is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]].astype(np.uint64)
    lengths = np.diff(offsets)
    position = np.arange(len(data), dtype=np.int64) - np.repeat(offsets[:-1] - offsets[0], lengths)
    rng = np.random.default_rng(1_000_003 + seed)
    weights = rng.integers(1, 2**63, size=64, dtype=np.uint64) | np.uint64(1)
    contributions = data * weights[position % 64]
    hashes = np.zeros(n, dtype=np.uint64)
    nonempty = lengths > 0
    if nonempty.any():
        hashes[nonempty] = np.add.reduceat(contributions, (offsets[:-1] - offsets[0])[nonempty])
    hashes ^= hashes >> np.uint64(31)
    hashes *= _MIX
    hashes ^= hashes >> np.uint64(29)
    result = (hashes % np.uint64(buckets)).astype(np.int64)
    if ids.null_count:
        result[~ids.is_valid().to_numpy(zero_copy_only=False)] = 0
    return result


_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}


def _bytes_of(limit: str) -> float:
    """A memory-limit text ("256MB", "1GiB", "512 MB") in bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]I?)?B?\s*", limit.upper())
    if not match:
        raise ValueError(f"spool memory limit {limit!r} is not a size such as 256MB or 1GB")
    return float(match.group(1)) * _UNITS[match.group(2) or ""]
