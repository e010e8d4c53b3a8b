"""Materializing the graph for a day or a single-run range, as the UI and the CLI do."""

import dagster as dg

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.raw_traces import raw_traces

INGEST = (raw_traces, iceberg_table)


def materialize_days(resources: dict, first: str, last: str | None = None, assets=INGEST, **kwargs):
    """One run for `first` or for the range first..last (a single-run backfill)."""
    if last is None:
        return dg.materialize(list(assets), resources=resources, partition_key=first, **kwargs)
    return dg.materialize(
        list(assets),
        resources=resources,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        **kwargs,
    )


def materialization_metadata(result, asset_key: str) -> dict:
    """The metadata values of the asset's first materialization in the run."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.to_user_string() == asset_key:
            return {key: value.value for key, value in materialization.metadata.items()}
    raise AssertionError(f"{asset_key} was not materialized")
