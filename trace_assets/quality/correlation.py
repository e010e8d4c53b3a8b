"""Rank correlations (Spearman, Kendall's tau-b) and a bootstrap interval for Spearman, each null
with the reason where it is undefined: too few pairs, or a side whose values are all equal."""

import math

import numpy as np

from trace_assets.quality.figure import Figure

MIN_PAIRS = 3
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20260418  # fixed: the same day gives the same interval on every rerun
MIN_VALID_RESAMPLES = 100
_RESAMPLED_VALUES_AT_ONCE = 500_000  # bounds the bootstrap's memory whatever the day's size: ~30 MB of temporaries (2,000,000: ~120 MB)


def _undefined(x: np.ndarray, y: np.ndarray, names: tuple[str, str]) -> str | None:
    if len(x) < MIN_PAIRS:
        return f"fewer than {MIN_PAIRS} traces with both {names[0]} and {names[1]} (n={len(x)})"
    for values, name in ((x, names[0]), (y, names[1])):
        if np.all(values == values[0]):
            return f"every {name} is {values[0]:g}: a correlation is undefined when one side never varies"
    return None


def spearman(xs, ys, names: tuple[str, str]) -> Figure:
    """Spearman's rho of paired values (`names` say what they are, for the reason when null): the
    Pearson correlation of their midranks, as scipy.stats.spearmanr computes it, in a third of its
    memory (a day's million answer lengths: ~40 MB of temporaries instead of ~95)."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    reason = _undefined(x, y, names)
    if reason:
        return Figure.null(reason)
    rx = _ranks(x)
    rx -= rx.mean()
    ry = _ranks(y)
    ry -= ry.mean()
    rho = float(np.dot(rx, ry)) / math.sqrt(float(np.dot(rx, rx)) * float(np.dot(ry, ry)))
    rho = min(1.0, max(-1.0, rho))  # rounding can pass the bounds by an ulp (numpy's corrcoef clips too)
    return Figure.of(rho, f"Spearman of {names[0]} and {names[1]} is undefined")


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (scipy.stats.rankdata's "average")."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2)[inverse]


def kendall(xs: list[float], ys: list[float], names: tuple[str, str]) -> Figure:
    """Kendall's tau-b (ties accounted for) of paired values."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    reason = _undefined(x, y, names)
    if reason:
        return Figure.null(reason)
    from scipy import stats

    return Figure.of(stats.kendalltau(x, y).statistic, f"Kendall's tau of {names[0]} and {names[1]} is undefined")


def spearman_interval(
    xs: list[float], ys: list[float], names: tuple[str, str], confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
) -> tuple[Figure, Figure]:
    """The percentile bootstrap interval of Spearman's rho: pairs resampled with replacement
    `resamples` times (a fixed seed, so reruns agree); resamples in which a side never varies
    have no rho and are left out."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    reason = _undefined(x, y, names)
    if reason:
        return Figure.null(reason), Figure.null(reason)
    rng = np.random.default_rng(seed)
    n = len(x)
    per_chunk = max(1, _RESAMPLED_VALUES_AT_ONCE // n)
    rhos = []
    for start in range(0, resamples, per_chunk):
        picks = rng.integers(0, n, size=(min(per_chunk, resamples - start), n))
        rhos.append(resampled_spearman(x, y, picks))
    rho = np.concatenate(rhos)
    rho = rho[np.isfinite(rho)]
    if len(rho) < MIN_VALID_RESAMPLES:
        reason = f"only {len(rho)} of {resamples} resamples had varying values: too few traces for an interval"
        return Figure.null(reason), Figure.null(reason)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(rho, [tail, 100 - tail])
    return Figure(float(low)), Figure(float(high))


def resampled_spearman(x: np.ndarray, y: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Spearman's rho of each resample (a row of `picks`, positions into x and y; NaN where a
    side never varies), without sorting each resample: a resample is a count per original pair,
    and a value's midrank in it follows from the counts of the values below it."""
    rows, n = picks.shape
    counts = np.bincount((np.arange(rows)[:, None] * n + picks).ravel(), minlength=rows * n).reshape(rows, n).astype(float)
    rx, ry = _midranks(x, counts), _midranks(y, counts)
    mx = (counts * rx).sum(axis=1, keepdims=True) / n
    my = (counts * ry).sum(axis=1, keepdims=True) / n
    dx, dy = rx - mx, ry - my
    covariance = (counts * dx * dy).sum(axis=1)
    spread = np.sqrt((counts * dx * dx).sum(axis=1) * (counts * dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread > 0, covariance / np.where(spread > 0, spread, 1), np.nan)


def _midranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each original value's midrank within each resample (rows of `counts`)."""
    order = np.argsort(values, kind="stable")
    distinct, starts, group = np.unique(values[order], return_index=True, return_inverse=True)
    per_group = np.add.reduceat(counts[:, order], starts, axis=1)  # each distinct value's count per resample
    group = group[np.argsort(order)]  # back to the original positions
    below_and_in = np.cumsum(per_group, axis=1)
    midrank = below_and_in - (per_group - 1) / 2
    return midrank[:, group]
