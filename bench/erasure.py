"""Erasure of one user from a lake of D days x N traces, and from the Iceberg traces table.

    python bench/erasure.py --days 30 --traces-per-day 100000
    python bench/erasure.py --days 2 --traces-per-day 500      (a smoke run: seconds)

The lake and a SQLite-catalog Iceberg table are filled in Arrow (input ~300 characters, output
~1.2 KB, half of it random hex so it compresses like real text, five thousand users, four models, so one day is four files); one user has 12 traces on
4 of the days. erase_users' work (governance/erasure.py) then runs against them; the script
prints its seconds and what it rewrote and deleted next to the size of the lake and warehouse
(target: only the files that held the user are rewritten).
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import os
import tempfile
import time
import uuid
from datetime import date, datetime, time as clock, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from trace_assets.governance.erasure import erase
from trace_assets.governance.erasure_plan import ErasureTargets
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.tables.traces import LANDED_TRACE_SCHEMA, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, TRACES_TABLE

FIRST_DAY = date(2026, 3, 1)
MODELS = ["glm-5-32b", "Qwen/Qwen3-4B", "qwen3-coder", "gpt-oss 20b"]
ERASED = "user-erased"
ERASED_DAYS = (3, 11, 19, 27)  # day offsets that hold the erased user's traces, 3 each


def erased_days(days: int) -> tuple[int, ...]:
    """ERASED_DAYS within a lake of `days` days (a short lake: its last day)."""
    return tuple(sorted({min(offset, days - 1) for offset in ERASED_DAYS}))


def day_batches(day: date, rows: int, erased: tuple[int, ...], chunk: int = 25_000):
    start = datetime.combine(day, clock(0), tzinfo=timezone.utc)
    offset = (day - FIRST_DAY).days
    for first in range(0, rows, chunk):
        n = min(chunk, rows - first)
        numbers = range(first, first + n)
        users = [f"user-{(i * 7919 + offset) % 5000}" for i in numbers]
        if offset in erased and first == 0:
            for position in (0, 1, 2):
                users[min(position * 97, n - 1 - position)] = ERASED
        columns = {
            "id": [str(uuid.uuid4()) for _ in numbers],
            "timestamp": [start + timedelta(seconds=i * 86399 / rows) for i in numbers],
            "user_id": users,
            "session_id": [f"session-{i % 40000}" for i in numbers],
            "input": [f"EKS Auto Mode와 Karpenter의 차이점은? {i} " + "question text " * 20 for i in numbers],
            # Half prose, half random hex: compresses about as much as real answers do.
            "output": [
                f"answer {i}: " + "EKS Auto Mode is a managed data plane. " * 10 + os.urandom(375).hex() for i in numbers
            ],
            "model": [MODELS[i % 4] for i in numbers],
            "latency_ms": [200 + i % 3000 for i in numbers],
            "token_count": [100 + i % 800 for i in numbers],
            "consent": [True] * n,
            "metadata_json": ['{"domain": "eks-documentation"}'] * n,
            "contexts": [None] * n,
            "messages": [None] * n,
            "redaction": ["pii-1"] * n,
        }
        yield pa.RecordBatch.from_pydict(columns, schema=LANDED_TRACE_SCHEMA)


def size_of(fs: pafs.FileSystem, root: str) -> tuple[int, int]:
    files = [i for i in fs.get_file_info(pafs.FileSelector(root, recursive=True)) if i.type == pafs.FileType.File]
    return len(files), sum(i.size for i in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--traces-per-day", type=int, default=100_000)
    args = parser.parse_args()
    print(f"erasure benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    erased = erased_days(args.days)
    with tempfile.TemporaryDirectory() as folder:
        lake = TraceLake(uri=str(Path(folder) / "lake"))
        warehouse = IcebergWarehouse(local_fallback_dir=str(Path(folder) / "warehouse"))
        table = warehouse.ensure_table(TRACES_TABLE, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, {})
        started = time.perf_counter()
        for offset in range(args.days):
            day = FIRST_DAY + timedelta(days=offset)
            lake.replace_traces_day(day, day_batches(day, args.traces_per_day, erased))
            begin = datetime.combine(day, clock(0), tzinfo=timezone.utc)
            warehouse.replace_window(
                table, "timestamp", begin, begin + timedelta(days=1), LANDED_TRACE_SCHEMA,
                (b for b in lake.traces_day(day).to_batches(columns=LANDED_TRACE_SCHEMA.names)),
            )
        table.refresh()
        print(f"filled {args.days} days x {args.traces_per_day:,} traces in {time.perf_counter() - started:.0f} s")
        fs = pafs.LocalFileSystem()
        lake_files, lake_bytes = size_of(fs, lake.root)
        wh_files, wh_bytes = size_of(fs, str(Path(folder) / "warehouse" / "warehouse"))
        print(f"  lake: {lake_files} files, {lake_bytes / 1e9:.2f} GB; warehouse: {wh_files} files, {wh_bytes / 1e9:.2f} GB")

        started = time.perf_counter()
        report = erase(
            warehouse.catalog(), fs, lake.root, ErasureTargets.of([ERASED]), "bench-salt", "request", "bench",
            orphan_min_age=timedelta(hours=1),
        )
        seconds = time.perf_counter() - started
        outcome = report.outcome()
        traces = next(t for t in report.tables if t.table == TRACES_TABLE)
        print(f"\nerasing one user ({report.trace_ids_found} traces on {len(erased)} days): {seconds:.1f} s")
        print(f"  rows removed: {outcome['rows_removed']}")
        print(f"  lake: {report.lake.files_rewritten} of {lake_files} files rewritten, "
              f"{report.lake.bytes_rewritten / 1e6:.0f} MB written ({100 * report.lake.bytes_rewritten / lake_bytes:.1f}% of the lake)")
        print(f"  iceberg: {traces.snapshots_expired} snapshots expired, {traces.files_deleted} files deleted")
        after_files, after_bytes = size_of(fs, str(Path(folder) / "warehouse" / "warehouse"))
        print(f"  warehouse after: {after_files} files, {after_bytes / 1e9:.2f} GB")
        target = report.lake.files_rewritten <= len(erased) * len(MODELS)
        print(f"  only files that held the user rewritten: {'yes' if target else 'NO'}")


if __name__ == "__main__":
    main()
