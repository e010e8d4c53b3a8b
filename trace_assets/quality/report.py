"""The day's reward-quality rows: for every model, and for all models together (`model` null),
every figure of `training_data.reward_quality`, null with the reason where undefined."""

import json
import statistics
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.quality.agreement import binary_agreement
from trace_assets.quality.consistency import SecondVerdict, consistency
from trace_assets.quality.correlation import kendall, spearman, spearman_interval
from trace_assets.quality.drift import median_shift, population_stability_index
from trace_assets.quality.figure import Figure, pairs
from trace_assets.quality.length_bias import answer_length, estimated_tokens
from trace_assets.quality.quality_table import FIGURE_COLUMNS, REWARDS

LABELED_COLUMNS = ["trace_id", "model", "output", *REWARDS]
BASELINE_COLUMNS = ["model", *REWARDS]


@dataclass(frozen=True)
class Cuts:
    """Where "good" starts: `reward_good_at` on the rewards' [0, 1], `human_good_at` on the human
    values' [0, 1] (the feedback scale's cut point, normalised); `drift_window_days` for reasons."""

    reward_good_at: float
    human_good_at: float
    drift_window_days: int


def quality_rows(
    day: date,
    day_start: datetime,
    labeled: pa.Table,
    human: dict[str, float],
    feedback_origins: dict,
    verdicts: list[SecondVerdict],
    why_no_sample: str,
    baseline: pa.Table,
    cuts: Cuts,
    judge: dict,
    computed_at: datetime,
) -> list[dict]:
    """One row per model of the day's labeled traces (traces without a model name count in the
    all-models row only), then the all-models row."""
    traces = labeled.select(LABELED_COLUMNS).to_pylist()
    for trace in traces:  # once per trace, not once per reward and model
        trace["length"], trace["tokens"] = answer_length(trace["output"]), estimated_tokens(trace["output"])
    models = sorted({trace["model"] for trace in traces if trace["model"] is not None})
    scopes = [(model, lambda row, m=model: row["model"] == m) for model in models] + [(None, lambda row: True)]
    rows = []
    for model, belongs in scopes:
        row = {"date": day, "day_start": day_start, "model": model, "computed_at": computed_at, **judge}
        row["feedback_origins"] = json.dumps(feedback_origins, sort_keys=True)
        reasons: dict[str, str] = {}
        earlier = baseline if model is None else baseline.filter(pc.equal(baseline["model"], model))
        _figures(
            row, reasons, [t for t in traces if belongs(t)], human, [v for v in verdicts if belongs(v.__dict__)],
            why_no_sample, earlier.select(BASELINE_COLUMNS), cuts,
        )
        row["null_reasons"] = json.dumps(reasons, sort_keys=True, ensure_ascii=False)
        rows.append(row)
    return rows


def _figures(row, reasons, traces, human, verdicts, why_no_sample, baseline, cuts: Cuts) -> None:
    def put(name: str, figure: Figure) -> None:
        row[name] = figure.value
        if figure.value is None:
            reasons[name] = figure.reason

    rewarded = [t["final_reward"] for t in traces if t["final_reward"] is not None]
    row["traces"], row["rewarded"] = len(traces), len(rewarded)
    no_reward = Figure.null("no trace of the day has a final_reward")
    put("final_reward_mean", Figure(statistics.fmean(rewarded)) if rewarded else no_reward)
    put("final_reward_median", Figure(statistics.median(rewarded)) if rewarded else no_reward)

    labelled = [human.get(t["trace_id"]) for t in traces]
    row["human_labelled"] = sum(value is not None for value in labelled)
    for reward in REWARDS:
        values, people = pairs([t[reward] for t in traces], labelled)
        names = (reward, "human feedback")
        row[f"{reward}_human_n"] = len(values)
        if not values:
            why = "no human feedback on the day's traces" if not row["human_labelled"] else f"no trace with human feedback has a {reward}"
            for suffix in ("spearman", "spearman_low", "spearman_high", "kendall", "agreement", "kappa", "good_share"):
                put(f"{reward}_human_{suffix}", Figure.null(why))
            put(f"{reward}_good_share", Figure.null(why))
            continue
        put(f"{reward}_human_spearman", spearman(values, people, names))
        low, high = spearman_interval(values, people, names)
        put(f"{reward}_human_spearman_low", low)
        put(f"{reward}_human_spearman_high", high)
        put(f"{reward}_human_kendall", kendall(values, people, names))
        binary = binary_agreement(values, people, cuts.reward_good_at, cuts.human_good_at)
        put(f"{reward}_human_agreement", binary.agreement)
        put(f"{reward}_human_kappa", binary.kappa)
        put(f"{reward}_good_share", binary.reward_good_share)
        put(f"{reward}_human_good_share", binary.human_good_share)

    second = consistency(verdicts, why_no_sample)
    row.update(
        consistency_sample=second.sample, consistency_judged=second.judged, consistency_errors=second.errors,
        consistency_tokens_in=second.tokens_in, consistency_tokens_out=second.tokens_out,
    )
    put("consistency_mean_abs_diff", second.mean_abs_diff)
    put("consistency_band_change_rate", second.band_change_rate)

    for reward in REWARDS:
        scored = [t for t in traces if t[reward] is not None]
        values = [t[reward] for t in scored]
        put(f"{reward}_length_spearman", spearman(values, [t["length"] for t in scored], (reward, "answer length")))
        tokens = [t["tokens"] for t in scored]
        put(f"{reward}_length_tokens_spearman", spearman(values, tokens, (reward, "answer tokens (estimated)")))

    row["drift_baseline_traces"] = baseline.num_rows
    for reward in REWARDS:
        now = [t[reward] for t in traces if t[reward] is not None]
        before = baseline.column(reward).drop_null().to_numpy()
        put(f"{reward}_psi", population_stability_index(now, before, cuts.drift_window_days))
        put(f"{reward}_median_shift", median_shift(now, before, cuts.drift_window_days))

    judged, measured = pairs([t["judge_score"] for t in traces], [t["ragas_reward"] for t in traces])
    row["judge_ragas_n"] = len(judged)
    put("judge_ragas_spearman", spearman(judged, measured, ("judge_score", "ragas_reward")))

    missing = [name for name in FIGURE_COLUMNS if name not in row]
    if missing:
        raise AssertionError(f"figures without a value or a reason: {missing}")
