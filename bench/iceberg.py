"""Iceberg: replacing one day of N rows in training_data.langfuse_traces (delete + streamed
appends in one commit), and how many data files a scan of one day plans against the files in
the table (partition pruning on day(timestamp)).

    python bench/iceberg.py --rows 1000000 --days 3
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import resource
import tempfile
import time
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.tables.traces import LANDED_TRACE_SCHEMA, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, TRACES_TABLE

MODELS = ["glm-5-32b", "Qwen/Qwen3-4B", "qwen3-coder", "gpt-oss 20b"]
BATCH = 100_000


def day_batches(day: datetime, rows: int, version: int):
    """`rows` traces of one day, in batches, shaped like the landed traces (~2 KB each)."""
    output = "EKS Auto Mode is a managed data plane; Karpenter is self-run. " * 24
    for start in range(0, rows, BATCH):
        n = min(BATCH, rows - start)
        ids = pa.array([f"{day:%Y%m%d}-{version}-{i:08d}" for i in range(start, start + n)])
        midnight_us, step_us = int(day.timestamp() * 1_000_000), 86_399_000_000 // rows
        timestamps = pa.array([midnight_us + i * step_us for i in range(start, start + n)], pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        )
        columns = {
            "id": ids, "timestamp": timestamps, "user_id": pa.array([f"user-{i % 5000}" for i in range(n)]),
            "session_id": pa.nulls(n, pa.string()), "input": pa.array(["EKS Auto Mode와 Karpenter의 차이점은?"] * n),
            "output": pa.array([output] * n), "model": pa.array([MODELS[i % 4] for i in range(n)]),
            "latency_ms": pa.array([850] * n, pa.int64()), "token_count": pa.array([512] * n, pa.int64()),
            "consent": pa.array([True] * n), "metadata_json": pa.array(['{"domain": "eks-documentation"}'] * n),
            "contexts": pa.array([["Karpenter provisions nodes."]] * n, pa.list_(pa.string())),
        }
        yield pa.RecordBatch.from_arrays(
            # columns the landed schema gained that a bench trace does not have (messages, ...) are null
            [columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in LANDED_TRACE_SCHEMA],
            schema=LANDED_TRACE_SCHEMA,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per day")
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    first = datetime(2026, 4, 18, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as folder:
        warehouse = IcebergWarehouse(local_fallback_dir=folder)
        table = warehouse.ensure_table(TRACES_TABLE, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, {})
        for offset in range(args.days):
            day = first + timedelta(days=offset)
            warehouse.replace_window(table, "timestamp", day, day + timedelta(days=1), LANDED_TRACE_SCHEMA,
                                     day_batches(day, args.rows, 0))
        middle = first + timedelta(days=args.days // 2)
        started = time.perf_counter()
        commit = warehouse.replace_window(table, "timestamp", middle, middle + timedelta(days=1), LANDED_TRACE_SCHEMA,
                                          day_batches(middle, args.rows, 1))
        seconds = time.perf_counter() - started
        replace_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        table.refresh()
        all_files = len(list(table.scan().plan_files()))
        window = table.scan(row_filter=f"timestamp >= '{middle.isoformat()}' AND timestamp < '{(middle + timedelta(days=1)).isoformat()}'")
        planned = len(list(window.plan_files()))
        ids = table.scan(row_filter=f"timestamp >= '{middle.isoformat()}' AND timestamp < '{(middle + timedelta(days=1)).isoformat()}'",
                         selected_fields=("id",)).to_arrow().column("id")
        counted, distinct = len(ids), pc.count_distinct(ids).as_py()
        replaced = pc.all(pc.match_substring(ids, f"-1-")).as_py() if counted else True  # ids of version 1 only
    print(f"iceberg benchmark: {args.days} days of {args.rows:,} rows")
    print(f"  replace one day ({args.rows:,} rows) in one commit: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s, "
          f"{commit.data_files} data files, peak RSS {replace_rss:,.0f} MB (generating and writing 3 days so far)")
    if counted == distinct == args.rows and replaced:
        copies = "one copy, all of the new version"
    else:
        copies = f"NOT one copy: {distinct:,} distinct ids, {args.rows:,} expected, all new: {replaced}"
    print(f"  rows of that day after the replacement: {counted:,} ({copies})")
    print(f"  a scan of one day plans {planned} of the table's {all_files} data files ({planned / all_files:.0%})")


if __name__ == "__main__":
    main()
