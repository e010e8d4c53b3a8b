"""judge_scores: an LLM-as-a-judge score in [0, 1] for every consented trace of the day."""

from datetime import datetime, timezone

import dagster as dg

from trace_assets.assets.daily_table_asset import daily_table_asset
from trace_assets.assets.score_store import ScoreTable, plan_window, score_and_store_window, window_metadata
from trace_assets.assets.summaries import column_sum, score_distribution, value_counts
from trace_assets.automation.pools import JUDGE_POOL
from trace_assets.io_managers.trace_window import TraceWindow
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.judge import JudgeRequest, JudgeResource
from trace_assets.tables.scores import JUDGE_SCORES_ICEBERG_SCHEMA, JUDGE_SCORES_TABLE

JUDGE_SCORES = ScoreTable(JUDGE_SCORES_TABLE, JUDGE_SCORES_ICEBERG_SCHEMA)

@daily_table_asset(JUDGE_SCORES_TABLE, group_name="scoring", kinds={"iceberg", "openai"}, pool=JUDGE_POOL)
def judge_scores(
    context: dg.AssetExecutionContext, iceberg_table: TraceWindow, judge: JudgeResource, iceberg: IcebergWarehouse
) -> dg.MaterializeResult:
    """Every consented trace of the window judged on the seed's rubric, with provenance; a trace
    whose content, judge model and prompt are unchanged keeps its stored score (no request)."""
    window = context.partition_time_window
    identity = {"scorer": judge.scorer, "judge_model": judge.model, "prompt_version": judge.prompt_version}
    plan = plan_window(iceberg, JUDGE_SCORES, window, iceberg_table, identity, context.log)

    def judge_chunk(traces: list[dict], on_progress) -> list[dict]:
        verdicts = judge.judge([JudgeRequest(t["input"] or "", t["output"] or "") for t in traces], on_progress=on_progress)
        scored_at = datetime.now(timezone.utc)
        return [
            {
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
            for verdict in verdicts
        ]

    scored, commit = score_and_store_window(iceberg, JUDGE_SCORES, window, plan, judge_chunk, context.log)

    new = scored.new_summary(["error_kind", "tokens_in", "tokens_out"])
    errors = value_counts(new, "error_kind")
    if errors:
        context.log.warning(f"judge errors: {errors}")
    scores = scored.summary(["judge_score"]).column("judge_score")
    return dg.MaterializeResult(
        metadata={
            **window_metadata(window, scored),
            "errors": sum(errors.values()),
            "errors_by_kind": dg.MetadataValue.json(errors),
            "error_rate": scores.null_count / len(scores) if len(scores) else 0.0,
            "score_distribution": score_distribution(scores),
            "tokens_in": column_sum(new, "tokens_in"),
            "tokens_out": column_sum(new, "tokens_out"),
            "judge_model": judge.model,
            "prompt_version": judge.prompt_version,
            "estimated_cost_usd": round(judge.fleet_cost_usd(scored.seconds) if scored.new_rows else 0.0, 4),
            "snapshot_id": str(commit.snapshot_id),
        }
    )
