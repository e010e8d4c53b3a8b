"""Blocking asset checks, per daily partition: a bad day stops before it reaches the dataset.

Each check reads its windows as `TraceWindow`s, a batch and the columns it needs at a time
(scoring/score_checks.py): a check of a day of a million traces holds their ids' fingerprints at
most, never the day's rows."""

import dagster as dg
import pyarrow as pa

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.io_managers.trace_window import TraceWindow
from trace_assets.partitions import daily_partitions
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.scoring.score_checks import (
    MAX_EXAMPLES,
    Ids,
    Problems,
    coverage_gaps,
    duplicate_ids,
    error_rate,
    invalid_scores,
    reward_mismatches,
    rows_not_in,
)
from trace_assets.tables.labeled import LABELED_TABLE

DEFAULT_MAX_ERROR_RATE = 0.05
_TRACES = {"iceberg_table": dg.AssetIn("iceberg_table")}


def check_result(problems: Problems, what: str, **metadata) -> dg.AssetCheckResult:
    """A blocking check's verdict: passed when nothing was found; the count and the first examples."""
    return dg.AssetCheckResult(
        passed=not problems.count,
        metadata={"problems": problems.count, "examples": dg.MetadataValue.json(list(problems.examples)), **metadata},
        description=f"{problems.count} {what}" if problems.count else None,
    )


def _coverage_result(consented_traces: TraceWindow, scores: TraceWindow) -> dg.AssetCheckResult:
    missing, extra = coverage_gaps(consented_traces, scores)
    problems = missing.saying("no score") + extra.saying("not a consented trace of the day")
    problems += duplicate_ids(scores).saying("scored twice")
    return check_result(problems, "coverage problems")


def build_checks(max_error_rate: float = DEFAULT_MAX_ERROR_RATE) -> list[dg.AssetChecksDefinition]:
    """The checks of the scoring assets and the dataset; `max_error_rate` is the share of traces
    of a day that may fail scoring (TRACE_MAX_SCORE_ERROR_RATE, default 5%)."""

    @dg.asset_check(asset=judge_scores, blocking=True, partitions_def=daily_partitions)
    def judge_scores_are_scores(judge_scores: TraceWindow) -> dg.AssetCheckResult:
        """Every judge_score is in [0, 1], or null with its error; no NaN."""
        return check_result(invalid_scores(judge_scores, ["judge_score"], ["error"]), "invalid judge scores")

    @dg.asset_check(asset=ragas_scores, blocking=True, partitions_def=daily_partitions)
    def ragas_scores_are_scores(ragas_scores: TraceWindow) -> dg.AssetCheckResult:
        """Every metric and ragas_reward is in [0, 1] or null; a null reward says why; no NaN."""
        columns = ["ragas_reward", "faithfulness", "answer_relevancy", "context_precision"]
        return check_result(invalid_scores(ragas_scores, columns, ["error", "reward_note"]), "invalid ragas scores")

    def error_rate_result(scores: TraceWindow) -> dg.AssetCheckResult:
        rate = error_rate(scores)
        return dg.AssetCheckResult(passed=rate <= max_error_rate, metadata={"error_rate": rate, "limit": max_error_rate})

    @dg.asset_check(asset=judge_scores, blocking=True, partitions_def=daily_partitions)
    def judge_error_rate(judge_scores: TraceWindow) -> dg.AssetCheckResult:
        """At most the limit's share of the day's traces failed judging."""
        return error_rate_result(judge_scores)

    @dg.asset_check(asset=ragas_scores, blocking=True, partitions_def=daily_partitions)
    def ragas_error_rate(ragas_scores: TraceWindow) -> dg.AssetCheckResult:
        """At most the limit's share of the day's traces failed a ragas metric."""
        return error_rate_result(ragas_scores)

    @dg.asset_check(asset=judge_scores, blocking=True, partitions_def=daily_partitions, additional_ins=_TRACES)
    def judge_scores_cover_the_day(judge_scores: TraceWindow, iceberg_table: TraceWindow) -> dg.AssetCheckResult:
        """Exactly one row per consented trace of the day."""
        return _coverage_result(iceberg_table, judge_scores)

    @dg.asset_check(asset=ragas_scores, blocking=True, partitions_def=daily_partitions, additional_ins=_TRACES)
    def ragas_scores_cover_the_day(ragas_scores: TraceWindow, iceberg_table: TraceWindow) -> dg.AssetCheckResult:
        """Exactly one row per consented trace of the day."""
        return _coverage_result(iceberg_table, ragas_scores)

    @dg.asset_check(asset=labeled_dataset, blocking=True, partitions_def=daily_partitions, additional_ins=_TRACES)
    def labeled_dataset_holds_only_consented_traces(
        context: dg.AssetCheckExecutionContext, labeled_dataset: TraceWindow, iceberg_table: TraceWindow, iceberg: IcebergWarehouse
    ) -> dg.AssetCheckResult:
        """Every row is a trace of the day with consent (traces without consent are not even in
        the consented view it is compared with), and no row is marked without consent."""
        window = context.partition_time_window
        # the rows marked without consent: their ids only (the window itself holds rows with consent)
        marked = iceberg.read_window(LABELED_TABLE, "timestamp", window.start, window.end, audit_non_consented=True)
        marked_ids = marked.column("id") if marked is not None else pa.chunked_array([], pa.string())
        problems = Ids(len(marked_ids), tuple(marked_ids[:MAX_EXAMPLES].to_pylist())).saying("labeled without consent")
        problems += rows_not_in(labeled_dataset, iceberg_table).saying("not a consented trace of the day")
        return check_result(problems, "rows without consent")

    @dg.asset_check(asset=labeled_dataset, blocking=True, partitions_def=daily_partitions)
    def labeled_dataset_has_no_duplicate_traces(labeled_dataset: TraceWindow) -> dg.AssetCheckResult:
        return check_result(duplicate_ids(labeled_dataset).saying("twice"), "duplicate trace ids")

    @dg.asset_check(asset=labeled_dataset, blocking=True, partitions_def=daily_partitions)
    def final_reward_matches_the_formula(labeled_dataset: TraceWindow) -> dg.AssetCheckResult:
        return check_result(reward_mismatches(labeled_dataset), "rows whose final_reward is not the formula")

    return [
        judge_scores_are_scores,
        ragas_scores_are_scores,
        judge_error_rate,
        ragas_error_rate,
        judge_scores_cover_the_day,
        ragas_scores_cover_the_day,
        labeled_dataset_holds_only_consented_traces,
        labeled_dataset_has_no_duplicate_traces,
        final_reward_matches_the_formula,
    ]
