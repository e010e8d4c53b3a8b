"""A partition window of an Iceberg table, read in record batches: a step asks for the columns it
needs when it needs them, and never holds more than a batch of them.

pyiceberg's own `to_arrow_batch_reader` materialises each data file whole (in threads, several
files ahead) and pyarrow's scanner yields batches of 131,072 rows; at ~3 KB of text a trace,
either is hundreds of MB. Here each data file is read a row group's pages at a time, in batches
of `rows_per_batch`."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.expressions import And, BooleanExpression, EqualTo, GreaterThanOrEqual, In, LessThan
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.table import Table

from trace_assets.resources.iceberg_warehouse import conform

ROWS_PER_BATCH = 2_000  # ~7 MB of traces at ~3 KB each (measured: 10,000-row batches cost ~170 MB more)
READ_BUFFER_BYTES = 1024 * 1024  # per column read: a score table reads ~20 at once


class RowWindow(Protocol):
    """Rows of a window, read a batch at a time (an Iceberg table's window or a table in memory)."""

    @property
    def column_names(self) -> list[str]: ...

    def batches(self, columns: Sequence[str], rows_per_batch: int = ROWS_PER_BATCH) -> Iterator[pa.RecordBatch]: ...

    def rows_with(self, key: str, values: list[str], columns: Sequence[str]) -> pa.Table: ...

    def between(self, start: datetime, end: datetime) -> "RowWindow": ...

    def rows_at_most(self) -> int: ...


@dataclass(frozen=True)
class TableWindow:
    """A window already in memory (a pa.Table), behind the same interface."""

    table: pa.Table
    column: str = "timestamp"

    @property
    def column_names(self) -> list[str]:
        return self.table.column_names

    def batches(self, columns: Sequence[str], rows_per_batch: int = ROWS_PER_BATCH) -> Iterator[pa.RecordBatch]:
        yield from self.table.select(list(columns)).to_batches(max_chunksize=rows_per_batch)

    def rows_with(self, key: str, values: list[str], columns: Sequence[str]) -> pa.Table:
        return self.table.filter(pc.is_in(self.table.column(key), pa.array(values, pa.string()))).select(list(columns))

    def rows_at_most(self) -> int:
        return self.table.num_rows

    def between(self, start: datetime, end: datetime) -> "TableWindow":
        when = self.table.column(self.column)
        inside = pc.and_(pc.greater_equal(when, pa.scalar(start, when.type)), pc.less(when, pa.scalar(end, when.type)))
        return TableWindow(self.table.filter(inside), self.column)


@dataclass(frozen=True)
class TraceWindow:
    """The rows of Iceberg table `table` with start <= `column` < end, at snapshot `snapshot_id`
    (fixed when the window was handed over, so every read sees the same rows); in a table with a
    `consent` column only rows with consent."""

    table: Table
    column: str
    start: datetime
    end: datetime
    snapshot_id: int | None

    @classmethod
    def of(cls, table: Table, column: str, start: datetime, end: datetime) -> "TraceWindow":
        snapshot = table.current_snapshot()
        return cls(table, column, start, end, snapshot.snapshot_id if snapshot is not None else None)

    @property
    def column_names(self) -> list[str]:
        return [field.name for field in self.table.schema().fields]

    @property
    def _consent_gated(self) -> bool:
        return "consent" in self.column_names

    def _row_filter(self) -> BooleanExpression:
        window = And(GreaterThanOrEqual(self.column, self.start.isoformat()), LessThan(self.column, self.end.isoformat()))
        return And(window, EqualTo("consent", True)) if self._consent_gated else window

    def between(self, start: datetime, end: datetime) -> "TraceWindow":
        """The part of the window with start <= `column` < end (e.g. one day of a backfill range)."""
        return TraceWindow(self.table, self.column, max(start, self.start), min(end, self.end), self.snapshot_id)

    def rows_at_most(self) -> int:
        """The rows of the data files the window reads (from the table's metadata, reading none)."""
        if self.snapshot_id is None:
            return 0
        scan = self.table.scan(row_filter=self._row_filter(), snapshot_id=self.snapshot_id)
        return sum(task.file.record_count for task in scan.plan_files())

    def batches(self, columns: Sequence[str], rows_per_batch: int = ROWS_PER_BATCH) -> Iterator[pa.RecordBatch]:
        """The window's rows, `columns` only, `rows_per_batch` at most at a time."""
        yield from self._scan(self._row_filter(), columns, rows_per_batch)

    def rows_with(self, key: str, values: list[str], columns: Sequence[str]) -> pa.Table:
        """The window's rows whose `key` is one of `values` (a few: e.g. the day's best examples)."""
        wanted = pa.array(values, pa.string())
        schema = schema_to_pyarrow(self.table.schema().select(*columns), include_field_ids=False)
        if not values:
            return schema.empty_table()
        batches = [
            batch.filter(pc.is_in(batch.column(key), wanted))
            for batch in self._scan(And(self._row_filter(), In(key, values)), list(dict.fromkeys([*columns, key])), ROWS_PER_BATCH)
        ]
        return pa.Table.from_batches(batches).select(list(columns)) if batches else schema.empty_table()

    def _scan(self, row_filter: BooleanExpression, columns: Sequence[str], rows_per_batch: int) -> Iterator[pa.RecordBatch]:
        if self.snapshot_id is None:
            return
        filter_columns = [self.column, *(["consent"] if self._consent_gated else [])]
        read = list(dict.fromkeys([*columns, *filter_columns]))
        scan = self.table.scan(row_filter=row_filter, selected_fields=tuple(read), snapshot_id=self.snapshot_id)
        projection = scan.projection()
        target = schema_to_pyarrow(projection, include_field_ids=False)
        for task in scan.plan_files():
            if task.delete_files:
                # Merge-on-read deletes (another engine wrote them): pyiceberg applies them, one file at a time.
                arrow_scan = ArrowScan(self.table.metadata, self.table.io, projection, scan.row_filter)
                file_batches = (b for batch in arrow_scan.to_record_batches([task]) for b in batch.to_batches(rows_per_batch))
            else:
                file_batches = _file_batches(self.table, task.file.file_path, read, rows_per_batch)
            for batch in file_batches:
                batch = conform(pa.Table.from_batches([batch]), target)
                kept = batch.filter(self._in_window(batch)).select(list(columns))
                yield from kept.to_batches(max_chunksize=rows_per_batch)

    def _in_window(self, batch: pa.Table) -> pa.ChunkedArray:
        when = batch.column(self.column)
        mask = pc.and_(
            pc.greater_equal(when, pa.scalar(self.start, when.type)), pc.less(when, pa.scalar(self.end, when.type))
        )
        return pc.and_(mask, pc.equal(batch.column("consent"), True)) if self._consent_gated else mask


def _file_batches(table: Table, path: str, columns: list[str], rows_per_batch: int) -> Iterator[pa.RecordBatch]:
    """One Parquet data file's `columns` in batches, its pages read as they are needed; columns
    the file predates (added to the table later) come back as nulls."""
    with table.io.new_input(path).open() as stream:
        parquet = pq.ParquetFile(stream, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)
        present = [name for name in columns if name in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=rows_per_batch, columns=present, use_threads=False):
            if len(present) < len(columns):
                arrays = {name: batch.column(name) for name in present}
                batch = pa.RecordBatch.from_pydict(
                    {name: arrays.get(name, pa.nulls(batch.num_rows)) for name in columns}
                )
            yield batch
