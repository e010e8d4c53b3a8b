"""What the reward-quality report costs on a large day, without the judge: the day's rows of
training_data.reward_quality (every figure, per model and for all models) and the picture, for a
day of N labeled traces over 4 models with 10% human feedback, against a 7-day window.

    .venv/bin/python bench/reward_quality.py --traces 50000

Prints wall time and the peak RSS growth of each step, measured in this one run, and the
bootstrap interval two ways on the day's feedback pairs: resamples as counts per pair (ours) against
ranking every resample anew (scipy's rankdata on each resample)."""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import random
import resource
import time
from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
from scipy import stats

from trace_assets.quality.consistency import second_verdict
from trace_assets.quality.correlation import BOOTSTRAP_RESAMPLES, resampled_spearman
from trace_assets.quality.picture import quality_picture
from trace_assets.quality.day_rewards import DAY_COLUMNS, DayRewards
from trace_assets.quality.report import Cuts, quality_rows
from trace_assets.quality.trailing import TrailingRewards

MODELS = ["Qwen/Qwen3-4B", "glm-5-32b", "qwen3-coder", "gpt-oss 20b"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_day(n: int, rng: random.Random) -> tuple[pa.Table, dict]:
    rows, human = [], {}
    for i in range(n):
        judge = rng.random()
        ragas = min(1.0, max(0.0, judge + rng.gauss(0, 0.2)))
        answer = ("답변 " if i % 3 == 0 else "an answer ") * rng.randint(5, 300)
        rows.append({"trace_id": f"t{i}", "model": MODELS[i % 4], "output": answer, "judge_score": judge,
                     "ragas_reward": ragas, "final_reward": 0.6 * ragas + 0.4 * judge})
        if i % 10 == 0:
            human[f"t{i}"] = min(1.0, max(0.0, judge + rng.gauss(0, 0.3)))
    return pa.Table.from_pylist(rows), human


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=50_000)
    args = parser.parse_args()
    rng = random.Random(7)
    labeled, human = synthetic_day(args.traces, rng)
    baseline = pa.table({
        "model": [MODELS[i % 4] for i in range(7 * args.traces)],
        **{name: [rng.random() for _ in range(7 * args.traces)] for name in ("final_reward", "judge_score", "ragas_reward")},
    })
    sample_rows = labeled.slice(0, 1000).to_pylist()
    verdicts = [second_verdict({**row, "ragas_weight": 0.6, "judge_weight": 0.4, "preference": "neutral"},
                               row["judge_score"], None, 800, 50) for row in sample_rows]
    start = datetime(2026, 4, 18, tzinfo=timezone.utc)
    before, started = peak_mb(), time.perf_counter()
    day = DayRewards.of(labeled.select(DAY_COLUMNS).to_batches(max_chunksize=2_048), human)
    trailing = TrailingRewards.of(lambda: baseline.to_batches(max_chunksize=16_384))
    rows = quality_rows(date(2026, 4, 18), start, day, {}, verdicts, "", trailing, Cuts(0.5, 0.75, 7),
                        {"judge_scorer": "llm_judge", "judge_model": "qwen3-judge"}, start)
    report_s, report_mb = time.perf_counter() - started, peak_mb() - before
    started = time.perf_counter()
    final = day.rewards["final_reward"]
    by_model = {name: final[day.model == code] for code, name in enumerate(day.models)}
    png = quality_picture("2026-04-18", by_model, (np.full(len(human), 0.5), np.fromiter(human.values(), float)))
    picture_s = time.perf_counter() - started
    print(f"{args.traces:,} traces, {len(human):,} with feedback, {baseline.num_rows:,} in the 7-day window")
    print(f"report rows ({len(rows)}): {report_s:.1f} s, peak RSS +{report_mb:.0f} MB")
    print(f"picture: {picture_s:.1f} s, {len(png) / 1024:.0f} KB PNG")

    ids = list(human)
    rewards = dict(zip(labeled.column("trace_id").to_pylist(), labeled.column("final_reward").to_pylist()))
    x, y = np.array([rewards[i] for i in ids]), np.array([human[i] for i in ids])
    picks = np.random.default_rng(1).integers(0, len(x), size=(BOOTSTRAP_RESAMPLES, len(x)))
    started = time.perf_counter()
    counted = np.concatenate([resampled_spearman(x, y, chunk) for chunk in np.array_split(picks, 10)])
    counted_s = time.perf_counter() - started
    started = time.perf_counter()
    ranked = np.array([stats.spearmanr(x[p], y[p]).statistic for p in picks])
    ranked_s = time.perf_counter() - started
    assert np.allclose(counted, ranked)
    print(f"bootstrap of {BOOTSTRAP_RESAMPLES} resamples of {len(x):,} pairs: counts {counted_s:.2f} s, "
          f"ranking each resample {ranked_s:.2f} s (same rhos)")


if __name__ == "__main__":
    main()
