"""Jobs the UI, the CLI and the demo launch."""

import dagster as dg

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.raw_traces import raw_traces
from trace_assets.partitions import daily_partitions

ingest_traces_job = dg.define_asset_job(
    "ingest_traces",
    selection=[raw_traces, iceberg_table],
    partitions_def=daily_partitions,
    description="Land a day (or a range of days) of traces as Parquet and in the Iceberg table.",
)
