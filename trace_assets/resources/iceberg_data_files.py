"""Data files of one Iceberg append, written as the rows arrive: one open Parquet file per
partition, rolled over at a target size.

pyiceberg's own `Transaction.append` takes the whole of what it appends as one Arrow table (its
streaming form is for unpartitioned tables only, apache/iceberg-python#2152): a day of a million
traces would be several GB in memory, and cutting it into small appends makes small files. This is
the same write path pyiceberg's `write_file` takes (its partition split, its schema projection with
field ids, its Parquet format writer and statistics, `DataFile.from_args`), with the writers kept
open across chunks. It leans on two private pyiceberg functions (`_determine_partitions`,
`_to_requested_schema`): pyiceberg is pinned below 0.13 in pyproject.toml for that reason.
"""

import contextlib
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.io import FileIO, OutputFile
from pyiceberg.io.fileformat import FileFormatFactory, FileFormatWriter
from pyiceberg.io.pyarrow import _determine_partitions, _to_requested_schema, pyarrow_to_schema
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionKey
from pyiceberg.schema import sanitize_column_names
from pyiceberg.table import TableProperties
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.typedef import Record
from pyiceberg.utils.properties import property_as_int


@dataclass
class _OpenFile:
    path: str
    output: OutputFile
    writer: FileFormatWriter
    partition_key: PartitionKey | None
    arrow_bytes: int = 0


class PartitionedFileWriter:
    """Writes chunks of rows (Arrow tables in the table's schema) into data files, at most one open
    per partition; a file is closed once the table's `write.target-file-size-bytes` of Arrow data
    went into it (pyiceberg measures that property in Arrow bytes too). `write` and `close` return
    the DataFiles they closed, for the append to add."""

    def __init__(self, metadata: TableMetadata, io: FileIO, write_uuid: uuid.UUID):
        self.metadata, self.io, self.write_uuid = metadata, io, write_uuid
        self.target_bytes = property_as_int(
            metadata.properties, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT
        )
        self.format_model = FileFormatFactory.get(FileFormat.PARQUET)
        self.locations = load_location_provider(table_location=metadata.location, table_properties=metadata.properties)
        self.file_schema = sanitize_column_names(metadata.schema())
        self.file_numbers = itertools.count(0)
        self.open: dict[str, _OpenFile] = {}

    def write(self, chunk: pa.Table) -> list[DataFile]:
        chunk_schema = pyarrow_to_schema(
            chunk.schema, name_mapping=self.metadata.schema().name_mapping, format_version=self.metadata.format_version
        )
        closed = []
        for partition in self._partitions(chunk):
            key = partition.partition_key.to_path() if partition.partition_key is not None else ""
            if key not in self.open:
                self.open[key] = self._new_file(partition.partition_key)
            open_file = self.open[key]
            rows = partition.arrow_table_partition
            open_file.writer.write(
                pa.Table.from_batches(
                    [
                        _to_requested_schema(
                            requested_schema=self.file_schema, file_schema=chunk_schema, batch=batch,
                            include_field_ids=True, format_model=self.format_model,
                        )
                        for batch in rows.to_batches()
                    ]
                )
            )
            open_file.arrow_bytes += rows.nbytes
            if open_file.arrow_bytes >= self.target_bytes:
                closed.append(self._close(self.open.pop(key)))
        return closed

    def close(self) -> list[DataFile]:
        closed = [self._close(open_file) for open_file in self.open.values()]
        self.open.clear()
        return closed

    def abort(self) -> None:
        """Close the open files after a failure: they are never committed (orphans, which the
        snapshot-expiry job's orphan sweep removes)."""
        for open_file in self.open.values():
            with contextlib.suppress(Exception):
                open_file.writer.close()
        self.open.clear()

    def _partitions(self, chunk: pa.Table) -> Iterator:
        if self.metadata.spec().is_unpartitioned():
            yield _Unpartitioned(chunk)
            return
        yield from _determine_partitions(spec=self.metadata.spec(), schema=self.metadata.schema(), arrow_table=chunk)

    def _new_file(self, partition_key: PartitionKey | None) -> _OpenFile:
        # the names pyiceberg's WriteTask gives its files: 00000-<task>-<write uuid>.parquet
        name = f"00000-{next(self.file_numbers)}-{self.write_uuid}.{self.format_model.file_extension()}"
        path = self.locations.new_data_location(data_file_name=name, partition_key=partition_key)
        output = self.io.new_output(path)
        writer = self.format_model.create_writer(output, self.file_schema, self.metadata.properties)
        return _OpenFile(path, output, writer, partition_key)

    def _close(self, open_file: _OpenFile) -> DataFile:
        statistics = open_file.writer.close()
        return DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=open_file.path,
            file_format=FileFormat.PARQUET,
            partition=open_file.partition_key.partition if open_file.partition_key is not None else Record(),
            file_size_in_bytes=len(open_file.output),
            sort_order_id=None,
            spec_id=self.metadata.default_spec_id,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )


@dataclass
class _Unpartitioned:
    arrow_table_partition: pa.Table
    partition_key: PartitionKey | None = None
