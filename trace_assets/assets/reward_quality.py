"""reward_quality: can the day's rewards be trusted? Agreement with human feedback, judge
self-consistency, length bias, drift and judge-vs-ragas, per model and for all models, in
training_data.reward_quality, with the figures and a picture in the asset's metadata."""

import base64
import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.summaries import window_text
from trace_assets.automation.pools import JUDGE_POOL
from trace_assets.io_managers.iceberg_window_io_manager import PARTITION_EXPR_METADATA_KEY, TABLE_METADATA_KEY
from trace_assets.io_managers.trace_window import TraceWindow
from trace_assets.partitions import daily_partitions, days_in
from trace_assets.quality.consistency import HashSample, SecondVerdict, second_verdict
from trace_assets.quality.day_rewards import DAY_COLUMNS, DayRewards
from trace_assets.quality.feedback import feedback_from_human_scores, feedback_from_metadata_batches, human_by_trace
from trace_assets.quality.picture import quality_picture
from trace_assets.quality.quality_table import (
    REWARD_QUALITY_ICEBERG_SCHEMA,
    REWARD_QUALITY_SCHEMA,
    REWARD_QUALITY_SPEC,
    REWARD_QUALITY_TABLE,
)
from trace_assets.quality.report import quality_rows
from trace_assets.quality.trailing import TRAILING_COLUMNS, TrailingRewards
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.judge import JudgeRequest, JudgeResource
from trace_assets.resources.reward_quality_settings import RewardQualitySettings
from trace_assets.resources.trace_source import TraceSource
from trace_assets.scoring.progress import ProgressLog
from trace_assets.tables.labeled import LABELED_TABLE
from trace_assets.tables.traces import TRACES_TABLE

OFFLINE_CONSISTENCY = (
    "offline scorer: deterministic, so a second pass gives the same scores; consistency here only "
    "shows the scoring is repeatable (same model files and libraries), not how a sampled LLM judge varies"
)
# The day's rows are read in batches of narrow columns (ids, models, rewards; answers in the
# labeled pass): larger batches than the text-heavy steps use.
ROWS_AT_ONCE = 16_384
CONSISTENCY_AT_ONCE = 2_000  # sampled traces judged again at a time, as the scoring steps' chunks
# The figures of the all-models row shown as numbers in the UI (plotted over time per partition).
HEADLINE = [
    "human_labelled", "final_reward_human_spearman", "final_reward_human_kendall", "final_reward_human_kappa",
    "final_reward_human_agreement", "judge_score_human_spearman", "ragas_reward_human_spearman",
    "consistency_mean_abs_diff", "consistency_band_change_rate", "final_reward_length_spearman",
    "judge_score_length_spearman", "final_reward_length_tokens_spearman", "judge_score_length_tokens_spearman",
    "final_reward_psi", "final_reward_median_shift", "judge_ragas_spearman",
]


@dg.asset(
    ins={"labeled_dataset": dg.AssetIn()},
    deps=[iceberg_table],  # read narrowly below: only the ids and metadata of consented traces
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    io_manager_key="iceberg_io_manager",
    pool=JUDGE_POOL,  # the consistency sample calls the judge fleet
    kinds={"iceberg", "scipy"},
    group_name="quality",
    metadata={TABLE_METADATA_KEY: REWARD_QUALITY_TABLE, PARTITION_EXPR_METADATA_KEY: "day_start"},
)
def reward_quality(
    context: dg.AssetExecutionContext,
    labeled_dataset: TraceWindow,
    judge: JudgeResource,
    iceberg: IcebergWarehouse,
    trace_source: TraceSource,
    reward_quality_settings: RewardQualitySettings,
) -> dg.MaterializeResult:
    """Per model and for all models: Spearman, Kendall (with a bootstrap 95% interval) and, binarised,
    agreement and Cohen's kappa of final_reward, judge_score and ragas_reward with human feedback;
    the judge's self-consistency on a sample judged again; each reward's Spearman with answer
    length; PSI and median shift against the trailing days; judge vs ragas. A rerun replaces the
    day's rows."""
    settings, window = reward_quality_settings, context.partition_time_window
    feedback, origins = _feedback(_window_of(iceberg, TRACES_TABLE, window.start, window.end), trace_source, settings, window, context.log)
    human = human_by_trace(feedback)
    judge_identity = {"judge_scorer": judge.scorer, "judge_model": judge.model}
    rows, spent, calls, day_rewards = [], 0.0, 0, None
    for day in days_in(window):
        day_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        labeled = labeled_dataset.between(day_start, day_start + timedelta(days=1))
        sample = HashSample(settings.consistency_sample, settings.consistency_at_least, labeled.rows_at_most())
        day_rewards = DayRewards.of(_offering_candidates(labeled, sample, judge), human, labeled.rows_at_most())
        started = time.monotonic()
        verdicts, why_no_sample = _judge_again(labeled, sample, judge, settings, context.log)
        spent, calls = spent + time.monotonic() - started, calls + len(verdicts)
        baseline = _trailing_rewards(iceberg, day_start, settings.drift_window_days)
        rows += quality_rows(
            day, day_start, day_rewards, origins, verdicts, why_no_sample, baseline, settings.cuts, judge_identity,
            datetime.now(timezone.utc),
        )
    report = pa.Table.from_pylist(rows, schema=REWARD_QUALITY_SCHEMA)
    table = iceberg.ensure_table(REWARD_QUALITY_TABLE, REWARD_QUALITY_ICEBERG_SCHEMA, REWARD_QUALITY_SPEC, {})
    commit = iceberg.replace_window(table, "day_start", window.start, window.end, REWARD_QUALITY_SCHEMA, report.to_batches())

    everything = [row for row in rows if row["model"] is None][-1]
    picture = quality_picture(str(everything["date"]), _rewards_by_model(day_rewards), _reward_vs_human(day_rewards))
    return dg.MaterializeResult(
        metadata={
            "window": window_text(window),
            "dagster/row_count": report.num_rows,
            **{name: everything[name] for name in HEADLINE if everything[name] is not None},  # ints and floats: plotted
            "rewarded": everything["rewarded"],
            "null_reasons": dg.MetadataValue.json(json.loads(everything["null_reasons"])),
            "by_model": dg.MetadataValue.md(_by_model_table(rows)),
            "picture": dg.MetadataValue.md(
                "![final_reward by model, and against human feedback](data:image/png;base64,"
                + base64.b64encode(picture).decode("ascii") + ")"
            ),
            "feedback_origins": dg.MetadataValue.json(origins),
            "consistency_judge_calls": calls,
            "consistency_errors": everything["consistency_errors"],
            "consistency_tokens_in": everything["consistency_tokens_in"],
            "consistency_tokens_out": everything["consistency_tokens_out"],
            "consistency_estimated_cost_usd": round(judge.fleet_cost_usd(spent) if calls else 0.0, 4),
            "consistency_meaning": OFFLINE_CONSISTENCY if judge.scorer == "offline_embedding" else (
                f"{judge.model} judged the sample again with the same prompt and temperature {judge.temperature:g}"
            ),
            "snapshot_id": str(commit.snapshot_id),
        }
    )


def _feedback(traces: TraceWindow | None, source, settings: RewardQualitySettings, window: dg.TimeWindow, log):
    """The window's human feedback: metadata.<key> of its consented traces and, when the Langfuse
    API is configured (settings.human_scores) or the trace source can read them, human scores
    (`read_human_scores(start, end)` -> trace_id, name, value) of those traces. Returns the
    feedback table and the traces with feedback by origin. One pass over the traces' ids and
    metadata, a batch at a time."""
    read_human_scores = getattr(settings.human_scores or source, "read_human_scores", None)
    scores = read_human_scores(window.start, window.end) if callable(read_human_scores) else None
    scored_ids = pa.array([], pa.string()) if scores is None else pc.unique(scores["trace_id"].combine_chunks()).cast(pa.string())
    consented_scored: list[pa.Array] = []  # the ids of scored traces seen among the consented ones

    def traces_with_consent():
        for batch in traces.batches(["id", "metadata_json"], ROWS_AT_ONCE // 8) if traces is not None else ():
            consented_scored.append(batch.column("id").filter(pc.is_in(batch.column("id"), value_set=scored_ids)))
            yield batch

    feedback, unusable = feedback_from_metadata_batches(traces_with_consent(), settings.feedback_key, settings.scale)
    if scores is not None:
        consented = pa.concat_arrays(consented_scored) if consented_scored else pa.array([], pa.string())
        scores = scores.filter(pc.is_in(scores["trace_id"], value_set=consented))  # consent is a gate here too
        annotated, unusable_scores = feedback_from_human_scores(scores, settings.score_names, settings.scale)
        feedback, unusable = pa.concat_tables([feedback, annotated]), unusable + unusable_scores
    origins = dict(Counter(feedback.column("origin").to_pylist()))
    if unusable:
        log.warning(f"human feedback left out: {dict(unusable)}")
    return feedback, {"traces_by_origin": origins, "unusable": dict(unusable)}


def _offering_candidates(labeled: TraceWindow, sample: HashSample, judge: JudgeResource):
    """The day's labeled rows (DAY_COLUMNS), offering `sample` the traces whose stored score came
    from this judge (model and prompt): only those can be compared with a second judgement."""
    columns = list(dict.fromkeys([*DAY_COLUMNS, "judge_model", "judge_prompt_version"]))
    for batch in labeled.batches(columns, ROWS_AT_ONCE // 8):  # answers' text: ~3 MB a batch
        candidates = pc.and_(
            pc.and_(pc.is_valid(batch.column("judge_score")), pc.equal(batch.column("judge_model"), judge.model)),
            pc.equal(batch.column("judge_prompt_version"), judge.prompt_version),
        )
        sample.offer(batch.column("trace_id").filter(pc.fill_null(candidates, False)).to_pylist())
        yield batch


def _judge_again(
    labeled: TraceWindow, sample: HashSample, judge: JudgeResource, settings: RewardQualitySettings, log
) -> tuple[list[SecondVerdict], str]:
    """The day's consistency sample judged a second time by the same judge resource."""
    if settings.consistency_sample == 0:
        return [], "TRACE_CONSISTENCY_SAMPLE is 0: no trace was judged twice"
    chosen = sample.chosen()
    if not chosen:
        return [], f"no trace of the day has a judge score from {judge.model} with prompt {judge.prompt_version}"
    columns = ["trace_id", "model", "input", "output", "judge_score", "judge_model", "judge_prompt_version",
               "ragas_reward", "ragas_weight", "judge_weight", "preference"]
    # The sample's rows stay in Arrow; a chunk of them at a time becomes requests (a day of a
    # million traces samples 20,000, ~40 MB of text: as Python objects and prompts, several times that).
    sampled = labeled.rows_with("trace_id", chosen, columns)  # in the table's order: sorted at the end
    log.info(f"judging {len(chosen)} of {sample.offered} traces again for consistency")
    progress = ProgressLog(log, "consistency")
    verdicts: list[SecondVerdict] = []
    for start in range(0, sampled.num_rows, CONSISTENCY_AT_ONCE):
        rows = sampled.slice(start, CONSISTENCY_AT_ONCE).to_pylist()
        answers = judge.judge(
            [JudgeRequest(row["input"] or "", row["output"] or "") for row in rows],
            on_progress=lambda done, _, offset=start: progress(offset + done, sampled.num_rows),
        )
        verdicts += [second_verdict(row, v.score, v.error_kind, v.tokens_in, v.tokens_out) for row, v in zip(rows, answers)]
    errors = Counter(v.error_kind for v in verdicts if v.error_kind)
    if errors:
        log.warning(f"the judge failed on {sum(errors.values())} of {len(verdicts)} consistency traces: {dict(errors)}")
    order = {trace_id: i for i, trace_id in enumerate(chosen)}
    return sorted(verdicts, key=lambda verdict: order[verdict.trace_id]), ""


def _trailing_rewards(iceberg: IcebergWarehouse, day_start: datetime, days: int) -> TrailingRewards:
    """The rewards of the `days` days before `day_start` in the labeled table, summarised."""
    window = _window_of(iceberg, LABELED_TABLE, day_start - timedelta(days=days), day_start)
    if window is None:
        return TrailingRewards()
    return TrailingRewards.of(lambda: window.batches(TRAILING_COLUMNS, ROWS_AT_ONCE))


def _window_of(iceberg: IcebergWarehouse, identifier: str, start: datetime, end: datetime) -> TraceWindow | None:
    """The rows of `identifier` with consent and start <= timestamp < end, read in batches of the
    columns asked for (None when the table does not exist): a week of answers' text, or the
    day's, is never held here. Consent is a gate here as in the IO manager."""
    catalog = iceberg.catalog()
    if not catalog.table_exists(identifier):
        return None
    return TraceWindow.of(catalog.load_table(identifier), "timestamp", start, end)


def _rewards_by_model(day: DayRewards) -> dict[str, np.ndarray]:
    final = day.rewards["final_reward"]
    by_model = {}
    for code, name in enumerate(day.models):
        rewards = final[(day.model == code) & ~np.isnan(final)]
        if len(rewards):
            by_model[name or "(no model)"] = rewards
    return by_model


def _reward_vs_human(day: DayRewards) -> tuple[np.ndarray, np.ndarray]:
    final = day.rewards["final_reward"]
    both = ~np.isnan(final) & ~np.isnan(day.human)
    return final[both], day.human[both]


def _by_model_table(rows: list[dict]) -> str:
    columns = [
        ("traces", "traces"), ("with feedback", "human_labelled"), ("Spearman vs people", "final_reward_human_spearman"),
        ("kappa", "final_reward_human_kappa"), ("band changes", "consistency_band_change_rate"),
        ("length Spearman (tokens)", "final_reward_length_tokens_spearman"), ("PSI", "final_reward_psi"),
        ("median shift", "final_reward_median_shift"), ("judge vs ragas", "judge_ragas_spearman"),
    ]
    lines = ["| date | model | " + " | ".join(title for title, _ in columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for row in rows:
        model = (row["model"] or "**all models**").replace("|", "\\|")
        cells = [_cell(row[name]) for _, name in columns]
        lines.append(f"| {row['date']} | {model} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("final_reward figures; an empty cell is null: `null_reasons` says why.")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)
