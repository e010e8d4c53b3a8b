"""IcebergWarehouse: the Iceberg catalog, through pyiceberg's own configuration."""

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
from pydantic import Field
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, BooleanExpression, EqualTo, GreaterThanOrEqual, In, LessThan
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema, index_by_name
from pyiceberg.table import Table
from pyiceberg.utils.config import Config

from trace_assets.resources.iceberg_data_files import PartitionedFileWriter


class MissingCatalogError(RuntimeError):
    pass


@dataclass(frozen=True)
class WindowCommit:
    """What one atomic replacement of a time window committed."""

    snapshot_id: int
    rows: int
    data_files: int
    added_columns: list[str]


class IcebergWarehouse(dg.ConfigurableResource):
    """The Iceberg catalog named `catalog_name`, configured the pyiceberg way
    (`.pyiceberg.yaml` or PYICEBERG_CATALOG__DEFAULT__URI, __WAREHOUSE, __TYPE, ... : Glue, REST,
    SQL). In the local environment, when none is configured, a SQLite catalog and a warehouse in
    `local_fallback_dir`."""

    catalog_name: str = Field(default="default", description="pyiceberg catalog name.")
    local_fallback_dir: str | None = Field(
        default=None,
        description="Folder for a SQLite catalog and warehouse when no catalog is configured (local only).",
    )
    rows_per_append: int = Field(
        default=250_000, gt=0, description="Rows written per data-file batch inside one commit: bounds memory."
    )
    bytes_per_append: int = Field(
        default=8 << 20,
        gt=0,
        description="Arrow bytes handed to the data-file writers at a time inside one commit: bounds memory (a step "
        "holds a few times this) and is the Parquet row-group size. Data files roll over at the table's "
        "write.target-file-size-bytes (Arrow bytes, pyiceberg's default 512 MB), whatever this is. 8 MB keeps "
        "iceberg_table within 512 MB at a million traces a day (BENCHMARKS.md).",
    )

    def catalog(self) -> Catalog:
        # Read pyiceberg's configuration now: its module-level copy was read at import time.
        configured = Config().get_catalog_config(self.catalog_name)
        if configured:
            return load_catalog(self.catalog_name, **configured)
        if self.local_fallback_dir is None:
            name = self.catalog_name.upper()
            raise MissingCatalogError(
                f"No Iceberg catalog {self.catalog_name!r} is configured: set PYICEBERG_CATALOG__{name}__TYPE "
                f"(glue, rest or sql) and its settings such as PYICEBERG_CATALOG__{name}__URI and "
                f"PYICEBERG_CATALOG__{name}__WAREHOUSE, or write them to .pyiceberg.yaml."
            )
        folder = Path(self.local_fallback_dir).resolve()
        (folder / "warehouse").mkdir(parents=True, exist_ok=True)
        return SqlCatalog(
            self.catalog_name, uri=f"sqlite:///{folder / 'catalog.db'}", warehouse=(folder / "warehouse").as_uri()
        )

    def ensure_table(self, identifier: str, schema: Schema, spec: PartitionSpec, properties: dict) -> Table:
        """The table, created with its namespace when missing."""
        catalog = self.catalog()
        namespace = identifier.rsplit(".", 1)[0]
        catalog.create_namespace_if_not_exists(namespace)
        return catalog.create_table_if_not_exists(identifier, schema=schema, partition_spec=spec, properties=properties)

    def replace_window(
        self,
        table: Table,
        column: str,
        start: datetime,
        end: datetime,
        arrow_schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
    ) -> WindowCommit:
        """Replace every row with start <= `column` < end by `batches`, in one atomic commit.

        Columns of `arrow_schema` the table lacks are added first (union by name, in the same
        commit); batches may omit fields of the table, which read back as null."""
        before = set(index_by_name(table.schema()))
        rows = files = 0
        with table.transaction() as transaction:
            target = _evolve_and_delete(transaction, arrow_schema, _window_filter(column, start, end))
            for chunk_rows, chunk_files in _append_chunks(
                transaction, table, (conform(chunk, target) for chunk in _chunks(batches, self.rows_per_append, self.bytes_per_append))
            ):
                rows += chunk_rows
                files += chunk_files
        table.refresh()
        added = sorted(set(index_by_name(table.schema())) - before)
        return WindowCommit(table.current_snapshot().snapshot_id, rows, files, added)

    def replace_rows(
        self, table: Table, column: str, start: datetime, end: datetime, key: str, arrow_schema: pa.Schema, rows: pa.Table
    ) -> None:
        """Replace the rows of the window start <= `column` < end whose `key` is one of `rows`'
        keys by `rows`, in one commit: the window's other rows stay as they are."""
        keys = rows.column(key).to_pylist()
        with table.transaction() as transaction:
            target = _evolve_and_delete(transaction, arrow_schema, And(_window_filter(column, start, end), In(key, keys)))
            transaction.append(conform(rows, target))

    def read_window(
        self, identifier: str, column: str, start: datetime, end: datetime, audit_non_consented: bool = False
    ) -> pa.Table | None:
        """The rows with start <= `column` < end (None when the table does not exist yet). In a
        table with a `consent` column only rows with consent are returned: consent is a gate, not
        a column each downstream asset must remember to filter. Only the consent check audits the
        others (`audit_non_consented`), and it reads nothing but their ids."""
        catalog = self.catalog()
        if not catalog.table_exists(identifier):
            return None
        table = catalog.load_table(identifier)
        row_filter: BooleanExpression = _window_filter(column, start, end)
        if audit_non_consented:
            id_column = "id" if "id" in {field.name for field in table.schema().fields} else "trace_id"
            audit = table.scan(row_filter=And(row_filter, EqualTo("consent", False)), selected_fields=(id_column,))
            return audit.to_arrow().rename_columns(["id"])
        if "consent" in {field.name for field in table.schema().fields}:
            row_filter = And(row_filter, EqualTo("consent", True))
        return table.scan(row_filter=row_filter).to_arrow()


def _evolve_and_delete(transaction, arrow_schema: pa.Schema, rows_to_delete: BooleanExpression) -> pa.Schema:
    """In `transaction`: add the columns of `arrow_schema` the table lacks (union by name) and
    delete `rows_to_delete`. Returns the Arrow schema the appends must have."""
    with transaction.update_schema() as update:
        update.union_by_name(arrow_schema)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        transaction.delete(rows_to_delete)
    return transaction.table_metadata.schema().as_arrow()


def _append_chunks(transaction, table: Table, chunks: Iterable[pa.Table]) -> Iterator[tuple[int, int]]:
    """In `transaction`, one append snapshot of every chunk's rows (none when there are no
    chunks), written through PartitionedFileWriter; yields (rows, data files closed) per chunk."""
    with contextlib.ExitStack() as appending:
        append = data_files = None
        try:
            for chunk in chunks:
                if append is None:
                    append = appending.enter_context(transaction.update_snapshot().fast_append())
                    data_files = PartitionedFileWriter(transaction.table_metadata, table.io, append.commit_uuid)
                closed = data_files.write(chunk)
                for data_file in closed:
                    append.append_data_file(data_file)
                yield chunk.num_rows, len(closed)
                del chunk  # before the next chunk is gathered: one chunk in memory at a time
            if data_files is not None:
                closed = data_files.close()
                for data_file in closed:
                    append.append_data_file(data_file)
                yield 0, len(closed)
        except BaseException:
            if data_files is not None:
                data_files.abort()
            raise


def _window_filter(column: str, start: datetime, end: datetime) -> BooleanExpression:
    return And(GreaterThanOrEqual(column, start.isoformat()), LessThan(column, end.isoformat()))


def _chunks(batches: Iterable[pa.RecordBatch], rows_per_chunk: int, bytes_per_chunk: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    pending_rows = pending_bytes = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        pending_rows += batch.num_rows
        pending_bytes += batch.nbytes
        if pending_rows >= rows_per_chunk or pending_bytes >= bytes_per_chunk:
            yield pa.Table.from_batches(pending)
            pending, pending_rows, pending_bytes = [], 0, 0
    if pending:
        yield pa.Table.from_batches(pending)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s fields, in its order and types; fields it lacks are null,
    struct fields matched by name at every depth."""
    columns = [
        _conform_array(table.column(field.name), field.type) if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _conform_array(array, target: pa.DataType):
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([_conform_array(chunk, target) for chunk in array.chunks], type=target)
    if pa.types.is_struct(target) and pa.types.is_struct(array.type):
        names = {array.type.field(i).name for i in range(array.type.num_fields)}
        children = [
            _conform_array(array.field(field.name), field.type) if field.name in names
            else pa.nulls(len(array), field.type)
            for field in target
        ]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=array.is_null())
    return array.cast(target)
