"""When the reward-quality report warns: each warning as a plain function of the day's rows of
`training_data.reward_quality`, saying the figure, the threshold and the N, or why it was skipped."""

from dataclasses import dataclass, field

from trace_assets.quality.quality_table import REWARDS


@dataclass(frozen=True)
class Thresholds:
    min_human_labelled: int
    min_traces: int
    min_kappa: float
    min_spearman: float
    max_band_change_rate: float
    max_length_spearman: float
    max_psi: float


@dataclass(frozen=True)
class QualityWarning:
    """`warn`: the figure crossed its threshold; `skipped`: why there was nothing to judge."""

    warn: bool
    description: str
    metadata: dict = field(default_factory=dict)
    skipped: str | None = None


def _all_models(rows: list[dict]) -> dict | None:
    return next((row for row in rows if row["model"] is None), None)


def _label(row: dict) -> str:
    return row["model"] if row["model"] is not None else "all models"


def _no_report() -> QualityWarning:
    return QualityWarning(False, "skipped: no reward_quality row for the day", skipped="no reward_quality row for the day")


def agreement_warning(rows: list[dict], t: Thresholds) -> QualityWarning:
    """final_reward against people (all models): kappa below min_kappa or Spearman below
    min_spearman, once at least min_human_labelled traces have both."""
    row = _all_models(rows)
    if row is None:
        return _no_report()
    n, kappa, rho = row["final_reward_human_n"], row["final_reward_human_kappa"], row["final_reward_human_spearman"]
    metadata = {"n": n, "kappa": kappa, "min_kappa": t.min_kappa, "spearman": rho, "min_spearman": t.min_spearman,
                "min_human_labelled": t.min_human_labelled}
    if n < t.min_human_labelled:
        why = f"only {n} traces with human feedback and a final_reward (needs {t.min_human_labelled})"
        return QualityWarning(False, f"skipped: {why}", metadata, skipped=why)
    low = []
    if kappa is not None and kappa < t.min_kappa:
        low.append(f"kappa {kappa:.3f} < {t.min_kappa:g}")
    if rho is not None and rho < t.min_spearman:
        low.append(f"Spearman {rho:.3f} < {t.min_spearman:g}")
    if low:
        return QualityWarning(True, f"final_reward disagrees with people over {n} traces: " + "; ".join(low), metadata)
    if kappa is None and rho is None:
        return QualityWarning(False, "skipped: kappa and Spearman are undefined today (see null_reasons)", metadata, "undefined")
    return QualityWarning(False, f"final_reward agrees with people over {n} traces", metadata)


def consistency_warning(rows: list[dict], t: Thresholds) -> QualityWarning:
    """The share of sampled traces whose preference band changed when judged again."""
    row = _all_models(rows)
    if row is None:
        return _no_report()
    rate, judged = row["consistency_band_change_rate"], row["consistency_judged"]
    metadata = {"band_change_rate": rate, "max_band_change_rate": t.max_band_change_rate, "n": judged,
                "sample": row["consistency_sample"], "errors": row["consistency_errors"]}
    if rate is None:
        why = "no consistency figure today (see null_reasons)"
        return QualityWarning(False, f"skipped: {why}", metadata, skipped=why)
    if rate > t.max_band_change_rate:
        return QualityWarning(True, f"{rate:.1%} of {judged} traces changed band when judged again (> {t.max_band_change_rate:.0%})", metadata)
    return QualityWarning(False, f"{rate:.1%} of {judged} traces changed band when judged again", metadata)


def _per_row(rows, t: Thresholds, figure_of, n_of, limit: float, what: str) -> QualityWarning:
    """Every row (each model, all models) with at least min_traces: |figure| above `limit`."""
    judged, offenders = [], []
    for row in rows:
        n = n_of(row)
        if n < t.min_traces:
            continue
        for name, value in figure_of(row):
            if value is None:
                continue
            judged.append((abs(value), _label(row), name, value, n))
            if abs(value) > limit:
                offenders.append(f"{_label(row)}: {name} {value:+.3f} (n={n})")
    if not judged:
        why = f"no model has {t.min_traces} rewarded traces with a defined {what} today"
        return QualityWarning(False, f"skipped: {why}", {"threshold": limit, "min_traces": t.min_traces}, skipped=why)
    worst = max(judged)
    metadata = {"figure": worst[3], "threshold": limit, "n": worst[4], "worst": f"{worst[1]}: {worst[2]}",
                "offenders": offenders}
    if offenders:
        return QualityWarning(True, f"{what} above {limit:g}: " + "; ".join(offenders[:5]), metadata)
    return QualityWarning(False, f"largest {what}: {worst[1]}: {worst[2]} {worst[3]:+.3f}", metadata)


def length_warning(rows: list[dict], t: Thresholds) -> QualityWarning:
    """|Spearman| of any reward with answer length in estimated tokens above max_length_spearman.
    Tokens, not characters: a Korean answer says in 300 characters what an English one says in
    900, so across languages characters measure the language as much as the length."""
    return _per_row(
        rows, t, lambda row: [(f"{r}_length_tokens_spearman", row[f"{r}_length_tokens_spearman"]) for r in REWARDS],
        lambda row: row["rewarded"], t.max_length_spearman, "|Spearman with answer length in tokens|",
    )


def drift_warning(rows: list[dict], t: Thresholds) -> QualityWarning:
    """PSI of final_reward against the trailing window above max_psi (rows with min_traces on
    both sides)."""
    return _per_row(
        rows, t, lambda row: [("final_reward_psi", row["final_reward_psi"])],
        lambda row: min(row["rewarded"], row["drift_baseline_traces"]), t.max_psi, "final_reward PSI",
    )
