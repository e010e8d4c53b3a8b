"""Replacing one day of the hive-partitioned Parquet lake.

Layout: `{root}/date=YYYY-MM-DD/model=<model>/consent=<bool>/part-N.parquet` (snappy). Partition
values are URI-escaped (`Qwen/Qwen3-4B` -> `model=Qwen%2FQwen3-4B`), as pyarrow, DuckDB, Spark and
Athena expect, and a null model is Hive's `__HIVE_DEFAULT_PARTITION__`.

Rows are written as they arrive, one open file per model/consent folder, a row group at a time.
A day is written to `{root}/_staging/date=.../<token>/` first (readers skip `_` folders), then
committed: the old day is deleted and the staged files moved in. A crash while writing leaves the
old day untouched; a crash while committing leaves part of the new day and no duplicate rows;
either way the next run of that day starts by clearing the staging folder and rewrites the day.
"""

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trace_assets.tables.traces import LAKE_PARTITION_SCHEMA, LANDED_TRACE_SCHEMA

LAKE_PARTITIONING = ds.partitioning(LAKE_PARTITION_SCHEMA, flavor="hive")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class HiveTable:
    """A table of the lake: its rows' schema and the columns below `date=` that cut it into
    folders (stored in the path, not in the files)."""

    schema: pa.Schema
    partition_columns: tuple[str, ...] = ()

    @property
    def file_schema(self) -> pa.Schema:
        return pa.schema([f for f in self.schema if f.name not in self.partition_columns])


LANDED_TRACES = HiveTable(LANDED_TRACE_SCHEMA, tuple(LAKE_PARTITION_SCHEMA.names))


@dataclass(frozen=True)
class FileLayout:
    """How a day is cut into files and row groups. A row group is written once a partition has
    `rows_per_group` rows or `bytes_per_group` bytes pending, so memory is bounded by the number
    of partitions times `bytes_per_group`, whatever the size of the day."""

    max_rows_per_file: int = 1_000_000
    rows_per_group: int = 128 * 1024
    bytes_per_group: int = 8 << 20  # 4 open folders x 8 MB: a landing step stays under 512 MB (BENCHMARKS.md)


@dataclass
class DayFiles:
    """The files a day was written as (paths relative to the day folder)."""

    day: date
    paths: list[str] = field(default_factory=list)
    bytes: int = 0
    rows: int = 0
    rows_by_partition: dict[tuple, int] = field(default_factory=dict)  # partition values -> rows written


def day_dir(root: str, day: date) -> str:
    return f"{root}/date={day.isoformat()}"


def partition_dir(columns: tuple[str, ...], values: tuple) -> str:
    """e.g. `model=Qwen%2FQwen3-4B/consent=true`: values escaped the way pyarrow and DuckDB decode
    them, a null as Hive's default partition."""
    return "/".join(f"{column}={_path_value(value)}" for column, value in zip(columns, values))


def _path_value(value) -> str:
    if value is None:
        return HIVE_NULL
    if isinstance(value, bool):
        return str(value).lower()
    return quote(str(value), safe="")


def replace_day(
    fs: pafs.FileSystem,
    root: str,
    day: date,
    batches: Iterable[pa.RecordBatch],
    table: HiveTable = LANDED_TRACES,
    layout: FileLayout = FileLayout(),
) -> DayFiles:
    """Write `batches` (rows of `table.schema`) as the whole of `day`, replacing what was there."""
    staging_root = f"{root}/_staging/date={day.isoformat()}"
    _delete_dir(fs, staging_root)
    staging = f"{staging_root}/{uuid.uuid4().hex}"
    partitions: dict[tuple, _PartitionFiles] = {}
    try:
        for batch in batches:
            for key, rows in _split_by_partition(batch, table.partition_columns):
                if key not in partitions:
                    folder = partition_dir(table.partition_columns, key)
                    partitions[key] = _PartitionFiles(fs, staging, folder, table.file_schema, layout)
                partitions[key].add(rows)
    finally:
        for files in partitions.values():
            files.close()
    written = DayFiles(day)
    for key, files in partitions.items():
        written.paths.extend(files.paths)
        written.bytes += files.bytes
        written.rows += files.rows
        written.rows_by_partition[key] = files.rows

    target = day_dir(root, day)
    _delete_dir(fs, target)
    for relative in written.paths:
        destination = f"{target}/{relative}"
        fs.create_dir(destination.rsplit("/", 1)[0], recursive=True)
        fs.move(f"{staging}/{relative}", destination)
    _delete_dir(fs, staging_root)
    written.paths.sort()
    return written


class _PartitionFiles:
    """The part-N.parquet files of one model/consent folder, written as rows arrive."""

    def __init__(self, fs: pafs.FileSystem, staging: str, folder: str, schema: pa.Schema, layout: FileLayout):
        self.fs, self.staging, self.folder, self.schema, self.layout = fs, staging, folder, schema, layout
        self.pending: list[pa.Table] = []
        self.pending_rows = self.pending_bytes = 0
        self.paths: list[str] = []
        self.rows = self.bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0

    def add(self, rows: pa.Table) -> None:
        self.pending.append(rows)
        self.pending_rows += rows.num_rows
        self.pending_bytes += rows.nbytes
        if self.pending_rows >= self.layout.rows_per_group or self.pending_bytes >= self.layout.bytes_per_group:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._close_file()

    def _flush(self) -> None:
        if not self.pending_rows:
            return
        group = pa.concat_tables(self.pending)
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
        while group.num_rows:
            if self._writer is None or self._file_rows >= self.layout.max_rows_per_file:
                self._open_file()
            take = min(group.num_rows, self.layout.max_rows_per_file - self._file_rows)
            self._writer.write_table(group.slice(0, take), row_group_size=take)
            self._file_rows += take
            self.rows += take
            group = group.slice(take)

    def _open_file(self) -> None:
        self._close_file()
        folder = f"{self.folder}/" if self.folder else ""
        relative = f"{folder}part-{len(self.paths)}.parquet"
        self.fs.create_dir(f"{self.staging}/{self.folder}".rstrip("/"), recursive=True)
        self._writer = pq.ParquetWriter(
            f"{self.staging}/{relative}", self.schema, filesystem=self.fs, compression="snappy"
        )
        self.paths.append(relative)
        self._file_rows = 0

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self.bytes += self.fs.get_file_info(f"{self.staging}/{self.paths[-1]}").size


def _split_by_partition(batch: pa.RecordBatch, columns: tuple[str, ...]):
    """Each partition's values and its rows, without the partition columns."""
    if batch.num_rows == 0:
        return
    table = pa.Table.from_batches([batch])
    if not columns:
        yield (), table
        return
    keys = table.group_by(list(columns)).aggregate([]).to_pylist()
    if len(keys) == 1:  # one model and consent in the batch (a team serving one model): no filter
        yield tuple(keys[0][column] for column in columns), table.drop_columns(list(columns))
        return
    for key in keys:
        mask = None
        for column in columns:
            value = key[column]
            same = pc.is_null(table[column]) if value is None else pc.fill_null(pc.equal(table[column], value), False)
            mask = same if mask is None else pc.and_(mask, same)
        yield tuple(key[column] for column in columns), table.filter(mask).drop_columns(list(columns))


def read_day(fs: pafs.FileSystem, root: str, day: date, table: HiveTable = LANDED_TRACES) -> ds.Dataset:
    """The rows of `day`, partition columns read back from the path (empty when the day was
    never written). Scan it with `columns=table.schema.names` for the table's column order."""
    path = day_dir(root, day)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return ds.dataset(table.schema.empty_table())
    partitioning = ds.partitioning(
        pa.schema([table.schema.field(column) for column in table.partition_columns]), flavor="hive"
    )
    # The table's schema, not the files': a day landed before a column was added reads it as null.
    return ds.dataset(path, schema=table.schema, format="parquet", filesystem=fs, partitioning=partitioning)


def scan_batches(dataset: ds.Dataset, columns: list[str], rows_per_batch: int = 2048) -> Iterator[pa.RecordBatch]:
    """`columns` of a day (from `read_day`), `rows_per_batch` rows at a time, read file by file
    as they are consumed, on this thread. (pyarrow's dataset scanner reads ahead on its own
    threads while the consumer is slow, whatever its readahead settings, and decoding columns on
    several threads keeps an allocator heap per thread: measured, hundreds of MB of a day's text.
    And without pre-buffering: pyarrow's pre-buffer cache keeps what it read of a file until the
    file is closed: reading a one-million-row file grew by ~32 MB every 160,000 rows of text, as in
    apache/arrow#39808.)"""
    if not isinstance(dataset, ds.FileSystemDataset):  # a day never written
        yield from dataset.to_batches(columns=columns)
        return
    schema = pa.schema([dataset.schema.field(name) for name in columns])
    for fragment in dataset.get_fragments():
        in_path = ds.get_partition_keys(fragment.partition_expression)
        with fragment.filesystem.open_input_file(fragment.path) as handle:
            parquet = pq.ParquetFile(handle, pre_buffer=False)
            in_file = [name for name in columns if name in parquet.schema_arrow.names and name not in in_path]
            for batch in parquet.iter_batches(batch_size=rows_per_batch, columns=in_file, use_threads=False):
                yield pa.RecordBatch.from_arrays(
                    [
                        pa.repeat(pa.scalar(in_path[field.name], field.type), batch.num_rows) if field.name in in_path
                        # a file landed before a column was added reads it as null
                        else batch.column(field.name).cast(field.type) if field.name in in_file
                        else pa.nulls(batch.num_rows, field.type)
                        for field in schema
                    ],
                    schema=schema,
                )


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)
