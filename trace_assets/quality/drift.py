"""Drift of a reward distribution against a trailing window: the population stability index over
ten equal bins of [0, 1], and the shift of the median. The trailing side comes as a summary (its
bin counts and median, `trailing.py`), so a window of millions of rewards is never held."""

import math

import numpy as np

from trace_assets.quality.figure import Figure

PSI_BINS = 10
# A bin empty on one side would make the index infinite: shares are floored at 0.01%, so an empty
# bin that now holds 10% of the traces adds about 0.69, as a strong shift should.
PSI_FLOOR = 1e-4


def bin_counts(values, bins: int = PSI_BINS) -> np.ndarray:
    """How many of `values` fall in each of `bins` equal bins of [0, 1] (1.0 in the last)."""
    positions = np.clip((np.asarray(values, float) * bins).astype(int), 0, bins - 1)
    return np.bincount(positions, minlength=bins)


def population_stability_index(current, baseline, window_days: int) -> Figure:
    """PSI of the values `current` against the values `baseline`."""
    return psi_of_counts(bin_counts(current), bin_counts(baseline), window_days)


def psi_of_counts(current: np.ndarray, baseline: np.ndarray, window_days: int) -> Figure:
    """PSI = sum over bins of (current - baseline) * ln(current / baseline), of the bins' shares
    (from their counts), floored."""
    if not current.sum():
        return Figure.null("no rewards today")
    if not baseline.sum():
        return Figure.null(f"no rewards in the trailing {window_days} days to compare with")
    psi = 0.0
    for now, before in zip(current / current.sum(), baseline / baseline.sum()):
        now, before = max(float(now), PSI_FLOOR), max(float(before), PSI_FLOOR)
        psi += (now - before) * math.log(now / before)
    return Figure(psi)


def median_shift(current, baseline, window_days: int) -> Figure:
    """Today's median minus the trailing window's, of the values `current` and `baseline`."""
    return shift_of_medians(current, float(np.median(baseline)) if len(baseline) else None, window_days)


def shift_of_medians(current, baseline_median: float | None, window_days: int) -> Figure:
    """Today's median (of the values `current`) minus the trailing window's median."""
    if not len(current):
        return Figure.null("no rewards today")
    if baseline_median is None:
        return Figure.null(f"no rewards in the trailing {window_days} days to compare with")
    return Figure(float(np.median(current) - baseline_median))
