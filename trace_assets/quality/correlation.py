"""Rank correlations (Spearman, Kendall's tau-b) and a bootstrap interval for Spearman, each null
with the reason where it is undefined: too few pairs, or a side whose values are all equal."""

import numpy as np
from scipy import stats

from trace_assets.quality.figure import Figure

MIN_PAIRS = 3
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20260418  # fixed: the same day gives the same interval on every rerun
MIN_VALID_RESAMPLES = 100
_RESAMPLED_VALUES_AT_ONCE = 2_000_000  # bounds the bootstrap's memory whatever the day's size


def _undefined(x: np.ndarray, y: np.ndarray, names: tuple[str, str]) -> str | None:
    if len(x) < MIN_PAIRS:
        return f"fewer than {MIN_PAIRS} traces with both {names[0]} and {names[1]} (n={len(x)})"
    for values, name in ((x, names[0]), (y, names[1])):
        if np.all(values == values[0]):
            return f"every {name} is {values[0]:g}: a correlation is undefined when one side never varies"
    return None


def spearman(xs: list[float], ys: list[float], names: tuple[str, str]) -> Figure:
    """Spearman's rho of paired values (`names` say what they are, for the reason when null)."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    reason = _undefined(x, y, names)
    if reason:
        return Figure.null(reason)
    return Figure.of(stats.spearmanr(x, y).statistic, f"Spearman of {names[0]} and {names[1]} is undefined")


def kendall(xs: list[float], ys: list[float], names: tuple[str, str]) -> Figure:
    """Kendall's tau-b (ties accounted for) of paired values."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    reason = _undefined(x, y, names)
    if reason:
        return Figure.null(reason)
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
        rhos.append(_row_spearman(x[picks], y[picks]))
    rho = np.concatenate(rhos)
    rho = rho[np.isfinite(rho)]
    if len(rho) < MIN_VALID_RESAMPLES:
        reason = f"only {len(rho)} of {resamples} resamples had varying values: too few traces for an interval"
        return Figure.null(reason), Figure.null(reason)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(rho, [tail, 100 - tail])
    return Figure(float(low)), Figure(float(high))


def _row_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (NaN where a row never varies)."""
    rx = stats.rankdata(x, axis=1)
    ry = stats.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=1) / denominator
