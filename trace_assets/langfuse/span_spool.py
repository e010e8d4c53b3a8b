"""Grouping a window's spans by trace in bounded memory, however large the day.

Langfuse hands out spans in time order (the API, newest first) or in export files by when they
were written, so a trace's spans straddle pages and files. Readers append spans to a spool of
Parquet files on local disk as they arrive; DuckDB then sorts the spool by trace id and the
sorted stream is cut into traces. DuckDB cannot sort rows this wide (answers, documents, chat
messages) beyond its `memory_limit` (it fails with "failed to pin block" rather than spill): a
spool larger than an eighth of the limit is first split by a hash of the trace id into buckets
that each fit, and each bucket is sorted on its own (all spans of a trace are in one bucket).
Of a span served twice (an updated span before ClickHouse merges, or a row on an export window
boundary), the latest `updated_at` is kept.
"""

import math
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trace_assets.langfuse.spans import SPAN_SCHEMA, TRACE_KIND


class SpanSpool:
    """A context manager: `add` batches of SPAN_SCHEMA, then iterate `traces()`."""

    def __init__(self, memory_limit: str = "256MB", rows_per_file: int = 200_000, directory: str | None = None):
        self.memory_limit = memory_limit
        self.rows_per_file = rows_per_file
        self._directory = Path(tempfile.mkdtemp(prefix="trace-assets-spans-", dir=directory))
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0
        self._files = 0
        self.spans = 0
        self.bytes = 0  # Arrow bytes added

    def __enter__(self) -> "SpanSpool":
        return self

    def __exit__(self, *exc) -> None:
        self._close_writer()
        shutil.rmtree(self._directory, ignore_errors=True)

    def add(self, spans: pa.RecordBatch | pa.Table) -> None:
        if spans.num_rows == 0:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._directory / f"spans-{self._files}.parquet", SPAN_SCHEMA)
            self._files += 1
        table = spans if isinstance(spans, pa.Table) else pa.Table.from_batches([spans])
        self._writer.write_table(table.cast(SPAN_SCHEMA))
        self._file_rows += spans.num_rows
        self.spans += spans.num_rows
        self.bytes += spans.nbytes
        if self._file_rows >= self.rows_per_file:
            self._close_writer()

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._file_rows = 0

    def traces(self, batch_rows: int = 10_000) -> Iterator[tuple[str, list[dict]]]:
        """(trace id, its spans, each span once) for every trace in the spool: by trace id, or by
        trace id within each bucket when the spool was split (see the module docstring)."""
        self._close_writer()
        if self._files == 0:
            return
        buckets = math.ceil(self.bytes / (_bytes_of(self.memory_limit) / 8))
        if buckets <= 1:
            yield from self._sorted_traces(str(self._directory / "spans-*.parquet"), batch_rows)
            return
        for bucket in self._split(buckets):
            yield from self._sorted_traces(bucket, batch_rows)

    def _split(self, buckets: int) -> list[str]:
        """The spool rewritten as `buckets` files by a hash of the trace id, each bucket's rows
        buffered up to an equal share of a quarter of the memory limit before they are written."""
        folder = self._directory / f"buckets-{buckets}"
        folder.mkdir()
        paths = [str(folder / f"bucket-{bucket}.parquet") for bucket in range(buckets)]
        writers = [pq.ParquetWriter(path, SPAN_SCHEMA) for path in paths]
        pending: list[list[pa.RecordBatch]] = [[] for _ in range(buckets)]
        pending_bytes = [0] * buckets
        flush_bytes = _bytes_of(self.memory_limit) / 4 / buckets
        try:
            for index in range(self._files):
                for batch in pq.ParquetFile(self._directory / f"spans-{index}.parquet").iter_batches(batch_size=5_000):
                    of_row = np.fromiter((hash(trace_id) % buckets for trace_id in batch.column("trace_id").to_pylist()), np.int64, batch.num_rows)
                    order = np.argsort(of_row, kind="stable")
                    bounds = np.searchsorted(of_row[order], np.arange(buckets + 1))
                    for bucket in np.flatnonzero(np.diff(bounds)):
                        part = batch.take(pa.array(order[bounds[bucket] : bounds[bucket + 1]]))
                        pending[bucket].append(part)
                        pending_bytes[bucket] += part.nbytes
                        if pending_bytes[bucket] >= flush_bytes:
                            writers[bucket].write_table(pa.Table.from_batches(pending[bucket]))
                            pending[bucket], pending_bytes[bucket] = [], 0
            for bucket, batches in enumerate(pending):
                if batches:
                    writers[bucket].write_table(pa.Table.from_batches(batches))
        finally:
            for writer in writers:
                writer.close()
        for index in range(self._files):
            (self._directory / f"spans-{index}.parquet").unlink()
        return paths

    def _sorted_traces(self, files: str, batch_rows: int) -> Iterator[tuple[str, list[dict]]]:
        connection = duckdb.connect(config={"memory_limit": self.memory_limit, "threads": 1})
        try:
            connection.execute("SET temp_directory = $1", [str(self._directory / "duckdb-spill")])
            connection.execute("SET preserve_insertion_order = false")
            reader = connection.sql(
                "SELECT * FROM read_parquet($1) "
                "ORDER BY trace_id, type = $2 DESC, id, updated_at DESC NULLS LAST",
                params=[files, TRACE_KIND],
            ).to_arrow_reader(batch_rows)
            current_id, current_spans, seen = None, [], set()
            for batch in reader:
                for span in batch.to_pylist():
                    if span["trace_id"] != current_id:
                        if current_id is not None:
                            yield current_id, current_spans
                        current_id, current_spans, seen = span["trace_id"], [], set()
                    key = (span["type"] == TRACE_KIND, span["id"])
                    if key in seen:
                        continue
                    seen.add(key)
                    current_spans.append(span)
            if current_id is not None:
                yield current_id, current_spans
        finally:
            connection.close()


_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}


def _bytes_of(limit: str) -> float:
    """DuckDB's memory-limit text ("256MB", "1GiB", "512 MB") in bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]I?)?B?\s*", limit.upper())
    if not match:
        raise ValueError(f"spool memory limit {limit!r} is not a size such as 256MB or 1GB")
    return float(match.group(1)) * _UNITS[match.group(2) or ""]
