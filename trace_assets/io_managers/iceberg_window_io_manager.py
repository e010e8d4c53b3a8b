"""Loads a partition window's consented rows of an Iceberg table for downstream assets."""

import dagster as dg
import pyarrow as pa

from trace_assets.io_managers.trace_window import TraceWindow
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse

TABLE_METADATA_KEY = "iceberg/table"
PARTITION_EXPR_METADATA_KEY = "partition_expr"


class IcebergWindowIOManager(dg.ConfigurableIOManager):
    """For assets that write their Iceberg table themselves (one atomic, streamed commit per
    window) and declare it in their definition metadata: `iceberg/table` (namespace.table) and
    `partition_expr` (the timestamp column the daily partitions cut). A downstream asset that
    takes such an asset as an input gets the rows in its partition window, for a single day or a
    whole backfill range, and only rows with consent: as a `TraceWindow` (read in record batches,
    the columns it names) when the input is annotated so, else as one pyarrow Table."""

    warehouse: IcebergWarehouse

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is not None:
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned a {type(obj).__name__}: assets on the Iceberg IO "
                "manager write through IcebergWarehouse and return a MaterializeResult"
            )

    def load_input(self, context: dg.InputContext) -> pa.Table | TraceWindow:
        metadata = context.upstream_output.definition_metadata
        identifier, column = metadata[TABLE_METADATA_KEY], metadata[PARTITION_EXPR_METADATA_KEY]
        window = context.asset_partitions_time_window
        missing = FileNotFoundError(
            f"{identifier} does not exist yet: materialize {context.upstream_output.asset_key.to_user_string()} first"
        )
        if context.dagster_type.typing_type is TraceWindow:
            catalog = self.warehouse.catalog()
            if not catalog.table_exists(identifier):
                raise missing
            return TraceWindow.of(catalog.load_table(identifier), column, window.start, window.end)
        rows = self.warehouse.read_window(identifier, column, window.start, window.end)
        if rows is None:
            raise missing
        return rows
