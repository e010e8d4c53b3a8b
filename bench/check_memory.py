"""Peak memory of each blocking check (trace_assets/checks.py) on a day of N consented traces, each
check in its own fresh process (as Dagster's multiprocess executor runs a check step in a run pod),
against the old whole-table way on a smaller day.

    python bench/check_memory.py --traces 1000000 --old-traces 100000

The day is bench/scoring_memory.py's: `seed_day` puts N generated traces (~3.3 KB each) in the
Iceberg traces table with a judge and a ragas score row for every one of them, then
labeled_dataset is materialized in its own process (`scoring_memory.measure`); so every check has
the whole day to read, and passes.

Each check is `dagster.materialize` of that one check (with an empty asset of the same daily
partitions: a run of checks alone has no partition) in a fresh Python process, which imports the
code location first; printed per check: that process's RSS once the code is imported (its floor),
its peak RSS (VmHWM), the verdict and the problems it counted, and its wall time.

The old way is the checks as they were at commit OLD_WAY (the inputs loaded as whole Arrow tables,
walked as Python rows): that commit's package is extracted with `git archive` and put first on the
check process's path. It holds GBs at 1M traces, so it runs on a day of `--old-traces`
(default 100,000), where the new way is measured too for a like-for-like row; `--old-traces 0`
leaves it out.
"""

import sys

# A check process of the old way (--package) takes that commit's trace_assets before the installed
# one. trace_assets comes first, before pyarrow loads, as in a step process: it picks Arrow's
# allocator (arrow_memory.py); the old package predates that, and inherits the variable from this
# script's parent, so the two ways differ by their checks alone.
if "--package" in sys.argv:
    sys.path.insert(0, sys.argv[sys.argv.index("--package") + 1])
import trace_assets  # noqa: E402,F401

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from process_memory import own_status_mb  # noqa: E402
from scoring_memory import DAY, TARGET_MB, measure as measure_step, seed_day  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OLD_WAY = "bc7ff95e3dc34069b60f9fdc96bf471abdee229a"  # the last commit whose checks took whole tables
CHECKS = (
    "judge_scores_are_scores",
    "ragas_scores_are_scores",
    "judge_error_rate",
    "ragas_error_rate",
    "judge_scores_cover_the_day",
    "ragas_scores_cover_the_day",
    "labeled_dataset_holds_only_consented_traces",
    "labeled_dataset_has_no_duplicate_traces",
    "final_reward_matches_the_formula",
)
NO_FLEET = "http://127.0.0.1:9/v1"  # nothing is scored: the resources only need a URL


def run_check(check_name: str, folder: str) -> dict:
    """Run the one check `check_name` for DAY in this process; its verdict and its memory."""
    import dagster as dg

    from trace_assets.assets.iceberg_table import iceberg_table
    from trace_assets.assets.judge_scores import judge_scores
    from trace_assets.assets.labeled_dataset import labeled_dataset
    from trace_assets.assets.ragas_scores import ragas_scores
    from trace_assets.checks import build_checks
    from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
    from trace_assets.partitions import daily_partitions
    from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
    from trace_assets.resources.judge import JudgeResource
    from trace_assets.resources.ragas_scorer import RagasResource
    from trace_assets.resources.trace_lake import TraceLake

    [check] = [c for c in build_checks() if next(iter(c.check_keys)).name == check_name]

    @dg.asset(partitions_def=daily_partitions)
    def partition_anchor() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    warehouse = IcebergWarehouse(local_fallback_dir=f"{folder}/iceberg")
    resources = {
        "trace_lake": TraceLake(uri=f"{folder}/lake"),
        "iceberg": warehouse,
        "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        "judge": JudgeResource(base_url=NO_FLEET),
        "ragas": RagasResource(llm_base_url=NO_FLEET, embeddings_base_url=NO_FLEET),
    }
    floor_mb = own_status_mb("VmRSS")
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [iceberg_table, judge_scores, ragas_scores, labeled_dataset, partition_anchor, check],
            selection=dg.AssetSelection.checks(check) | dg.AssetSelection.assets(partition_anchor),
            resources=resources, partition_key=DAY.date().isoformat(), instance=instance, raise_on_error=False,
        )
    seconds = time.perf_counter() - started
    evaluations = result.get_asset_check_evaluations()
    if len(evaluations) != 1:  # the check did not run to a verdict (a failed blocking check still has one)
        failures = [event.event_specific_data.error.to_string() for event in result.all_events if event.is_step_failure]
        raise RuntimeError(f"{check_name} ended without a verdict:\n" + "\n".join(failures))
    [evaluation] = evaluations
    problems = evaluation.metadata.get("problems")
    return {"check": check_name, "passed": evaluation.passed, "problems": problems.value if problems else "-",
            "seconds": seconds, "floor_mb": floor_mb, "peak_mb": own_status_mb("VmHWM"),
            "package": str(Path(sys.modules["trace_assets"].__file__).parent),
            "allocator": sys.modules["pyarrow"].default_memory_pool().backend_name}


def measure(check_name: str, folder: str, old_package: str | None = None) -> dict:
    """`run_check` in a fresh process, on the old way's package when `old_package` is given."""
    completed = subprocess.run(
        [sys.executable, __file__, "--check", check_name, "--folder", folder, *(["--package", old_package] if old_package else [])],
        capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{check_name} failed:\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    ran_old = Path(result["package"]).is_relative_to(old_package) if old_package else False
    if ran_old != bool(old_package):
        raise RuntimeError(f"{check_name} ran the package in {result['package']}, not the {'old' if old_package else 'new'} way")
    return result


def extract_old_way(into: str) -> str:
    """OLD_WAY's trace_assets package, extracted under `into`; the folder to put first on the path."""
    Path(into).mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", OLD_WAY, "trace_assets"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
    return into


def prepared_day(folder: str, traces: int) -> dict:
    """Seed a day of `traces` in `folder` and materialize labeled_dataset over it."""
    started = time.perf_counter()
    seed_day(folder, traces, fresh_judge=0, fresh_ragas=0)
    seeded = time.perf_counter() - started
    labeled = measure_step("labeled_dataset", folder, NO_FLEET, ragas_processes=1)
    print(f"day of {traces:,} traces: seeded in {seeded:.0f} s; labeled_dataset {labeled['rows']:,} rows in "
          f"{labeled['seconds']:.0f} s (peak {labeled['peak_mb']:.0f} MB)", flush=True)
    return labeled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1_000_000, help="consented traces of the day the new way runs on")
    parser.add_argument("--old-traces", type=int, default=100_000,
                        help="traces of the day the old way (and the new, alongside) runs on; 0: not measured")
    parser.add_argument("--checks", default=",".join(CHECKS), help="comma-separated")
    parser.add_argument("--check", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--package", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        # The code location's imports come first: they are the floor every step process starts from.
        import trace_assets.definitions  # noqa: F401

        print(json.dumps(run_check(args.check, args.folder)))
        return

    checks = args.checks.split(",")
    print(f"check memory benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", flush=True)
    runs: dict[tuple[str, int], dict[str, dict]] = {}  # (way, traces) -> check -> result
    with tempfile.TemporaryDirectory(prefix="check-memory-") as scratch:
        sizes = sorted({args.traces, *([args.old_traces] if args.old_traces else [])})
        old_package = extract_old_way(f"{scratch}/old-way") if args.old_traces else None
        for traces in sizes:
            folder = f"{scratch}/day-{traces}"
            Path(folder).mkdir()
            prepared_day(folder, traces)
            ways = ["new", *(["old"] if traces == args.old_traces else [])]
            for way in ways:
                for check_name in checks:
                    result = measure(check_name, folder, old_package if way == "old" else None)
                    runs.setdefault((way, traces), {})[check_name] = result
                    print(f"  {way} way, {traces:>9,} traces  {check_name:<44} {'passed' if result['passed'] else 'FAILED'}"
                          f"  problems {result['problems']}  floor {result['floor_mb']:4.0f} MB"
                          f"  peak {result['peak_mb']:5.0f} MB  {result['seconds']:5.0f} s", flush=True)

    columns = sorted(runs, key=lambda key: (key[1], key[0] != "old"))
    print(f"\npeak RSS per check step, its own process (target {TARGET_MB} MB; floor = RSS once the code location is imported)")
    header = "".join(f"{f'{way} way @ {traces:,}':>22}" for way, traces in columns)
    print(f"  {'check':<44}{header}")
    for check_name in checks:
        cells = []
        for key in columns:
            r = runs[key][check_name]
            cells.append(f"{r['peak_mb']:>11,.0f} MB {'pass' if r['passed'] else 'FAIL'}")
        print(f"  {check_name:<44}{''.join(f'{cell:>22}' for cell in cells)}")
    new_big = runs[("new", args.traces)]
    worst = max(new_big.values(), key=lambda r: r["peak_mb"])
    verdict = "within" if worst["peak_mb"] <= TARGET_MB else "OVER"
    print(f"  new way at {args.traces:,} traces: highest {worst['peak_mb']:,.0f} MB ({worst['check']}), {verdict} {TARGET_MB} MB")
    if args.old_traces:
        print(f"  old way: the checks of commit {OLD_WAY[:10]} (whole tables, Python rows), measured at {args.old_traces:,} traces")
    allocators = sorted({r["allocator"] for results in runs.values() for r in results.values()})
    print(f"  Arrow's allocator in the check processes: {', '.join(allocators)}")


if __name__ == "__main__":
    main()
