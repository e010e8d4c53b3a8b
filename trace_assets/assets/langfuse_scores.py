"""langfuse_scores: the day's rewards written back to Langfuse as scores on their traces."""

from datetime import datetime, timezone

import dagster as dg

from trace_assets.assets.summaries import window_text
from trace_assets.io_managers.trace_window import TraceWindow
from trace_assets.langfuse.score_events import LABELED_COLUMNS, SCORE_NAMES, ScoreTally, stream_score_events
from trace_assets.langfuse.score_ingestion import post_score_events
from trace_assets.partitions import daily_partitions
from trace_assets.resources.langfuse_api_source import LangfuseApiSource


# Labeled rows read at once: their events are built, posted and dropped before the next are read
# (the judge's reasoning is the large column: ~5,000 rows are a few MB).
TRACES_AT_ONCE = 5_000


@dg.asset(
    ins={"labeled_dataset": dg.AssetIn()},
    partitions_def=daily_partitions,
    # Day by day: a posting that fails is rerun for its day.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    kinds={"langfuse"},
    group_name="langfuse",
)
def langfuse_scores(context: dg.AssetExecutionContext, labeled_dataset: TraceWindow, langfuse_api: LangfuseApiSource):
    """Posts trace_assets.final_reward, trace_assets.judge_score and trace_assets.ragas_reward
    (NUMERIC, with comments and provenance) for the window's labeled traces through Langfuse's
    batch ingestion endpoint, reading the window a batch of rows at a time. Score ids come from
    the trace id and the score name, so a rerun updates the same scores. When Langfuse refuses any
    score, or a request fails for good, the materialization records what was taken and the step
    then fails, naming the refusals."""
    window = context.partition_time_window
    context.log.info(f"posting the scores of up to {labeled_dataset.rows_at_most()} labeled traces to {langfuse_api.host}")
    tally = ScoreTally()
    events = stream_score_events(
        labeled_dataset.batches(LABELED_COLUMNS, rows_per_batch=TRACES_AT_ONCE),
        datetime.now(timezone.utc),
        tally,
        run_id=context.run.run_id,
    )
    api = langfuse_api.api()
    requests_before, retries_before, waited_before = api.stats.requests, dict(api.stats.retries), api.stats.waited_for_retry_s
    report = post_score_events(
        api, events, on_batch=lambda done, posted: context.log.info(f"posted batch {done} ({posted} scores so far)")
    )
    context.log.info(
        f"Langfuse took {sum(report.accepted.values())} of {report.events} scores of {tally.labeled_rows} labeled traces"
        + (f"; left out: {dict(tally.left_out)}" if tally.left_out else "")
    )
    if report.refused_count:
        context.log.error(
            f"Langfuse refused {report.refused_count} of {report.events} scores: {report.refused_by_message()}; "
            f"first: {report.samples()}"
        )
    if report.unsent:
        context.log.error(f"{report.unsent} scores were not sent: {report.stopped_by}")

    yield dg.MaterializeResult(
        metadata={
            "window": window_text(window),
            "host": langfuse_api.host,
            "labeled_traces": tally.labeled_rows,
            "scores_posted": sum(report.accepted.values()),
            "scores_posted_by_name": dg.MetadataValue.json({name: report.accepted.get(name, 0) for name in SCORE_NAMES}),
            "scores_left_out": dg.MetadataValue.json(dict(tally.left_out)),
            "scores_refused": report.refused_count,
            "refused_by_message": dg.MetadataValue.json(report.refused_by_message()),
            "refused_samples": dg.MetadataValue.json(report.samples()),
            "scores_unsent": report.unsent,
            "stopped_by": report.stopped_by or "",
            "requests": api.stats.requests - requests_before,
            "retries": dg.MetadataValue.json(
                {cause: n - retries_before.get(cause, 0) for cause, n in api.stats.retries.items() if n > retries_before.get(cause, 0)}
            ),
            "waited_for_retries_s": round(api.stats.waited_for_retry_s - waited_before, 1),
        }
    )
    if report.failed:
        raise dg.Failure(
            description=f"{report.failed} of {report.events} scores did not reach Langfuse. {report.summary()}. "
            "The scores Langfuse took are recorded in this materialization; rerun the partition to post the day "
            "again (scores are updated by id, never duplicated).",
            metadata={"refused_samples": dg.MetadataValue.json(report.samples())},
        )
