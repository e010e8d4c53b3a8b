"""The reward formulas (README.md, "Rewards"): the seed's weights, and what happens when a part
is missing."""

import math
from dataclasses import dataclass

RAGAS_WEIGHTS = {"faithfulness": 0.5, "answer_relevancy": 0.3, "context_precision": 0.2}
PREFERRED_AT_LEAST = 0.8
DISPREFERRED_AT_MOST = 0.3


@dataclass(frozen=True)
class Reward:
    value: float | None
    reason: str | None  # why value is null, or how it was renormalised


def ragas_reward(metrics: dict[str, float | None], not_applicable: dict[str, str]) -> Reward:
    """0.5*faithfulness + 0.3*answer_relevancy + 0.2*context_precision, renormalised over the
    metrics that apply: without retrieved contexts it is answer_relevancy alone (0.3/0.3). A
    metric that applies but has no value (it failed) leaves the reward null."""
    applicable = {name: weight for name, weight in RAGAS_WEIGHTS.items() if name not in not_applicable}
    if not applicable:
        return Reward(None, "no ragas metric applies: " + "; ".join(f"{k}: {v}" for k, v in sorted(not_applicable.items())))
    failed = sorted(name for name in applicable if metrics.get(name) is None)
    if failed:
        return Reward(None, "failed: " + ", ".join(failed))
    for name in applicable:
        if not math.isfinite(metrics[name]) or not 0.0 <= metrics[name] <= 1.0:
            return Reward(None, f"{name} is {metrics[name]!r}, not a score in [0, 1]")
    total = sum(applicable.values())
    value = sum(weight * metrics[name] for name, weight in applicable.items()) / total
    reason = None if len(applicable) == len(RAGAS_WEIGHTS) else "renormalised over " + ", ".join(applicable)
    return Reward(value, reason)


def check_weights(ragas_weight: float, judge_weight: float) -> None:
    """Raises ValueError unless both weights are finite, not negative, and sum to more than zero:
    the final reward is divided by their sum."""
    for name, weight in (("ragas_weight", ragas_weight), ("judge_weight", judge_weight)):
        if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"{name}={weight!r} is not a weight: give a finite number >= 0 (the seed's 0.6 / 0.4)")
    if ragas_weight + judge_weight <= 0:
        raise ValueError(
            f"ragas_weight={ragas_weight!r} and judge_weight={judge_weight!r} sum to zero, so final_reward would "
            "divide by zero: give at least one of them a positive weight (the seed's 0.6 / 0.4)"
        )


def final_reward(ragas: float | None, judge: float | None, ragas_weight: float = 0.6, judge_weight: float = 0.4) -> Reward:
    """ragas_weight*ragas_reward + judge_weight*judge_score (the seed's 0.6 / 0.4), divided by the
    weights' sum; null with the reason when either side is missing (a one-sided reward would not
    be comparable). Raises ValueError for weights `check_weights` refuses."""
    check_weights(ragas_weight, judge_weight)
    missing = [name for name, value in (("ragas_reward", ragas), ("judge_score", judge)) if value is None]
    if missing:
        return Reward(None, "missing " + " and ".join(missing))
    return Reward((ragas_weight * ragas + judge_weight * judge) / (ragas_weight + judge_weight), None)


def preference_band(reward: float | None) -> str | None:
    """The seed's bands: >= 0.8 preferred, <= 0.3 dispreferred, neutral between."""
    if reward is None:
        return None
    if reward >= PREFERRED_AT_LEAST:
        return "preferred"
    if reward <= DISPREFERRED_AT_MOST:
        return "dispreferred"
    return "neutral"
