"""Peak memory of the scoring steps' parent processes (judge_scores, ragas_scores), of
labeled_dataset and of reward_quality on a day of N consented traces, each step in its own process
(as Dagster's multiprocess executor runs them in a run pod).

    python bench/scoring_memory.py --traces 1000000 --fresh-judge 20000 --fresh-ragas 1000

The day (input ~300 characters, output ~1.5 KB, three ~500-character contexts: ~3.3 KB a trace,
four models) is generated as Arrow and committed to the Iceberg traces table (SQLite catalog,
local warehouse in a temporary folder). Scoring every trace is out of reach here (ragas' client
side is ~20 traces/s a process), so the score tables are seeded with the rows a previous run
would have stored, for every trace but `--fresh-judge` / `--fresh-ragas` of them: each scoring
step still reads, hashes and plans all N traces, scores the fresh ones for real (the judge client,
ragas in its worker processes) against a loopback OpenAI-compatible fleet, and commits N rows.
labeled_dataset then joins the N traces to the N score rows of each. reward_quality reads the
day's labeled rows, the feedback of 10% of the traces (`feedback_score` in their metadata), judges
its 2% consistency sample again against the fleet, and compares the day with `--trailing-days`
earlier days of N labeled rows each, seeded into the labeled table (rewards and models; no text).
langfuse_scores posts the day's three rewards per trace to a loopback Langfuse ingestion endpoint
(its own process, 207 answers as Langfuse gives them; the pacing set far above what it reaches).

Each step is `dagster.materialize` of that one asset in a fresh Python process; printed: the
process's RSS once the code is imported (its floor), its peak RSS (VmHWM; the ragas workers are
separate processes, not counted), and the step's wall time. `seed_day(folder, traces, ...)` and
`run_step(step, folder, base_url)` are the two pieces a step-by-step bench can call.
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from process_memory import own_status_mb  # noqa: E402

DAY = datetime(2026, 4, 18, tzinfo=timezone.utc)
STEPS = ("judge_scores", "ragas_scores", "labeled_dataset", "reward_quality", "langfuse_scores")
TARGET_MB = 512
ROWS_AT_ONCE = 10_000
MODELS = ("gpt-4o-mini", "qwen3-32b", "llama-3.3-70b", "mistral-large")
REASONING = ("The answer addresses the question directly and stays consistent with the retrieved context; "
             "it omits one detail the user asked about and could be shorter, but nothing in it is wrong. ") * 2


def _texts(count: int, length: int, seed: int) -> list[str]:
    words = [f"w{(seed * 7919 + i * 104729) % 5003}" for i in range(length)]
    text = " ".join(words)
    return [text[(i * 13) % 50:][:length] for i in range(count)]


def day_batches(traces: int):
    """The day's traces, ROWS_AT_ONCE at a time, in the traces table's schema: unique text per
    trace (its id first), the rest from a few long strings."""
    from trace_assets.tables.traces import LANDED_TRACE_SCHEMA

    inputs, outputs, contexts = _texts(97, 300, 1), _texts(89, 1500, 2), _texts(83, 500, 3)
    seconds = 86_400 / max(traces, 1)
    for start in range(0, traces, ROWS_AT_ONCE):
        n = min(ROWS_AT_ONCE, traces - start)
        ids = pa.array([str(uuid.UUID(int=(start + i) * 2654435761 + 1)) for i in range(n)], pa.string())
        picks = [(start + i) for i in range(n)]
        columns = {
            "id": ids,
            "timestamp": pa.array([DAY + timedelta(seconds=p * seconds) for p in picks], pa.timestamp("us", tz="UTC")),
            "user_id": pa.array([f"user-{p % 5000}" for p in picks]),
            "session_id": pa.array([f"session-{p // 4}" for p in picks]),
            "input": pc.binary_join_element_wise(ids, pa.array([inputs[p % 97] for p in picks]), " "),
            "output": pc.binary_join_element_wise(ids, pa.array([outputs[p % 89] for p in picks]), " "),
            "model": pa.array([MODELS[p % len(MODELS)] for p in picks]),
            "latency_ms": pa.array([800 + p % 700 for p in picks], pa.int64()),
            "token_count": pa.array([900 + p % 400 for p in picks], pa.int64()),
            "consent": pa.array([True] * n),
            "metadata_json": pa.array([
                json.dumps({"env": "prod", "feature": f"f{p % 7}", **({"feedback_score": 1 + p % 5} if p % 10 == 0 else {})})
                for p in picks
            ]),
            "contexts": pa.array([[contexts[(p + k) % 83] for k in range(3)] for p in picks], pa.list_(pa.string())),
            "messages": pa.nulls(n, pa.string()),
            "redaction": pa.nulls(n, pa.string()),
        }
        yield pa.RecordBatch.from_arrays([columns[f.name].cast(f.type) for f in LANDED_TRACE_SCHEMA], schema=LANDED_TRACE_SCHEMA)


def seed_day(folder: str, traces: int, fresh_judge: int, fresh_ragas: int, trailing_days: int = 0) -> None:
    """The day's traces in the Iceberg traces table, and the judge and ragas score rows a previous
    run stored for all of them but the first `fresh_judge` / `fresh_ragas` (those get scored); and
    `trailing_days` earlier days of `traces` labeled rows each in the labeled table."""
    from trace_assets.assets.judge_scores import JUDGE_SCORES
    from trace_assets.assets.ragas_scores import RAGAS_SCORES
    from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
    from trace_assets.resources.judge import JudgeResource
    from trace_assets.resources.ragas_scorer import RagasResource
    from trace_assets.tables.labeled import LABELED_ICEBERG_SCHEMA, LABELED_SCHEMA, LABELED_TABLE
    from trace_assets.tables.scores import BY_DAY
    from trace_assets.scoring.content_hash import content_hash
    from trace_assets.tables.traces import LANDED_TRACE_SCHEMA, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, TRACES_TABLE

    warehouse = IcebergWarehouse(local_fallback_dir=f"{folder}/iceberg")
    judge = JudgeResource(base_url="http://127.0.0.1:9/v1")
    ragas = RagasResource(llm_base_url="http://127.0.0.1:9/v1", embeddings_base_url="http://127.0.0.1:9/v1")
    end = DAY + timedelta(days=1)
    table = warehouse.ensure_table(TRACES_TABLE, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, {"write.parquet.compression-codec": "snappy"})
    provenance: list[tuple] = []  # (trace_id, timestamp, content_hash) of every trace, in order

    def hashed(batches):
        for batch in batches:
            for trace in batch.select(["id", "timestamp", "input", "output", "contexts", "redaction"]).to_pylist():
                digest = content_hash(trace["input"], trace["output"], trace["contexts"], trace["redaction"])
                provenance.append((trace["id"], trace["timestamp"], digest))
            yield batch

    warehouse.replace_window(table, "timestamp", DAY, end, LANDED_TRACE_SCHEMA, hashed(day_batches(traces)))

    def score_rows(make_row, skip: int):
        for start in range(skip, len(provenance), ROWS_AT_ONCE):
            yield pa.RecordBatch.from_pylist([
                {"trace_id": trace_id, "timestamp": timestamp, "date": DAY.date(), "content_hash": digest,
                 "scored_at": DAY, **make_row(position)}
                for position, (trace_id, timestamp, digest) in enumerate(provenance[start:start + ROWS_AT_ONCE], start)
            ])

    # the identities as the assets build them (scorer_version reads the installed ragas version: once)
    judge_identity = {"scorer": judge.scorer, "judge_model": judge.model, "prompt_version": judge.prompt_version}
    ragas_identity = {"scorer": ragas.scorer, "llm_model": ragas.llm_model, "embeddings_model": ragas.embeddings_model,
                      "scorer_version": ragas.scorer_version}

    def judged(position: int) -> dict:
        return {**judge_identity, "judge_score": (position % 11) / 10, "reasoning": REASONING, "tokens_in": 600, "tokens_out": 80,
                "latency_ms": 900.0}

    def measured(position: int) -> dict:
        value = (position % 7) / 6
        return {**ragas_identity, "faithfulness": value, "answer_relevancy": value,
                "answer_relevancy_raw": value, "context_precision": value, "ragas_reward": value, "llm_calls": 7,
                "tokens_in": 4000, "tokens_out": 500, "latency_ms": 3000.0}

    for scores, make_row, skip in ((JUDGE_SCORES, judged, fresh_judge), (RAGAS_SCORES, measured, fresh_ragas)):
        stored = warehouse.ensure_table(scores.identifier, scores.iceberg_schema, BY_DAY, {})
        warehouse.replace_window(stored, "timestamp", DAY, end, scores.arrow_schema, score_rows(make_row, skip))
    if trailing_days:
        labeled = warehouse.ensure_table(LABELED_TABLE, LABELED_ICEBERG_SCHEMA, BY_DAY, {})
        first = DAY - timedelta(days=trailing_days)
        warehouse.replace_window(labeled, "timestamp", first, DAY, LABELED_SCHEMA, trailing_labeled_batches(first, trailing_days, traces))


def trailing_labeled_batches(first: datetime, days: int, traces: int):
    """`traces` labeled rows a day for `days` days from `first`: models, timestamps and rewards
    (the judge's on an 11-point scale, ragas' and the final reward continuous); no text."""
    from trace_assets.tables.labeled import LABELED_SCHEMA

    rng = np.random.default_rng(11)
    seconds = 86_400 / max(traces, 1)
    for day in range(days):
        for start in range(0, traces, 100_000):
            n = min(100_000, traces - start)
            positions = np.arange(start, start + n)
            judge = rng.integers(0, 11, n) / 10
            ragas = rng.random(n)
            columns = {
                "trace_id": pa.array([f"trailing-{day}-{p}" for p in positions]),
                "timestamp": pa.array(
                    np.datetime64(first.replace(tzinfo=None) + timedelta(days=day), "us")
                    + (positions * seconds * 1e6).astype("timedelta64[us]")
                ).cast(pa.timestamp("us", tz="UTC")),
                "model": pa.array([MODELS[p % len(MODELS)] for p in positions]),
                "consent": pa.array(np.ones(n, bool)),
                "judge_score": pa.array(judge),
                "ragas_reward": pa.array(ragas),
                "ragas_weight": pa.array(np.full(n, 0.6)),
                "judge_weight": pa.array(np.full(n, 0.4)),
                "final_reward": pa.array(0.6 * ragas + 0.4 * judge),
                "labeled_at": pa.array([first] * n, pa.timestamp("us", tz="UTC")),
            }
            yield pa.RecordBatch.from_arrays(
                [columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in LABELED_SCHEMA],
                schema=LABELED_SCHEMA,
            )


def run_step(step: str, folder: str, base_url: str, ragas_processes: int = 2, langfuse_host: str | None = None) -> dict:
    """Materialize `step` for DAY in this process; its rows, what it scored, and its memory."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from trace_assets.assets.iceberg_table import iceberg_table
    from trace_assets.assets.judge_scores import judge_scores
    from trace_assets.assets.labeled_dataset import labeled_dataset
    from trace_assets.assets.langfuse_scores import langfuse_scores
    from trace_assets.assets.ragas_scores import ragas_scores
    from trace_assets.assets.reward_quality import reward_quality
    from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
    from trace_assets.resources.duckdb_source import DuckDBTraceSource
    from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
    from trace_assets.resources.judge import JudgeResource
    from trace_assets.resources.langfuse_api_source import LangfuseApiSource
    from trace_assets.resources.ragas_scorer import RagasResource
    from trace_assets.resources.reward_quality_settings import RewardQualitySettings
    from trace_assets.resources.trace_lake import TraceLake

    warehouse = IcebergWarehouse(local_fallback_dir=f"{folder}/iceberg")
    resources = {
        "trace_source": DuckDBTraceSource(duckdb=DuckDBResource(database=":memory:")),  # reward_quality's: no human scores
        "reward_quality_settings": RewardQualitySettings(),
        "trace_lake": TraceLake(uri=f"{folder}/lake"),
        "iceberg": warehouse,
        "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        "judge": JudgeResource(base_url=base_url),
        "ragas": RagasResource(llm_base_url=base_url, embeddings_base_url=base_url, processes=ragas_processes),
    }
    if langfuse_host:
        from loopback_langfuse_ingestion import PUBLIC_KEY, SECRET_KEY

        resources["langfuse_api"] = LangfuseApiSource(
            host=langfuse_host, public_key=PUBLIC_KEY, secret_key=SECRET_KEY, requests_per_minute=100_000
        )
    floor_mb = own_status_mb("VmRSS")
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [iceberg_table, judge_scores, ragas_scores, labeled_dataset, reward_quality, *([langfuse_scores] if langfuse_host else [])],
            selection=[step], resources=resources,
            partition_key=DAY.date().isoformat(), instance=instance, raise_on_error=True,
        )
    seconds = time.perf_counter() - started
    metadata = result.asset_materializations_for_node(step)[0].metadata
    scored = metadata["scored"].value if "scored" in metadata else metadata["scores_posted"].value if "scores_posted" in metadata else None
    rows = metadata["dagster/row_count"].value if "dagster/row_count" in metadata else metadata["labeled_traces"].value
    return {"step": step, "rows": rows, "scored": scored, "seconds": seconds,
            "floor_mb": floor_mb, "peak_mb": own_status_mb("VmHWM")}


def measure(step: str, folder: str, base_url: str, ragas_processes: int, langfuse_host: str | None = None) -> dict:
    """`run_step` in a fresh process."""
    completed = subprocess.run(
        [sys.executable, __file__, "--step", step, "--folder", folder, "--base-url", base_url,
         "--ragas-processes", str(ragas_processes), *(["--langfuse-host", langfuse_host] if langfuse_host else [])],
        capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=50_000, help="consented traces of the day")
    parser.add_argument("--fresh-judge", type=int, default=20_000, help="traces judge_scores scores anew (the rest reused)")
    parser.add_argument("--fresh-ragas", type=int, default=500, help="traces ragas_scores scores anew (the rest reused)")
    parser.add_argument("--ragas-processes", type=int, default=2)
    parser.add_argument("--trailing-days", type=int, default=7, help="earlier labeled days reward_quality compares with")
    parser.add_argument("--latency-ms", type=float, default=20, help="the loopback fleet's answer latency")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated, in order")
    parser.add_argument("--folder", help="keep the day in this folder (seeded when empty) instead of a temporary one")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--langfuse-host", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args.folder, args.base_url, args.ragas_processes, args.langfuse_host)))
        return

    from loopback_fleet import running_fleet
    from loopback_langfuse_ingestion import ingestion_stats, running_ingestion

    with tempfile.TemporaryDirectory(prefix="scoring-memory-") as scratch:
        folder = args.folder or scratch
        if not Path(folder, "iceberg").exists():
            started = time.perf_counter()
            seed_day(folder, args.traces, args.fresh_judge, args.fresh_ragas, args.trailing_days)
            print(f"seeded {args.traces:,} traces and their stored scores in {time.perf_counter() - started:.0f} s "
                  f"(judge: {args.fresh_judge:,} fresh, ragas: {args.fresh_ragas:,} fresh; {args.trailing_days} trailing "
                  f"labeled days)", flush=True)
        results = []
        steps = args.steps.split(",")
        with running_fleet(args.latency_ms / 1000, ragas=True) as (_, base_url), (
            running_ingestion() if "langfuse_scores" in steps else contextlib.nullcontext()
        ) as langfuse_host:
            for step in steps:
                results.append(measure(step, folder, base_url, args.ragas_processes, langfuse_host if step == "langfuse_scores" else None))
                r = results[-1]
                if step == "langfuse_scores":
                    taken = ingestion_stats(langfuse_host)
                    print(f"  (the ingestion endpoint took {sum(taken['scores_by_name'].values()):,} scores in "
                          f"{taken['requests']:,} requests, {taken['bytes'] / 1e6:,.0f} MB)", flush=True)
                print(f"  {r['step']:<16} rows {r['rows']:>9,}  scored {r['scored'] if r['scored'] is not None else '-':>7}  "
                      f"floor {r['floor_mb']:5.0f} MB  peak {r['peak_mb']:5.0f} MB  {r['seconds']:6.0f} s", flush=True)
    print(f"\n{args.traces:,} consented traces, {datetime.now(timezone.utc):%Y-%m-%d}: peak RSS per step (target {TARGET_MB} MB)")
    for r in results:
        verdict = "within" if r["peak_mb"] <= TARGET_MB else "OVER"
        print(f"  {r['step']:<16} {r['peak_mb']:5.0f} MB  {verdict}")


if __name__ == "__main__":
    main()
