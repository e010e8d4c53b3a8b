"""Peak memory of each step of the graph on one day of N traces, each step in its own process
(as Dagster's multiprocess executor runs them in a run pod): raw_traces (PostgreSQL -> lake),
iceberg_table (lake -> Iceberg), then the steps downstream of it.

    python bench/step_memory.py --traces 1000000

The day is the extraction bench's realistic day (input ~300 chars, output ~1.5 KB, three
~500-char contexts, four models, 10% without consent) in a scratch PostgreSQL database; lake and
SQLite Iceberg catalog in a temporary folder. Each step is `dagster.materialize` of that one
asset (its upstream assets loaded from what the previous steps wrote) in a fresh Python process;
the script prints that process's RSS once the code location is imported (the floor every step
starts from), its peak RSS (VmHWM) during the step, and the step's wall time.
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from extraction import database_url, drop_database, fill  # noqa: E402  (the same realistic day)
from process_memory import own_status_mb  # noqa: E402

DAY = "2026-04-18"
STEPS = ("raw_traces", "iceberg_table")
TARGET_MB = 512


def run_step(step: str, folder: str, database: str) -> dict:
    """Materialize `step` for DAY in this process; what it wrote and its memory."""
    import dagster as dg

    from trace_assets.assets.iceberg_table import iceberg_table
    from trace_assets.assets.judge_scores import judge_scores
    from trace_assets.assets.labeled_dataset import labeled_dataset
    from trace_assets.assets.ragas_scores import ragas_scores
    from trace_assets.assets.raw_traces import raw_traces
    from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
    from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
    from trace_assets.resources.judge import JudgeResource
    from trace_assets.resources.postgres_source import PostgresTraceSource
    from trace_assets.resources.ragas_scorer import RagasResource
    from trace_assets.resources.trace_lake import TraceLake

    assets = {a.key.to_user_string(): a for a in (raw_traces, iceberg_table, judge_scores, ragas_scores, labeled_dataset)}
    warehouse = IcebergWarehouse(local_fallback_dir=f"{folder}/iceberg")
    resources = {
        "trace_source": PostgresTraceSource(database_url=database_url(database)),
        "trace_lake": TraceLake(uri=f"{folder}/lake"),
        "iceberg": warehouse,
        "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        # Not called by the steps measured here (no scoring step runs), but the graph needs them.
        "judge": JudgeResource(base_url="http://127.0.0.1:9/v1"),
        "ragas": RagasResource(llm_base_url="http://127.0.0.1:9/v1", embeddings_base_url="http://127.0.0.1:9/v1"),
    }
    floor_mb = own_status_mb("VmRSS")
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            list(assets.values()), selection=[step], resources=resources, partition_key=DAY, instance=instance,
            raise_on_error=True,
        )
    seconds = time.perf_counter() - started
    metadata = result.asset_materializations_for_node(step)[0].metadata
    rows = metadata["dagster/row_count"].value
    return {"step": step, "rows": rows, "seconds": seconds, "floor_mb": floor_mb, "peak_mb": own_status_mb("VmHWM")}


def measure(step: str, folder: str, database: str) -> dict:
    child = subprocess.run(
        [sys.executable, __file__, "--child", step, "--folder", folder, "--database", database],
        capture_output=True, text=True, check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    parser.add_argument("--child")
    parser.add_argument("--folder")
    parser.add_argument("--database")
    args = parser.parse_args()
    if args.child:
        # The code location's imports come first: they are the floor every step process starts from.
        import trace_assets.definitions  # noqa: F401

        print(json.dumps(run_step(args.child, args.folder, args.database)))
        return
    # a scratch database per size: a smoke run never drops a larger run's day
    database = f"trace_assets_bench_steps_{args.traces}"
    print(f"step memory benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: one day of {args.traces:,} traces")
    fill(args.traces, database)
    with tempfile.TemporaryDirectory() as folder:
        try:
            results = [measure(step, folder, database) for step in args.steps]
        finally:
            drop_database(database)
    print(f"  {'step':<18}{'rows':>11}{'seconds':>9}{'RSS after imports':>19}{'peak RSS':>10}{'target':>9}")
    for result in results:
        verdict = "met" if result["peak_mb"] <= TARGET_MB else "NOT met"
        print(f"  {result['step']:<18}{result['rows']:>11,}{result['seconds']:>9.1f}{result['floor_mb']:>16,.0f} MB"
              f"{result['peak_mb']:>7,.0f} MB{verdict:>9}")
    print(f"  (target: each step's process within {TARGET_MB} MB peak RSS)")


if __name__ == "__main__":
    main()
