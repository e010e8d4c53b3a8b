"""Drift of a reward distribution against a trailing window: the population stability index over
ten equal bins of [0, 1], and the shift of the median."""

import math

import numpy as np

from trace_assets.quality.figure import Figure

PSI_BINS = 10
# A bin empty on one side would make the index infinite: shares are floored at 0.01%, so an empty
# bin that now holds 10% of the traces adds about 0.69, as a strong shift should.
PSI_FLOOR = 1e-4


def bin_shares(values, bins: int = PSI_BINS) -> np.ndarray:
    """The share of `values` in each of `bins` equal bins of [0, 1] (1.0 in the last)."""
    positions = np.clip((np.asarray(values, float) * bins).astype(int), 0, bins - 1)
    return np.bincount(positions, minlength=bins) / len(positions)


def population_stability_index(current: list[float], baseline: list[float], window_days: int) -> Figure:
    """PSI = sum over bins of (current - baseline) * ln(current / baseline), shares floored."""
    if not len(current):
        return Figure.null("no rewards today")
    if not len(baseline):
        return Figure.null(f"no rewards in the trailing {window_days} days to compare with")
    psi = 0.0
    for now, before in zip(bin_shares(current), bin_shares(baseline)):
        now, before = max(float(now), PSI_FLOOR), max(float(before), PSI_FLOOR)
        psi += (now - before) * math.log(now / before)
    return Figure(psi)


def median_shift(current: list[float], baseline: list[float], window_days: int) -> Figure:
    """Today's median minus the trailing window's."""
    if not len(current):
        return Figure.null("no rewards today")
    if not len(baseline):
        return Figure.null(f"no rewards in the trailing {window_days} days to compare with")
    return Figure(float(np.median(current) - np.median(baseline)))
