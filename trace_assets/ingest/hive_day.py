"""Replacing one day of the hive-partitioned Parquet lake.

Layout: `{root}/date=YYYY-MM-DD/model=<model>/consent=<bool>/part-N.parquet` (snappy). Partition
values are URI-escaped (`Qwen/Qwen3-4B` -> `model=Qwen%2FQwen3-4B`), as pyarrow, DuckDB, Spark and
Athena expect, and a null model is Hive's `__HIVE_DEFAULT_PARTITION__`.

A day is written to `{root}/_staging/date=.../<token>/` first (readers skip `_` folders), then
committed: the old day is deleted and the staged files moved in. A crash while writing leaves the
old day untouched; a crash while committing leaves part of the new day and no duplicate rows;
either way the next run of that day starts by clearing the staging folder and rewrites the day.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from trace_assets.traces_schema import LAKE_PARTITION_SCHEMA, LANDED_TRACE_SCHEMA

LAKE_PARTITIONING = ds.partitioning(LAKE_PARTITION_SCHEMA, flavor="hive")


@dataclass(frozen=True)
class FileLayout:
    """How a day is cut into files and row groups."""

    max_rows_per_file: int = 1_000_000
    rows_per_group: int = 64 * 1024


@dataclass
class DayFiles:
    """The files a day was written as (paths relative to the day folder)."""

    day: date
    paths: list[str] = field(default_factory=list)
    bytes: int = 0
    rows: int = 0


def day_dir(root: str, day: date) -> str:
    return f"{root}/date={day.isoformat()}"


def replace_day(
    fs: pafs.FileSystem,
    root: str,
    day: date,
    landed_batches: Iterable[pa.RecordBatch],
    layout: FileLayout = FileLayout(),
) -> DayFiles:
    """Write `landed_batches` (LANDED_TRACE_SCHEMA) as the whole of `day`, replacing what was there."""
    staging_root = f"{root}/_staging/date={day.isoformat()}"
    _delete_dir(fs, staging_root)
    staging = f"{staging_root}/{uuid.uuid4().hex}"
    written = DayFiles(day)

    def visit(written_file) -> None:
        written.paths.append(written_file.path[len(staging) + 1 :])
        written.bytes += written_file.size
        written.rows += written_file.metadata.num_rows

    ds.write_dataset(
        pa.RecordBatchReader.from_batches(LANDED_TRACE_SCHEMA, iter(landed_batches)),
        staging,
        format="parquet",
        filesystem=fs,
        partitioning=LAKE_PARTITIONING,
        basename_template="part-{i}.parquet",
        file_options=ds.ParquetFileFormat().make_write_options(compression="snappy"),
        max_rows_per_file=layout.max_rows_per_file,
        min_rows_per_group=layout.rows_per_group,
        max_rows_per_group=layout.rows_per_group,
        existing_data_behavior="overwrite_or_ignore",
        file_visitor=visit,
    )

    target = day_dir(root, day)
    _delete_dir(fs, target)
    for relative in written.paths:
        destination = f"{target}/{relative}"
        fs.create_dir(destination.rsplit("/", 1)[0], recursive=True)
        fs.move(f"{staging}/{relative}", destination)
    _delete_dir(fs, staging_root)
    written.paths.sort()
    return written


def read_day(fs: pafs.FileSystem, root: str, day: date) -> ds.Dataset:
    """The landed rows of `day`, `model` and `consent` read back from the path (empty when the
    day was never landed). Scan it with `columns=LANDED_TRACE_SCHEMA.names` for the landed order."""
    path = day_dir(root, day)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return ds.dataset(LANDED_TRACE_SCHEMA.empty_table())
    return ds.dataset(path, format="parquet", filesystem=fs, partitioning=LAKE_PARTITIONING)


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)
