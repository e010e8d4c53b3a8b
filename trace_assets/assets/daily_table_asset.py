"""The decorator of the assets that each own one Iceberg table and go one day per run."""

import dagster as dg

from trace_assets.io_managers.iceberg_window_io_manager import PARTITION_EXPR_METADATA_KEY, TABLE_METADATA_KEY
from trace_assets.partitions import daily_partitions


def daily_table_asset(table: str, group_name: str, kinds: set[str], pool: str | None = None):
    """A daily asset writing `table` (by its `timestamp` column) and loaded downstream through the
    Iceberg IO manager. Backfills go day by day: a backfill of months must not hand the judge
    fleet a month of traces in one run; `pool` bounds how many such steps run at once."""
    return dg.asset(
        pool=pool,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
        io_manager_key="iceberg_io_manager",
        kinds=kinds,
        group_name=group_name,
        metadata={TABLE_METADATA_KEY: table, PARTITION_EXPR_METADATA_KEY: "timestamp"},
    )
