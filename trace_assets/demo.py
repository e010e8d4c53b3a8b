"""The README's first command: the whole graph over the bundled sample days on the embedded
defaults (DuckDB sample source, local lake, SQLite Iceberg catalog, and the offline scorer unless
JUDGE_BASE_URL is set), recorded in a persistent DAGSTER_HOME so `make ui` shows the runs."""

import os
import sys
import warnings
from pathlib import Path

import dagster as dg

from trace_assets.dagster_home import prepare_dagster_home
from trace_assets.demo_progress import step_lines_logger
from trace_assets.environments import DEFAULT_LOCAL_LAKE
from trace_assets.sample_data.generate import SAMPLE_DAYS

EXAMPLES = 3
# A job's loggers are used only when the run config names them (else Dagster's DEBUG console).
STEP_LINES = {"loggers": {"console": {}}}


def main() -> int:
    # Dagster's notes to developers about its own APIs (beta, preview) are not the demo's news.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    warnings.filterwarnings("ignore", message="Asset job .* materializes assets with varying BackfillPolicies")
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("data/dagster_home").resolve())))
    prepare_dagster_home(home)
    os.environ.setdefault("TRACE_LAKE_URI", str(DEFAULT_LOCAL_LAKE.resolve()))

    from trace_assets.definitions import defs  # after the environment is set: it picks the resources

    def job(name: str) -> dg.JobDefinition:
        # One line per step here; the full event log goes to the instance, where `make ui` shows it.
        return defs.resolve_job_def(name).with_logger_defs({"console": step_lines_logger})

    print(f"Dagster's full event log is kept in DAGSTER_HOME={home} (`make ui` shows it).", flush=True)
    with dg.DagsterInstance.get() as instance:
        # Ingestion takes the three days in one run (a single-run backfill); scoring goes day by day.
        print(f"\ningest_traces {SAMPLE_DAYS[0]}..{SAMPLE_DAYS[-1]} (one run)", flush=True)
        runs = [
            job("ingest_traces").execute_in_process(
                run_config=STEP_LINES,
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": SAMPLE_DAYS[0],
                    "dagster/asset_partition_range_end": SAMPLE_DAYS[-1],
                    "trace_assets/reason": "demo",
                },
                raise_on_error=False,
            )
        ]
        if runs[0].success:
            for day in SAMPLE_DAYS:
                print(f"\nlabel_traces {day}", flush=True)
                runs.append(
                    job("label_traces").execute_in_process(
                        run_config=STEP_LINES,
                        instance=instance, partition_key=day, tags={"trace_assets/reason": "demo"}, raise_on_error=False
                    )
                )
                if not runs[-1].success:
                    break
    if not all(run.success for run in runs):
        print(f"A demo run failed (above); its whole event log is in the UI: `make ui`, run {runs[-1].run_id}.", file=sys.stderr)
        return 1
    print_summary(defs, runs)
    return 0


def print_summary(defs: dg.Definitions, runs) -> None:
    lake = defs.resources["trace_lake"]
    catalog = defs.resources["iceberg"].catalog()
    judge = defs.resources["judge"]
    print(f"\nLanded and labeled the sample days {', '.join(SAMPLE_DAYS)} (UTC) in {len(runs)} runs.")
    ingest = _metadata_by_asset(runs[0])
    for name in ("raw_traces", "iceberg_table"):
        print(f"\n== {name}: {ingest[name]['dagster/row_count']} rows")
        print(ingest[name]["rows_by_day_model_consent"])
    raw = ingest["raw_traces"]
    print(f"\nwithout consent, not landed: {raw['without_consent_not_landed']}; rejected: {raw['rows_rejected']}")
    for reason, detail in raw["rejections"].items():
        print(f"  {reason}: {detail['rows']} (e.g. {', '.join(detail['sample_ids'])})")

    print(f"\n== scoring: {judge.scorer} ({judge.model})")
    for run in runs[1:]:
        scored = _metadata_by_asset(run)
        print(
            f"  {run.dagster_run.tags.get('dagster/partition')}: judge_scores {scored['judge_scores']['dagster/row_count']}, "
            f"ragas_scores {scored['ragas_scores']['dagster/row_count']}, labeled_dataset "
            f"{scored['labeled_dataset']['dagster/row_count']} rows (preferred {scored['labeled_dataset']['preferred']}, "
            f"neutral {scored['labeled_dataset']['neutral']}, dispreferred {scored['labeled_dataset']['dispreferred']})"
        )

    labeled = catalog.load_table("training_data.labeled_traces").scan().to_arrow()
    rewarded = sorted((row for row in labeled.to_pylist() if row["final_reward"] is not None), key=lambda r: r["final_reward"])
    print(f"\n== final_reward over {labeled.num_rows} labeled traces ({len(rewarded)} with a reward)")
    print(_histogram([row["final_reward"] for row in rewarded]))
    print("\nbest:")
    for row in reversed(rewarded[-EXAMPLES:]):
        print(_example(row))
    print("worst:")
    for row in rewarded[:EXAMPLES]:
        print(_example(row))

    print(f"\nLabeled dataset: {lake.location(lake.root)}/labeled-dataset/date=YYYY-MM-DD/part-N.parquet")
    print(f"                 and the Iceberg table training_data.labeled_traces ({catalog.load_table('training_data.labeled_traces').location()})")
    print(f"Traces:          {lake.location(lake.traces_root)}/ and training_data.langfuse_traces")
    print(f"Runs are recorded in DAGSTER_HOME={os.environ['DAGSTER_HOME']}: `make ui` shows them in the Dagster UI.")


def _metadata_by_asset(run) -> dict:
    found = {}
    for event in run.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        found.setdefault(
            materialization.asset_key.to_user_string(),
            {key: value.value for key, value in materialization.metadata.items()},
        )
    return found


def _histogram(values: list[float]) -> str:
    counts = [0] * 10
    for value in values:
        counts[min(int(value * 10), 9)] += 1
    width = max(counts) or 1
    return "\n".join(f"  {b / 10:.1f}-{(b + 1) / 10:.1f} {'#' * round(30 * n / width):<30} {n}" for b, n in enumerate(counts))


def _example(row: dict) -> str:
    question = " ".join((row["input"] or "").split())[:70]
    answer = " ".join((row["output"] or "").split())[:70]
    return f"  {row['final_reward']:.2f} [{row['preference']}] {row['model']}: Q: {question}\n{'':8}A: {answer}"


if __name__ == "__main__":
    sys.exit(main())
