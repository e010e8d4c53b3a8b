"""reward_quality: can the day's rewards be trusted? Agreement with human feedback, judge
self-consistency, length bias, drift and judge-vs-ragas, per model and for all models, in
training_data.reward_quality, with the figures and a picture in the asset's metadata."""

import base64
import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan

from trace_assets.assets.iceberg_table import iceberg_table
from trace_assets.assets.summaries import window_text
from trace_assets.automation.pools import JUDGE_POOL
from trace_assets.io_managers.iceberg_window_io_manager import PARTITION_EXPR_METADATA_KEY, TABLE_METADATA_KEY
from trace_assets.labeled_table import LABELED_TABLE
from trace_assets.partitions import daily_partitions, days_in
from trace_assets.quality.consistency import SecondVerdict, consistency_sample, second_verdict
from trace_assets.quality.feedback import feedback_from_human_scores, feedback_from_metadata, human_by_trace
from trace_assets.quality.figure import pairs
from trace_assets.quality.picture import quality_picture
from trace_assets.quality.quality_table import (
    REWARD_QUALITY_ICEBERG_SCHEMA,
    REWARD_QUALITY_SCHEMA,
    REWARD_QUALITY_SPEC,
    REWARD_QUALITY_TABLE,
)
from trace_assets.quality.report import BASELINE_COLUMNS, quality_rows
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.judge import JudgeRequest, JudgeResource
from trace_assets.resources.reward_quality_settings import RewardQualitySettings
from trace_assets.resources.trace_source import TraceSource
from trace_assets.scoring.progress import ProgressLog
from trace_assets.traces_schema import TRACES_TABLE

OFFLINE_CONSISTENCY = (
    "offline scorer: deterministic, so a second pass gives the same scores; consistency here only "
    "shows the scoring is repeatable (same model files and libraries), not how a sampled LLM judge varies"
)
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
    labeled_dataset: pa.Table,
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
    traces = _consented_window(iceberg, TRACES_TABLE, window.start, window.end, ["id", "metadata_json"])
    feedback, origins = _feedback(traces, trace_source, settings, window, context.log)
    human = human_by_trace(feedback)
    judge_identity = {"judge_scorer": judge.scorer, "judge_model": judge.model}
    rows, spent, calls = [], 0.0, 0
    for day in days_in(window):
        day_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        labeled = _rows_between(labeled_dataset, day_start, day_start + timedelta(days=1))
        started = time.monotonic()
        verdicts, why_no_sample = _judge_again(labeled, judge, settings, context.log)
        spent, calls = spent + time.monotonic() - started, calls + len(verdicts)
        baseline = _trailing_rewards(iceberg, day_start, settings.drift_window_days)
        rows += quality_rows(
            day, day_start, labeled, human, origins, verdicts, why_no_sample, baseline, settings.cuts, judge_identity,
            datetime.now(timezone.utc),
        )
    report = pa.Table.from_pylist(rows, schema=REWARD_QUALITY_SCHEMA)
    table = iceberg.ensure_table(REWARD_QUALITY_TABLE, REWARD_QUALITY_ICEBERG_SCHEMA, REWARD_QUALITY_SPEC, {})
    commit = iceberg.replace_window(table, "day_start", window.start, window.end, REWARD_QUALITY_SCHEMA, report.to_batches())

    everything = [row for row in rows if row["model"] is None][-1]
    picture = quality_picture(str(everything["date"]), _rewards_by_model(labeled_dataset), _reward_vs_human(labeled_dataset, human))
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


def _feedback(traces: pa.Table, source, settings: RewardQualitySettings, window: dg.TimeWindow, log):
    """The window's human feedback: metadata.<key> of its consented traces and, when the Langfuse
    API is configured (settings.human_scores) or the trace source can read them, human scores
    (`read_human_scores(start, end)` -> trace_id, name, value) of those traces. Returns the
    feedback table and the traces with feedback by origin."""
    feedback, unusable = feedback_from_metadata(traces, settings.feedback_key, settings.scale)
    read_human_scores = getattr(settings.human_scores or source, "read_human_scores", None)
    if callable(read_human_scores):
        scores = read_human_scores(window.start, window.end)
        consented = pa.array(traces.column("id").to_pylist(), pa.string())
        scores = scores.filter(pc.is_in(scores["trace_id"], value_set=consented))  # consent is a gate here too
        annotated, unusable_scores = feedback_from_human_scores(scores, settings.score_names, settings.scale)
        feedback, unusable = pa.concat_tables([feedback, annotated]), unusable + unusable_scores
    origins = dict(Counter(feedback.column("origin").to_pylist()))
    if unusable:
        log.warning(f"human feedback left out: {dict(unusable)}")
    return feedback, {"traces_by_origin": origins, "unusable": dict(unusable)}


def _judge_again(labeled: pa.Table, judge: JudgeResource, settings: RewardQualitySettings, log) -> tuple[list[SecondVerdict], str]:
    """The day's consistency sample judged a second time by the same judge resource. Only traces
    whose stored score came from this judge (model and prompt) can be compared."""
    if settings.consistency_sample == 0:
        return [], "TRACE_CONSISTENCY_SAMPLE is 0: no trace was judged twice"
    columns = ["trace_id", "model", "input", "output", "judge_score", "judge_model", "judge_prompt_version",
               "ragas_reward", "ragas_weight", "judge_weight", "preference"]
    candidates = {
        row["trace_id"]: row for row in labeled.select(columns).to_pylist()
        if row["judge_score"] is not None and row["judge_model"] == judge.model
        and row["judge_prompt_version"] == judge.prompt_version
    }
    if not candidates:
        return [], f"no trace of the day has a judge score from {judge.model} with prompt {judge.prompt_version}"
    sample = [candidates[i] for i in consistency_sample(list(candidates), settings.consistency_sample, settings.consistency_at_least)]
    log.info(f"judging {len(sample)} of {len(candidates)} traces again for consistency")
    verdicts = judge.judge(
        [JudgeRequest(row["input"] or "", row["output"] or "") for row in sample], on_progress=ProgressLog(log, "consistency")
    )
    errors = Counter(v.error_kind for v in verdicts if v.error_kind)
    if errors:
        log.warning(f"the judge failed on {sum(errors.values())} of {len(sample)} consistency traces: {dict(errors)}")
    return [second_verdict(row, v.score, v.error_kind, v.tokens_in, v.tokens_out) for row, v in zip(sample, verdicts)], ""


def _trailing_rewards(iceberg: IcebergWarehouse, day_start: datetime, days: int) -> pa.Table:
    """The rewards of the `days` days before `day_start` in the labeled table."""
    rewards = _consented_window(iceberg, LABELED_TABLE, day_start - timedelta(days=days), day_start, BASELINE_COLUMNS)
    if rewards is None:
        return pa.table({name: pa.array([], pa.float64() if name != "model" else pa.string()) for name in BASELINE_COLUMNS})
    return rewards


def _consented_window(iceberg: IcebergWarehouse, identifier: str, start: datetime, end: datetime, columns: list[str]):
    """Only `columns` of the rows with consent and start <= timestamp < end (None when the table
    does not exist): a week of answers' text, or the day's, is not needed here and would not fit in
    memory at scale. Consent is a gate here as in the IO manager."""
    catalog = iceberg.catalog()
    if not catalog.table_exists(identifier):
        return None
    row_filter = And(
        And(GreaterThanOrEqual("timestamp", start.isoformat()), LessThan("timestamp", end.isoformat())),
        EqualTo("consent", True),
    )
    return catalog.load_table(identifier).scan(row_filter=row_filter, selected_fields=tuple(columns)).to_arrow()


def _rows_between(rows: pa.Table, start: datetime, end: datetime) -> pa.Table:
    timestamps = rows["timestamp"]
    return rows.filter(pc.and_(pc.greater_equal(timestamps, pa.scalar(start, timestamps.type)),
                               pc.less(timestamps, pa.scalar(end, timestamps.type))))


def _rewards_by_model(labeled: pa.Table) -> dict[str, list[float]]:
    by_model: dict[str, list[float]] = {}
    for row in labeled.select(["model", "final_reward"]).to_pylist():
        if row["final_reward"] is not None:
            by_model.setdefault(row["model"] or "(no model)", []).append(row["final_reward"])
    return by_model


def _reward_vs_human(labeled: pa.Table, human: dict[str, float]) -> list[tuple[float, float]]:
    ids = labeled.column("trace_id").to_pylist()
    rewards, people = pairs(labeled.column("final_reward").to_pylist(), [human.get(i) for i in ids])
    return list(zip(rewards, people))


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
