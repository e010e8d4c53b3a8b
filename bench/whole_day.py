"""A whole day through the whole graph: N traces in PostgreSQL -> raw_traces -> iceberg_table ->
judge_scores + ragas_scores (a loopback OpenAI-compatible server in its own process, answering
after a fixed latency, judge and ragas alike) -> labeled_dataset and its checks, on a local lake
and a SQLite Iceberg catalog. Prints wall time per step, the share of the run each takes, and
the process's peak RSS.

    python bench/whole_day.py --traces 5000 --latency-ms 50 --ragas-processes 2
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).parent))
from extraction import BENCH_URL, fill  # noqa: E402  (the same realistic day)
from loopback_fleet import running_fleet  # noqa: E402
from process_memory import resident_bytes  # noqa: E402


class RssSampler:
    """Every `every_s` seconds, on a thread: this process's resident set size, and that of its
    child processes together (the ragas workers) but `excluded` (the loopback server)."""

    def __init__(self, excluded: int, every_s: float = 0.2):
        self.samples: list[tuple[float, int, int]] = []
        self.excluded = excluded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.is_set():
            children = [pid for pid in _child_pids(os.getpid()) if pid != self.excluded]
            self.samples.append((time.time(), resident_bytes(os.getpid()), sum(resident_bytes(pid) for pid in children)))
            self._stop.wait(every_s)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self, start: float, end: float, workers: bool = False) -> float:
        during = [sample[2 if workers else 1] for sample in self.samples if start <= sample[0] <= end]
        return max(during, default=0) / 2**20


def _child_pids(pid: int) -> list[int]:
    pids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                pids += [int(child) for child in children.read().split()]
        except OSError:
            pass
    return pids



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--ragas-processes", type=int, default=2, help="RagasResource.processes (2: this machine's cores)")
    args = parser.parse_args()
    fill(args.traces)
    with running_fleet(args.latency_ms / 1000, ragas=True) as (server, base_url):
        from trace_assets.assets.iceberg_table import iceberg_table
        from trace_assets.assets.judge_scores import judge_scores
        from trace_assets.assets.labeled_dataset import labeled_dataset
        from trace_assets.assets.ragas_scores import ragas_scores
        from trace_assets.assets.raw_traces import raw_traces
        from trace_assets.checks import build_checks
        from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
        from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
        from trace_assets.resources.judge import JudgeResource
        from trace_assets.resources.postgres_source import PostgresTraceSource
        from trace_assets.resources.ragas_scorer import RagasResource
        from trace_assets.resources.trace_lake import TraceLake

        with tempfile.TemporaryDirectory() as lake, dg.DagsterInstance.ephemeral() as instance:
            warehouse = IcebergWarehouse(local_fallback_dir=f"{lake}/iceberg")
            resources = {
                "trace_source": PostgresTraceSource(database_url=BENCH_URL),
                "trace_lake": TraceLake(uri=lake),
                "iceberg": warehouse,
                "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
                "judge": JudgeResource(base_url=base_url),
                "ragas": RagasResource(llm_base_url=base_url, embeddings_base_url=base_url, processes=args.ragas_processes),
            }
            started = time.perf_counter()
            with RssSampler(excluded=server.pid) as rss:
                result = dg.materialize(
                    [raw_traces, iceberg_table, judge_scores, ragas_scores, labeled_dataset, *build_checks()],
                    resources=resources, partition_key="2026-04-18", instance=instance,
                )
            total = time.perf_counter() - started
            steps = defaultdict(dict)
            for entry in instance.all_logs(result.run_id):
                event = entry.dagster_event
                if event is not None and entry.step_key and event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                    steps[entry.step_key][event.event_type_value] = entry.timestamp
    print(f"whole day: {args.traces:,} traces ({args.traces * 9 // 10:,} consented), loopback latency {args.latency_ms:.0f} ms, "
          f"{args.ragas_processes} ragas processes, run {'succeeded' if result.success else 'FAILED'} in {total:.0f} s")
    timings = sorted(((s.get("STEP_SUCCESS", s.get("STEP_FAILURE", 0)) - s["STEP_START"], key) for key, s in steps.items() if "STEP_START" in s), reverse=True)
    print(f"  {'step':<60}{'wall':>10} {'share':>5}{'RSS at its end':>16}{'its growth':>12}")
    for seconds, key in timings[:8]:
        start, end = steps[key]["STEP_START"], steps[key].get("STEP_SUCCESS", steps[key].get("STEP_FAILURE", 0))
        before, peak = rss.peak_mb(0, start), rss.peak_mb(0, end)
        print(f"  {key:<60}{seconds:>8.1f} s {seconds / total:>5.0%}{peak:>13,.0f} MB{peak - before:>+9,.0f} MB")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB (this process; the server is another)"
          + (f"; the ragas workers, together, {rss.peak_mb(0, time.time(), workers=True):,.0f} MB" if args.ragas_processes > 1 else ""))


if __name__ == "__main__":
    main()
