"""Judge self-consistency: a deterministic sample of the day judged a second time with the same
settings; how far the scores move, and how often the final reward's preference band changes."""

import hashlib
import math
from dataclasses import dataclass

from trace_assets.quality.figure import Figure
from trace_assets.scoring.rewards import final_reward, preference_band


def consistency_sample(trace_ids: list[str], share: float, at_least: int) -> list[str]:
    """`share` of the traces (at least `at_least`, at most all of them), chosen by a hash of
    their ids: the same traces on every rerun of the day, spread over the day's models."""
    sample = HashSample(share, at_least, len(trace_ids))
    sample.offer(trace_ids)
    return sample.chosen()


class HashSample:
    """`consistency_sample` of ids offered a batch at a time, of a day of at most `at_most`
    traces: only the ids that can still be chosen are kept (at most twice the largest sample)."""

    def __init__(self, share: float, at_least: int, at_most: int):
        self.share, self.at_least, self.at_most = share, at_least, at_most
        self._keep = _sample_size(at_most, share, at_least)
        self._kept: list[tuple[bytes, str]] = []  # (digest, trace id): bytes order is hexdigest order
        self.offered = 0

    def offer(self, trace_ids) -> None:
        self.offered += len(trace_ids)
        if self._keep == 0:
            return
        self._kept += [(hashlib.sha256(trace_id.encode("utf-8")).digest(), trace_id) for trace_id in trace_ids]
        if len(self._kept) > 2 * self._keep:
            self._kept = sorted(self._kept)[:self._keep]

    def chosen(self) -> list[str]:
        if self.offered > self.at_most:
            raise ValueError(f"{self.offered} traces were offered to a sample sized for a day of at most {self.at_most}")
        return [trace_id for _, trace_id in sorted(self._kept)[:_sample_size(self.offered, self.share, self.at_least)]]


def _sample_size(traces: int, share: float, at_least: int) -> int:
    if share <= 0 or traces == 0:
        return 0
    return min(traces, max(at_least, math.ceil(share * traces)))


@dataclass(frozen=True)
class SecondVerdict:
    """One sampled trace: its stored judge score and band, and the second judgement (a score, or
    the error that prevented it), with what the call cost."""

    trace_id: str
    model: str | None
    first_score: float
    first_band: str | None
    second_score: float | None
    second_band: str | None
    error_kind: str | None
    tokens_in: int
    tokens_out: int


def second_verdict(row: dict, score: float | None, error_kind: str | None, tokens_in: int, tokens_out: int) -> SecondVerdict:
    """`row` is the trace's labeled row; the band is recomputed with the second judge score and
    the row's own ragas_reward and weights."""
    band = None
    if score is not None:
        reward = final_reward(row["ragas_reward"], score, row["ragas_weight"], row["judge_weight"])
        band = preference_band(reward.value)
    return SecondVerdict(
        row["trace_id"], row["model"], row["judge_score"], row["preference"], score, band, error_kind, tokens_in, tokens_out
    )


@dataclass(frozen=True)
class Consistency:
    sample: int
    judged: int
    errors: int
    mean_abs_diff: Figure
    band_change_rate: Figure
    tokens_in: int
    tokens_out: int


def consistency(verdicts: list[SecondVerdict], why_no_sample: str) -> Consistency:
    """Figures over the verdicts judged twice; the band change rate over those with a final
    reward (a trace without a ragas reward has no band to change)."""
    judged = [v for v in verdicts if v.second_score is not None]
    tokens_in, tokens_out = sum(v.tokens_in for v in verdicts), sum(v.tokens_out for v in verdicts)
    if not verdicts:
        none = Figure.null(why_no_sample)
        return Consistency(0, 0, 0, none, none, 0, 0)
    if not judged:
        none = Figure.null(f"the judge failed on all {len(verdicts)} sampled traces")
        return Consistency(len(verdicts), 0, len(verdicts), none, none, tokens_in, tokens_out)
    difference = Figure(sum(abs(v.second_score - v.first_score) for v in judged) / len(judged))
    banded = [v for v in judged if v.first_band is not None]
    if banded:
        changed = Figure(sum(v.first_band != v.second_band for v in banded) / len(banded))
    else:
        changed = Figure.null("no sampled trace has a final reward (missing ragas_reward): no band to compare")
    return Consistency(len(verdicts), len(judged), len(verdicts) - len(judged), difference, changed, tokens_in, tokens_out)
