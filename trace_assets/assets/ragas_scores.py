"""ragas_scores: faithfulness, answer relevancy and context precision for every consented trace."""

import json
from collections import Counter
from datetime import datetime, timezone

import dagster as dg
import pyarrow.compute as pc

from trace_assets.assets.daily_table_asset import daily_table_asset
from trace_assets.assets.score_store import ScoreTable, plan_window, score_and_store_window, window_metadata
from trace_assets.assets.summaries import column_sum, score_distribution
from trace_assets.automation.pools import JUDGE_POOL
from trace_assets.io_managers.trace_window import TraceWindow
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.ragas_scorer import RagasRequest, RagasResource
from trace_assets.scoring.context_budget import EXCEEDS_JUDGE_CONTEXT
from trace_assets.tables.scores import RAGAS_SCORES_ICEBERG_SCHEMA, RAGAS_SCORES_TABLE

RAGAS_SCORES = ScoreTable(RAGAS_SCORES_TABLE, RAGAS_SCORES_ICEBERG_SCHEMA)

@daily_table_asset(RAGAS_SCORES_TABLE, group_name="scoring", kinds={"iceberg", "openai"}, pool=JUDGE_POOL)
def ragas_scores(
    context: dg.AssetExecutionContext, iceberg_table: TraceWindow, ragas: RagasResource, iceberg: IcebergWarehouse
) -> dg.MaterializeResult:
    """Ragas metrics of every consented trace of the window and
    ragas_reward = 0.5*faithfulness + 0.3*answer_relevancy + 0.2*context_precision (renormalised
    over the metrics that apply); unchanged traces keep their stored scores."""
    window = context.partition_time_window
    identity = {
        "scorer": ragas.scorer,
        "llm_model": ragas.llm_model,
        "embeddings_model": ragas.embeddings_model,
        "scorer_version": ragas.scorer_version,
    }
    plan = plan_window(iceberg, RAGAS_SCORES, window, iceberg_table, identity, context.log)
    failed: Counter[str] = Counter()  # metric failures among the traces scored in this run, by metric

    def ragas_chunk(traces: list[dict], on_progress) -> list[dict]:
        outcomes = evaluate(
            [RagasRequest(t["input"] or "", t["output"] or "", t["contexts"]) for t in traces], on_progress=on_progress
        )
        failed.update(name for outcome in outcomes if outcome.error_kind is None for name in outcome.errors)
        scored_at = datetime.now(timezone.utc)
        return [
            {
                **identity,
                **outcome.metrics,
                "answer_relevancy_raw": outcome.answer_relevancy_raw,
                "ragas_reward": outcome.reward.value,
                "reward_note": outcome.reward.reason,
                "not_applicable": json.dumps(outcome.not_applicable, ensure_ascii=False) if outcome.not_applicable else None,
                "error": "; ".join(f"{name}: {message}" for name, message in sorted(outcome.errors.items())) or None,
                "error_kind": outcome.error_kind or ("metric_failed" if outcome.errors else None),
                "llm_calls": outcome.llm_calls,
                "tokens_in": outcome.tokens_in,
                "tokens_out": outcome.tokens_out,
                "latency_ms": outcome.latency_ms,
                "scored_at": scored_at,
            }
            for outcome in outcomes
        ]

    with ragas.scoring() as evaluate:  # its worker processes serve every chunk of the window
        scored, commit = score_and_store_window(iceberg, RAGAS_SCORES, window, plan, ragas_chunk, context.log)

    if failed:
        context.log.warning(f"ragas metric failures: {dict(failed)}")
    window_rows = scored.summary(["error", "ragas_reward"])
    errors, rewards = window_rows.column("error"), window_rows.column("ragas_reward")
    new = scored.new_summary(["error", "error_kind", "answer_relevancy_raw", "llm_calls", "tokens_in", "tokens_out"])
    return dg.MaterializeResult(
        metadata={
            **window_metadata(window, scored),
            "errors": new.num_rows - new.column("error").null_count,
            "errors_by_metric": dg.MetadataValue.json(dict(failed)),
            "error_rate": (len(errors) - errors.null_count) / len(errors) if len(errors) else 0.0,
            "reward_distribution": score_distribution(rewards),
            # off-topic answers: ragas' cosine came out negative and means no relevance (0)
            "exceeds_judge_context": pc.sum(pc.equal(new.column("error_kind"), EXCEEDS_JUDGE_CONTEXT)).as_py() or 0,
            "answer_relevancy_below_zero": pc.sum(pc.less(new.column("answer_relevancy_raw"), 0.0)).as_py() or 0,
            "llm_calls": column_sum(new, "llm_calls"),
            "tokens_in": column_sum(new, "tokens_in"),
            "tokens_out": column_sum(new, "tokens_out"),
            "seconds": round(scored.seconds, 2),
            "scorer_version": ragas.scorer_version,
            "snapshot_id": str(commit.snapshot_id),
        }
    )
