"""iceberg_table: the landed traces in the Iceberg table training_data.langfuse_traces."""

from collections import Counter

import dagster as dg
import pyarrow as pa

from trace_assets.assets.raw_traces import raw_traces
from trace_assets.assets.summaries import rows_by_day_model_consent, window_text
from trace_assets.ingest.metadata_fields import infer_metadata_fields, metadata_fields_array
from trace_assets.io_managers.iceberg_window_io_manager import PARTITION_EXPR_METADATA_KEY, TABLE_METADATA_KEY
from trace_assets.partitions import daily_partitions, days_in
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.tables.traces import (
    LANDED_TRACE_SCHEMA,
    METADATA_FIELDS_COLUMN,
    TRACES_ICEBERG_SCHEMA,
    TRACES_PARTITION_SPEC,
    TRACES_TABLE,
)

TABLE_PROPERTIES = {"write.parquet.compression-codec": "snappy"}


@dg.asset(
    deps=[raw_traces],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="iceberg_io_manager",
    kinds={"iceberg"},
    group_name="traces",
    metadata={TABLE_METADATA_KEY: TRACES_TABLE, PARTITION_EXPR_METADATA_KEY: "timestamp"},
)
def iceberg_table(context: dg.AssetExecutionContext, trace_lake: TraceLake, iceberg: IcebergWarehouse) -> dg.MaterializeResult:
    """The window's landed traces in `training_data.langfuse_traces` (partitioned by
    day(timestamp), model, consent), replacing exactly the window's days in one atomic commit.
    Top-level metadata keys become fields of the `metadata` struct; new keys add fields."""
    window = context.partition_time_window
    days = days_in(window)
    table = iceberg.ensure_table(TRACES_TABLE, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, TABLE_PROPERTIES)
    known = table.schema().as_arrow()
    known_fields = known.field(METADATA_FIELDS_COLUMN).type if METADATA_FIELDS_COLUMN in known.names else None
    fields_type = infer_metadata_fields(
        (
            batch.column("metadata_json")
            for day in days
            for batch in trace_lake.traces_day_batches(day, ["metadata_json"])
        ),
        known_fields,
    )
    arrow_schema = LANDED_TRACE_SCHEMA
    if fields_type is not None:
        arrow_schema = arrow_schema.append(pa.field(METADATA_FIELDS_COLUMN, fields_type))
    rows = Counter()

    def table_batches():
        for day in days:
            for batch in trace_lake.traces_day_batches(day, LANDED_TRACE_SCHEMA.names):
                counts = pa.table(batch).group_by(["model", "consent"]).aggregate([([], "count_all")])
                for group in counts.to_pylist():
                    rows[(day, group["model"], group["consent"])] += group["count_all"]
                columns = [batch.column(name) for name in LANDED_TRACE_SCHEMA.names]
                if fields_type is not None:
                    columns.append(metadata_fields_array(batch.column("metadata_json"), fields_type))
                yield pa.RecordBatch.from_arrays(columns, schema=arrow_schema)

    commit = iceberg.replace_window(table, "timestamp", window.start, window.end, arrow_schema, table_batches())
    context.log.info(
        f"{TRACES_TABLE}: replaced {window_text(window)} with {commit.rows} rows in snapshot {commit.snapshot_id}"
    )
    return dg.MaterializeResult(
        metadata={
            "window": window_text(window),
            "table": TRACES_TABLE,
            "dagster/row_count": commit.rows,
            "rows_by_day_model_consent": rows_by_day_model_consent(rows),
            "consented_rows": sum(n for (_, _, consent), n in rows.items() if consent),
            "snapshot_id": str(commit.snapshot_id),
            "data_files_added": commit.data_files,
            "columns_added": dg.MetadataValue.json(commit.added_columns),
            "table_location": dg.MetadataValue.path(table.location()),
        }
    )
