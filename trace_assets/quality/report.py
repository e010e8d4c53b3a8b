"""The day's reward-quality rows: for every model, and for all models together (`model` null),
every figure of `training_data.reward_quality`, null with the reason where undefined."""

import json
import math
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from trace_assets.quality.agreement import binary_agreement
from trace_assets.quality.consistency import SecondVerdict, consistency
from trace_assets.quality.correlation import kendall, spearman, spearman_interval
from trace_assets.quality.day_rewards import DayRewards
from trace_assets.quality.drift import bin_counts, psi_of_counts, shift_of_medians
from trace_assets.quality.figure import Figure
from trace_assets.quality.quality_table import FIGURE_COLUMNS, REWARDS
from trace_assets.quality.trailing import TrailingRewards


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
    labeled: DayRewards,
    feedback_origins: dict,
    verdicts: list[SecondVerdict],
    why_no_sample: str,
    baseline: TrailingRewards,
    cuts: Cuts,
    judge: dict,
    computed_at: datetime,
) -> list[dict]:
    """One row per model of the day's labeled traces (traces without a model name count in the
    all-models row only), then the all-models row."""
    rows = []
    for model in [*labeled.named_models(), None]:
        row = {"date": day, "day_start": day_start, "model": model, "computed_at": computed_at, **judge}
        row["feedback_origins"] = json.dumps(feedback_origins, sort_keys=True)
        reasons: dict[str, str] = {}
        _figures(
            row, reasons, labeled, labeled.of_model(model), [v for v in verdicts if model is None or v.model == model],
            why_no_sample, baseline, model, cuts,
        )
        row["null_reasons"] = json.dumps(reasons, sort_keys=True, ensure_ascii=False)
        rows.append(row)
    return rows


def _figures(row, reasons, day: DayRewards, scope: np.ndarray, verdicts, why_no_sample, baseline: TrailingRewards,
             model: str | None, cuts: Cuts) -> None:
    def put(name: str, figure: Figure) -> None:
        row[name] = figure.value
        if figure.value is None:
            reasons[name] = figure.reason

    rewards = {reward: day.rewards[reward][scope] for reward in REWARDS}
    present = {reward: ~np.isnan(values) for reward, values in rewards.items()}
    rewarded = rewards["final_reward"][present["final_reward"]]
    row["traces"], row["rewarded"] = int(scope.sum()), len(rewarded)
    no_reward = Figure.null("no trace of the day has a final_reward")
    put("final_reward_mean", Figure(math.fsum(rewarded.tolist()) / len(rewarded)) if len(rewarded) else no_reward)
    put("final_reward_median", Figure(float(np.median(rewarded))) if len(rewarded) else no_reward)

    human = day.human[scope]
    labelled = ~np.isnan(human)
    row["human_labelled"] = int(labelled.sum())
    for reward in REWARDS:
        both = present[reward] & labelled
        values, people = rewards[reward][both], human[both]
        names = (reward, "human feedback")
        row[f"{reward}_human_n"] = len(values)
        if not len(values):
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

    length, tokens = day.length[scope], day.tokens[scope]
    for reward in REWARDS:
        scored = present[reward]
        values = rewards[reward][scored]
        put(f"{reward}_length_spearman", spearman(values, length[scored], (reward, "answer length")))
        put(f"{reward}_length_tokens_spearman", spearman(values, tokens[scored], (reward, "answer tokens (estimated)")))

    row["drift_baseline_traces"] = baseline.rows(model)
    for reward in REWARDS:
        now, before = rewards[reward][present[reward]], baseline.summary(model, reward)
        put(f"{reward}_psi", psi_of_counts(bin_counts(now), before.bins, cuts.drift_window_days))
        put(f"{reward}_median_shift", shift_of_medians(now, before.median, cuts.drift_window_days))

    both = present["judge_score"] & present["ragas_reward"]
    row["judge_ragas_n"] = int(both.sum())
    put("judge_ragas_spearman", spearman(rewards["judge_score"][both], rewards["ragas_reward"][both], ("judge_score", "ragas_reward")))

    missing = [name for name in FIGURE_COLUMNS if name not in row]
    if missing:
        raise AssertionError(f"figures without a value or a reason: {missing}")
