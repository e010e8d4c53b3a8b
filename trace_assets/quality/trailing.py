"""The trailing window drift compares a day with, as summaries: per model, and for all models, each
reward's count, its PSI bin counts and its exact median, from two passes over the window's record
batches. A week of a million traces a day is 7,000,000 rewards of each kind; what is held here is
a few thousand counts per model and the distinct values of the bins the medians fall in."""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from trace_assets.quality.day_rewards import model_codes
from trace_assets.quality.drift import PSI_BINS
from trace_assets.quality.quality_table import REWARDS

TRAILING_COLUMNS = ["model", *REWARDS]
# Fine bins for locating a median. A power of two: v * 4096 is exact, so a value's fine bin never
# orders it before a smaller value, and the median's rank falls in one known bin.
_FINE_BINS = 4096
_ALL = object()  # the all-models scope (a null model name is a model of its own in the counts)


@dataclass(frozen=True)
class RewardSummary:
    count: int
    bins: np.ndarray  # PSI_BINS counts
    median: float | None


@dataclass
class TrailingRewards:
    """`summary(model, reward)` (model None: all models) and `rows(model)`, the window's rows."""

    _summaries: dict = field(default_factory=dict)  # (scope, reward) -> RewardSummary
    _rows: dict = field(default_factory=dict)  # scope -> rows

    @classmethod
    def of(cls, batches: Callable[[], Iterable[pa.RecordBatch]]) -> "TrailingRewards":
        """From `batches()`, called twice (the same rows each time), with TRAILING_COLUMNS."""
        counting = _Counting()
        for batch in batches():
            counting.add(batch)
        targets = counting.median_targets()
        found: dict = {key: Counter() for key in targets}  # (scope, reward, fine bin) -> value -> count
        if targets:
            for batch in batches():
                counting.collect(batch, targets, found)
        trailing = cls()
        for scope in counting.scopes():
            trailing._rows[scope] = counting.rows(scope)
            for reward in REWARDS:
                fine = counting.fine(scope, reward)
                count = int(fine.sum())
                median = _median(count, fine, targets, found, scope, reward) if count else None
                trailing._summaries[(scope, reward)] = RewardSummary(count, counting.coarse(scope, reward), median)
        return trailing

    def summary(self, model: str | None, reward: str) -> RewardSummary:
        """`reward` of model `model` (None: all models) in the window."""
        empty = RewardSummary(0, np.zeros(PSI_BINS, np.int64), None)
        return self._summaries.get((_ALL if model is None else model, reward), empty)

    def rows(self, model: str | None) -> int:
        return self._rows.get(_ALL if model is None else model, 0)


class _Counting:
    def __init__(self):
        self._codes: dict = {}  # model name (None included) -> code
        self._rows = np.zeros(0, np.int64)
        self._fine = {reward: np.zeros((0, _FINE_BINS), np.int64) for reward in REWARDS}
        self._coarse = {reward: np.zeros((0, PSI_BINS), np.int64) for reward in REWARDS}

    def _batch_codes(self, batch: pa.RecordBatch) -> np.ndarray:
        codes = model_codes(batch.column("model"), self._codes).astype(np.int64)
        models = len(self._codes)
        if len(self._rows) < models:
            grow = models - len(self._rows)
            self._rows = np.concatenate([self._rows, np.zeros(grow, np.int64)])
            for reward in REWARDS:
                self._fine[reward] = np.vstack([self._fine[reward], np.zeros((grow, _FINE_BINS), np.int64)])
                self._coarse[reward] = np.vstack([self._coarse[reward], np.zeros((grow, PSI_BINS), np.int64)])
        return codes

    def add(self, batch: pa.RecordBatch) -> None:
        codes = self._batch_codes(batch)
        models = len(self._codes)
        self._rows += np.bincount(codes, minlength=models)
        for reward in REWARDS:
            values, code = _rewards(batch, reward, codes)
            fine = np.bincount(code * _FINE_BINS + _fine_bins(values), minlength=models * _FINE_BINS)
            self._fine[reward] += fine.reshape(models, _FINE_BINS)
            coarse = np.clip((values * PSI_BINS).astype(int), 0, PSI_BINS - 1)  # as drift.bin_counts
            self._coarse[reward] += np.bincount(code * PSI_BINS + coarse, minlength=models * PSI_BINS).reshape(models, PSI_BINS)

    def scopes(self) -> list:
        return [*self._codes, _ALL]

    def rows(self, scope) -> int:
        return int(self._rows.sum() if scope is _ALL else self._rows[self._codes[scope]])

    def fine(self, scope, reward: str) -> np.ndarray:
        return self._fine[reward].sum(axis=0) if scope is _ALL else self._fine[reward][self._codes[scope]]

    def coarse(self, scope, reward: str) -> np.ndarray:
        return self._coarse[reward].sum(axis=0) if scope is _ALL else self._coarse[reward][self._codes[scope]]

    def median_targets(self) -> dict:
        """(scope, reward, fine bin) of every bin holding a median's middle value(s)."""
        targets = {}
        for scope in self.scopes():
            for reward in REWARDS:
                fine = self.fine(scope, reward)
                count = int(fine.sum())
                for rank in {(count - 1) // 2, count // 2} if count else ():
                    targets[(scope, reward, int(np.searchsorted(np.cumsum(fine), rank, side="right")))] = True
        return targets

    def collect(self, batch: pa.RecordBatch, targets: dict, found: dict) -> None:
        """The distinct values (and how often each comes) in the target bins."""
        codes = model_codes(batch.column("model"), self._codes).astype(np.int64)
        for reward in REWARDS:
            values, code = _rewards(batch, reward, codes)
            fine = _fine_bins(values)
            for scope, target_reward, fine_bin in targets:
                if target_reward != reward:
                    continue
                inside = fine == fine_bin
                if scope is not _ALL:
                    inside &= code == self._codes[scope]
                distinct, counts = np.unique(values[inside], return_counts=True)
                found[(scope, reward, fine_bin)].update(dict(zip(distinct.tolist(), counts.tolist())))


def _rewards(batch: pa.RecordBatch, reward: str, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reward's values that are there (null and NaN are not a reward), and their rows' codes."""
    values = batch.column(reward).to_numpy(zero_copy_only=False).astype(float)
    present = ~np.isnan(values)
    return values[present], codes[present]


def _fine_bins(values: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(values * _FINE_BINS), 0, _FINE_BINS - 1).astype(np.int64)


def _median(count: int, fine: np.ndarray, targets: dict, found: dict, scope, reward: str) -> float:
    """The median as numpy's: the middle value, or the mean of the two middle values."""
    below = np.concatenate([[0], np.cumsum(fine)])
    middle = []
    for rank in ((count - 1) // 2, count // 2):
        fine_bin = int(np.searchsorted(below[1:], rank, side="right"))
        within = rank - int(below[fine_bin])
        seen = 0
        for value in sorted(found[(scope, reward, fine_bin)]):
            seen += found[(scope, reward, fine_bin)][value]
            if seen > within:
                middle.append(value)
                break
    return middle[0] if middle[0] == middle[1] else (middle[0] + middle[1]) / 2
