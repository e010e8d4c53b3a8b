"""Extraction, PostgreSQL -> hive Parquet: the seed's pandas way, our raw_traces path, and the
physical anchor (the same query as COPY ... TO STDOUT (FORMAT binary), drained unparsed).

    python bench/extraction.py --rows 100000 1000000

Each method runs in its own process (peak RSS is that process's own), over the same database,
in one invocation; the script prints rows/s, MB/s (MB = the rows' binary COPY size) and peak RSS,
and the ratios: ours / seed's throughput, ours / COPY, and our RSS from the smallest to the
largest N.
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone

import psycopg

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "trace_assets_bench"
BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}"
DAY = date(2026, 4, 18)
SEED_QUERY = (
    "SELECT id, timestamp, user_id, session_id, input, output, model, latency_ms, token_count, metadata "
    "FROM traces WHERE DATE(timestamp) = '2026-04-18' AND user_consent = true AND output IS NOT NULL ORDER BY timestamp"
)


def database_url(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


def drop_database(database: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def fill(rows: int, database: str | None = None) -> None:
    """N realistic traces on one day: input ~300 chars, output ~1.5 KB, metadata with three
    ~500-char contexts, four models, 10% without consent; in `database` (dropped and created;
    default BENCH_DB)."""
    database = database or BENCH_DB
    drop_database(database)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    with psycopg.connect(database_url(database), autocommit=True) as db:
        db.execute(
            "CREATE TABLE traces (id UUID PRIMARY KEY, timestamp TIMESTAMP, user_id TEXT, session_id TEXT, "
            "input TEXT, output TEXT, model TEXT, latency_ms INT, token_count INT, metadata JSONB, user_consent BOOLEAN)"
        )
        db.execute(
            """
            INSERT INTO traces
            SELECT gen_random_uuid(),
                   '2026-04-18'::timestamp + (g * (86399.0 / %(rows)s)) * interval '1 second',
                   'user-' || (g %% 5000), 'session-' || (g %% 40000),
                   'EKS Auto Mode와 Karpenter의 차이점은? ' || repeat(md5(g::text), 8),
                   repeat('EKS Auto Mode is a managed data plane; ' || md5((g * 7)::text) || ' ', 20),
                   (ARRAY['glm-5-32b', 'Qwen/Qwen3-4B', 'qwen3-coder', 'gpt-oss 20b'])[1 + g %% 4],
                   200 + g %% 3000, 100 + g %% 800,
                   jsonb_build_object(
                     'domain', 'eks-documentation', 'feedback_score', (g %% 5) + 0.5,
                     'contexts', jsonb_build_array(repeat('Karpenter provisions nodes. ', 18),
                                                   repeat('NodePools describe capacity. ', 17),
                                                   repeat('Auto Mode manages add-ons. ', 18))),
                   g %% 10 <> 0
            FROM generate_series(1, %(rows)s) AS g
            """,
            {"rows": rows},
        )
        db.execute("CREATE INDEX ON traces (timestamp)")
        db.execute("VACUUM ANALYZE traces")


def run_seed(out: str) -> dict:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import sqlalchemy

    engine = sqlalchemy.create_engine(BENCH_URL.replace("postgresql://", "postgresql+psycopg://"))
    frame = pd.read_sql(SEED_QUERY, engine)
    for index, (model, group) in enumerate(frame.groupby("model")):
        pq.write_table(pa.Table.from_pandas(group), f"{out}/traces-{index}.parquet", compression="snappy")
    return {"rows": len(frame)}


def run_ours(out: str) -> dict:
    from trace_assets.assets.raw_traces import land_day
    from trace_assets.resources.postgres_source import PostgresTraceSource
    from trace_assets.resources.trace_lake import TraceLake

    landing = land_day(PostgresTraceSource(database_url=BENCH_URL), TraceLake(uri=out), DAY)
    return {"rows": landing.files.rows}


def run_copy(out: str) -> dict:
    size = 0
    with psycopg.connect(BENCH_URL) as db, db.cursor().copy(f"COPY ({SEED_QUERY}) TO STDOUT (FORMAT binary)") as copy:
        for block in copy:
            size += len(block)
    return {"copy_bytes": size}


METHODS = {"seed_pandas": run_seed, "ours_raw_traces": run_ours, "copy_binary": run_copy}


def measure(method: str) -> dict:
    """Run one method in a child process; its wall time, peak RSS and result."""
    with tempfile.TemporaryDirectory() as out:
        child = subprocess.run(
            [sys.executable, __file__, "--child", method, "--out", out], capture_output=True, text=True, check=False
        )
    if child.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def child(method: str, out: str) -> None:
    # Imports are not what is measured: load them before the clock starts.
    if method == "seed_pandas":
        import pandas  # noqa: F401
        import pyarrow.parquet  # noqa: F401
        import sqlalchemy  # noqa: F401
    elif method == "ours_raw_traces":
        import trace_assets.assets.raw_traces  # noqa: F401
    started = time.perf_counter()
    result = METHODS[method](out)
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.out)
        return
    print(f"extraction benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    ours_rss = {}
    for rows in args.rows:
        fill(rows)
        results = {method: measure(method) for method in ("copy_binary", "ours_raw_traces", "seed_pandas")}
        megabytes = results["copy_binary"]["copy_bytes"] / 1e6
        landed = results["ours_raw_traces"]["rows"]
        print(f"\nN = {rows:,} traces ({landed:,} consented, {megabytes:,.0f} MB as binary COPY)")
        print(f"  {'method':<18}{'seconds':>9}{'rows/s':>11}{'MB/s':>8}{'peak RSS MB':>13}")
        for method, result in results.items():
            seconds = result["seconds"]
            print(f"  {method:<18}{seconds:>9.1f}{landed / seconds:>11,.0f}{megabytes / seconds:>8.1f}{result['peak_rss_mb']:>13,.0f}")
        ours, seed, copy = (results[m]["seconds"] for m in ("ours_raw_traces", "seed_pandas", "copy_binary"))
        print(f"  ours vs seed's pandas: {seed / ours:.2f}x the throughput (target >= 3x)")
        print(f"  ours vs COPY drained:  {copy / ours:.2f} of the physical anchor (target >= 0.5)")
        ours_rss[rows] = results["ours_raw_traces"]["peak_rss_mb"]
    if len(ours_rss) > 1:
        small, large = min(ours_rss), max(ours_rss)
        print(f"\nour peak RSS: {ours_rss[small]:,.0f} MB at N={small:,}, {ours_rss[large]:,.0f} MB at N={large:,} "
              f"(x{ours_rss[large] / ours_rss[small]:.2f}; target <= 512 MB and flat)")


if __name__ == "__main__":
    main()
