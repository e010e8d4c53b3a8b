"""The README's first command: land every sample day as Parquet and in the Iceberg table on the
embedded defaults, recorded in a persistent DAGSTER_HOME so `dagster dev` shows the runs."""

import os
import sys
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.environments import DEFAULT_LOCAL_LAKE
from trace_assets.sample_data.generate import SAMPLE_DAYS


def main() -> int:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("data/dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TRACE_LAKE_URI", str(DEFAULT_LOCAL_LAKE.resolve()))

    from trace_assets.definitions import defs  # after the environment is set: it picks the resources

    job = defs.resolve_job_def("ingest_traces")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": SAMPLE_DAYS[0],
                "dagster/asset_partition_range_end": SAMPLE_DAYS[-1],
                "trace_assets/reason": "demo",
            },
        )
    if not result.success:
        print("The demo run failed; see the log above.", file=sys.stderr)
        return 1
    print_summary(defs, result)
    return 0


def print_summary(defs: dg.Definitions, result) -> None:
    lake = defs.resources["trace_lake"]
    iceberg = defs.resources["iceberg"]
    print(f"\nRun {result.run_id} landed the sample days {', '.join(SAMPLE_DAYS)} (UTC).")
    shown = set()
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        name = materialization.asset_key.to_user_string()
        if name in shown:  # one event per day of the range, all with the range's metadata
            continue
        shown.add(name)
        metadata = materialization.metadata
        print(f"\n== {name}: {metadata['dagster/row_count'].value} rows")
        print(metadata["rows_by_day_model_consent"].value)
        if "rows_rejected" in metadata:
            print(f"\nwithout consent, not landed: {metadata['without_consent_not_landed'].value}")
            print(f"rejected: {metadata['rows_rejected'].value}")
            for reason, detail in metadata["rejections"].value.items():
                print(f"  {reason}: {detail['rows']} (e.g. {', '.join(detail['sample_ids'])})")
    table = iceberg.catalog().load_table("training_data.langfuse_traces")
    scanned = table.scan(selected_fields=("consent",)).to_arrow()
    consented = pc.sum(scanned.column("consent").cast(pa.int64())).as_py() or 0
    print(f"\nParquet lake:  {lake.location(lake.traces_root)}/date=YYYY-MM-DD/model=.../consent=.../part-N.parquet")
    print(f"Iceberg table: training_data.langfuse_traces at {table.location()}")
    print(f"               {scanned.num_rows} rows ({consented} with consent), snapshot {table.current_snapshot().snapshot_id}")
    print(f"Runs are recorded in DAGSTER_HOME={os.environ['DAGSTER_HOME']}: `make ui` shows them in the Dagster UI.")


if __name__ == "__main__":
    sys.exit(main())
