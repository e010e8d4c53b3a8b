"""judge_scores: an LLM-as-a-judge score in [0, 1] for every consented trace of the day."""

import time
from collections import Counter
from datetime import datetime, timezone

import dagster as dg
import pyarrow as pa

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.summaries import score_distribution, window_text
from trace_assets.io_managers.iceberg_window_io_manager import PARTITION_EXPR_METADATA_KEY, TABLE_METADATA_KEY
from trace_assets.partitions import daily_partitions
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.judge import JudgeRequest, JudgeResource
from trace_assets.score_tables import BY_DAY, JUDGE_SCORES_ICEBERG_SCHEMA, JUDGE_SCORES_SCHEMA, JUDGE_SCORES_TABLE
from trace_assets.scoring.progress import ProgressLog
from trace_assets.scoring.scoring_plan import plan_scoring

@dg.asset(
    partitions_def=daily_partitions,
    # Day by day: a backfill of months must not send the judge fleet a month of traces in one run.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    io_manager_key="iceberg_io_manager",
    kinds={"iceberg", "openai"},
    group_name="scoring",
    metadata={TABLE_METADATA_KEY: JUDGE_SCORES_TABLE, PARTITION_EXPR_METADATA_KEY: "timestamp"},
)
def judge_scores(
    context: dg.AssetExecutionContext, iceberg_table: pa.Table, judge: JudgeResource, iceberg: IcebergWarehouse
) -> dg.MaterializeResult:
    """Every consented trace of the window judged on the seed's rubric, with provenance; a trace
    whose content, judge model and prompt are unchanged keeps its stored score (no request)."""
    window = context.partition_time_window
    identity = {"scorer": judge.scorer, "judge_model": judge.model, "prompt_version": judge.prompt_version}
    stored = iceberg.read_window(JUDGE_SCORES_TABLE, "timestamp", window.start, window.end)
    plan = plan_scoring(iceberg_table, stored, identity)
    fresh = plan.fresh
    context.log.info(f"{len(plan.traces)} consented traces: {len(plan.traces) - len(fresh)} scores reused, {len(fresh)} to judge")
    started = time.monotonic()
    verdicts = judge.judge(
        [JudgeRequest(plan.traces[i]["input"] or "", plan.traces[i]["output"] or "") for i in fresh],
        on_progress=ProgressLog(context.log, "judge_scores"),
    )
    elapsed_s = time.monotonic() - started
    scored_at = datetime.now(timezone.utc)
    new_rows = {
        i: {
            **plan.provenance(i),
            **identity,
            "judge_score": verdict.score,
            "reasoning": verdict.reasoning,
            "error": verdict.error,
            "error_kind": verdict.error_kind,
            "tokens_in": verdict.tokens_in,
            "tokens_out": verdict.tokens_out,
            "latency_ms": verdict.latency_ms,
            "scored_at": scored_at,
        }
        for i, verdict in zip(fresh, verdicts)
    }
    rows = plan.rows(new_rows)
    table = iceberg.ensure_table(JUDGE_SCORES_TABLE, JUDGE_SCORES_ICEBERG_SCHEMA, BY_DAY, {})
    scores = pa.Table.from_pylist(rows, schema=JUDGE_SCORES_SCHEMA)
    commit = iceberg.replace_window(table, "timestamp", window.start, window.end, JUDGE_SCORES_SCHEMA, scores.to_batches())

    errors = Counter(row["error_kind"] for row in new_rows.values() if row["error_kind"])
    if errors:
        context.log.warning(f"judge errors: {dict(errors)}")
    tokens_in = sum(row["tokens_in"] for row in new_rows.values())
    tokens_out = sum(row["tokens_out"] for row in new_rows.values())
    return dg.MaterializeResult(
        metadata={
            "window": window_text(window),
            "dagster/row_count": len(rows),
            "scored": len(new_rows),
            "reused": len(rows) - len(new_rows),
            "errors": sum(errors.values()),
            "errors_by_kind": dg.MetadataValue.json(dict(errors)),
            "error_rate": sum(1 for row in rows if row["judge_score"] is None) / len(rows) if rows else 0.0,
            "score_distribution": score_distribution([row["judge_score"] for row in rows]),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "judge_model": judge.model,
            "prompt_version": judge.prompt_version,
            "estimated_cost_usd": round(judge.fleet_cost_usd(elapsed_s) if new_rows else 0.0, 4),
            "snapshot_id": str(commit.snapshot_id),
        }
    )
