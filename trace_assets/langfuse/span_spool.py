"""Grouping a window's spans by trace in bounded memory, however large the day.

Langfuse hands out spans in time order (the API, newest first) or in export files by when they
were written, so a trace's spans straddle pages and files. Readers append spans to a spool of
Parquet files on local disk as they arrive; DuckDB then sorts the spool by trace id, spilling to
disk beyond `memory_limit`, and the sorted stream is cut into traces. Of a span served twice
(an updated span before ClickHouse merges, or a row on an export window boundary), the latest
`updated_at` is kept.
"""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
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
        if self._file_rows >= self.rows_per_file:
            self._close_writer()

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._file_rows = 0

    def traces(self, batch_rows: int = 10_000) -> Iterator[tuple[str, list[dict]]]:
        """(trace id, its spans, each span once) for every trace in the spool, by trace id."""
        self._close_writer()
        if self._files == 0:
            return
        connection = duckdb.connect(config={"memory_limit": self.memory_limit, "threads": 1})
        try:
            connection.execute("SET temp_directory = $1", [str(self._directory / "duckdb-spill")])
            connection.execute("SET preserve_insertion_order = false")
            reader = connection.sql(
                "SELECT * FROM read_parquet($1) "
                "ORDER BY trace_id, type = $2 DESC, id, updated_at DESC NULLS LAST",
                params=[str(self._directory / "spans-*.parquet"), TRACE_KIND],
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
