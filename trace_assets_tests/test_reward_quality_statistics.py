"""The reward-quality statistics as plain functions, on figures worked out by hand."""

import json
import math
import random
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from trace_assets.quality.agreement import binary_agreement
from trace_assets.quality.consistency import consistency, consistency_sample, second_verdict
from trace_assets.quality.correlation import kendall, spearman, spearman_interval
from trace_assets.quality.day_rewards import DayRewards
from trace_assets.quality.drift import PSI_FLOOR, median_shift, population_stability_index
from trace_assets.quality.feedback import FeedbackScale, feedback_from_human_scores, feedback_from_metadata, human_by_trace
from trace_assets.quality.length_bias import estimated_tokens
from trace_assets.quality.picture import quality_picture
from trace_assets.quality.quality_table import FIGURE_COLUMNS, REWARD_QUALITY_SCHEMA
from trace_assets.quality.report import Cuts, quality_rows
from trace_assets.quality.trailing import TrailingRewards

NAMES = ("reward", "feedback")


def test_rank_correlations_match_the_textbook_figures():
    # d = (-1, 1, -1, 1, 0): rho = 1 - 6*4 / (5*24) = 0.8; 2 of 10 pairs discordant: tau = (8-2)/10
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], NAMES).value == pytest.approx(0.8)
    assert kendall([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], NAMES).value == pytest.approx(0.6)
    assert spearman([1, 2, 3], [30, 20, 10], NAMES).value == pytest.approx(-1.0)


def test_an_undefined_correlation_is_null_with_the_reason_never_nan():
    flat = spearman([0.5, 0.5, 0.5, 0.5], [1, 2, 3, 4], NAMES)
    assert flat.value is None and "every reward is 0.5" in flat.reason
    few = kendall([0.1, 0.2], [1, 2], NAMES)
    assert few.value is None and "fewer than 3" in few.reason and "n=2" in few.reason
    low, high = spearman_interval([0.5] * 10, list(range(10)), NAMES)
    assert low.value is None and high.value is None and low.reason


def test_the_bootstrap_interval_is_repeatable_and_holds_the_estimate():
    rng = random.Random(1)
    xs = [rng.random() for _ in range(200)]
    ys = [x + rng.gauss(0, 0.3) for x in xs]
    rho = spearman(xs, ys, NAMES).value
    low, high = spearman_interval(xs, ys, NAMES)
    assert low.value < rho < high.value and 0.05 < high.value - low.value < 0.4
    assert spearman_interval(xs, ys, NAMES) == (low, high)
    perfect = spearman_interval(list(range(50)), list(range(50)), NAMES)
    assert (perfect[0].value, perfect[1].value) == (pytest.approx(1.0), pytest.approx(1.0))


def test_kappa_corrects_raw_agreement_for_chance():
    # 8 of 10 agree at base rates 0.5 / 0.5: chance gives 0.5, kappa = (0.8 - 0.5) / 0.5
    balanced = binary_agreement([0.9] * 5 + [0.1] * 5, [1, 1, 1, 1, 0, 0, 0, 0, 0, 1], 0.5, 0.5)
    assert (balanced.agreement.value, balanced.kappa.value) == (pytest.approx(0.8), pytest.approx(0.6))
    # every reward "good", 9 of 10 people agree: 90% agreement, and exactly what chance gives
    lopsided = binary_agreement([0.9] * 10, [1] * 9 + [0], 0.5, 0.5)
    assert lopsided.agreement.value == pytest.approx(0.9) and lopsided.kappa.value == pytest.approx(0.0)
    assert (lopsided.reward_good_share.value, lopsided.human_good_share.value) == (1.0, 0.9)
    one_sided = binary_agreement([0.9] * 4, [1] * 4, 0.5, 0.5)
    assert one_sided.kappa.value is None and "same side" in one_sided.kappa.reason


def test_psi_and_the_median_shift():
    same = [i / 100 for i in range(100)]
    assert population_stability_index(same, same, 7).value == pytest.approx(0.0)
    moved = population_stability_index([0.95] * 10, [0.05] * 30, 7).value
    assert moved == pytest.approx(2 * (1 - PSI_FLOOR) * math.log(1 / PSI_FLOOR))
    assert median_shift([0.6, 0.7, 0.8], [0.2, 0.3, 0.4, 0.5], 7).value == pytest.approx(0.35)
    none = population_stability_index([0.5], [], 7)
    assert none.value is None and "trailing 7 days" in none.reason


def test_feedback_is_read_from_metadata_and_scores_on_the_configured_scale():
    traces = pa.table({
        "id": ["a", "b", "c", "d", "e", "f", "g"],
        "metadata_json": [
            json.dumps({"feedback_score": 4.5}), json.dumps({"feedback_score": "2"}), json.dumps({"feedback_score": 7}),
            json.dumps({"feedback_score": "great"}), json.dumps({"other": 1}), None, json.dumps({"feedback_score": True}),
        ],
    })
    feedback, unusable = feedback_from_metadata(traces, "feedback_score", FeedbackScale(1, 5))
    assert {r["trace_id"]: r["human"] for r in feedback.to_pylist()} == {"a": 0.875, "b": 0.25, "g": 1.0}
    assert unusable == {"metadata.feedback_score: outside the scale 1..5": 1, "metadata.feedback_score: not a number": 1}
    scores = pa.table({
        "trace_id": ["a", "a", "c", "b", "b"], "name": ["helpful", "helpful", "llm_reward", "helpful", "helpful"],
        "value": [3.0, 1.0, 5.0, 0.0, None], "data_type": ["NUMERIC", "NUMERIC", "NUMERIC", "BOOLEAN", "TEXT"],
    })
    annotated, _ = feedback_from_human_scores(scores, {"helpful"}, FeedbackScale(1, 5))
    assert human_by_trace(pa.concat_tables([feedback, annotated])) == {
        "a": pytest.approx((0.875 + 0.5 + 0.0) / 3), "b": pytest.approx(0.125), "g": 1.0,
    }
    with pytest.raises(ValueError, match="low < high"):
        FeedbackScale(5, 1)


def test_the_consistency_sample_is_a_fixed_share_with_a_floor():
    ids = [f"trace-{i}" for i in range(5000)]
    sample = consistency_sample(ids, 0.02, 20)
    assert len(sample) == 100 and sample == consistency_sample(list(reversed(ids)), 0.02, 20)
    assert len(consistency_sample(ids[:300], 0.02, 20)) == 20
    assert sorted(consistency_sample(ids[:7], 0.02, 20)) == sorted(ids[:7])
    assert consistency_sample(ids, 0.0, 20) == []


def test_consistency_counts_band_changes_and_failed_calls():
    row = {"trace_id": "t", "model": "m", "judge_score": 0.9, "ragas_reward": 0.8, "ragas_weight": 0.6,
           "judge_weight": 0.4, "preference": "preferred"}
    same = second_verdict(row, 0.9, None, 100, 10)
    lower = second_verdict(row, 0.2, None, 100, 10)  # 0.6*0.8 + 0.4*0.2 = 0.56: neutral
    failed = second_verdict(row, None, "http_500", 0, 0)
    figures = consistency([same, lower, failed], "")
    assert (figures.sample, figures.judged, figures.errors) == (3, 2, 1)
    assert figures.mean_abs_diff.value == pytest.approx(0.35) and figures.band_change_rate.value == pytest.approx(0.5)
    assert (figures.tokens_in, figures.tokens_out) == (200, 20)
    assert consistency([failed], "").mean_abs_diff.reason == "the judge failed on all 1 sampled traces"


def test_token_estimates_count_korean_characters_more_densely_than_english():
    assert estimated_tokens("abcd" * 10) == 10
    assert estimated_tokens("가나다라") == 4 and estimated_tokens(None) == 0


def test_report_rows_have_every_figure_or_its_reason_and_no_nan():
    start = datetime(2026, 4, 18, tzinfo=timezone.utc)
    labeled = pa.Table.from_pylist([
        {"trace_id": f"t{i}", "model": "m1" if i % 2 else "m2", "output": "x" * (10 * i), "final_reward": 0.5,
         "judge_score": i / 10, "ragas_reward": None if i == 0 else 0.5}
        for i in range(10)
    ])
    rows = quality_rows(
        date(2026, 4, 18), start, DayRewards.of(labeled.to_batches(), {}), {}, [], "TRACE_CONSISTENCY_SAMPLE is 0",
        TrailingRewards(), Cuts(0.5, 0.75, 7), {"judge_scorer": "llm_judge", "judge_model": "j"}, start,
    )
    assert [row["model"] for row in rows] == ["m1", "m2", None]
    table = pa.Table.from_pylist(rows, schema=REWARD_QUALITY_SCHEMA)  # every column present, typed
    everything = rows[-1]
    reasons = json.loads(everything["null_reasons"])
    assert everything["judge_score_length_spearman"] == pytest.approx(1.0)
    assert "every final_reward is 0.5" in reasons["final_reward_length_spearman"]
    assert reasons["final_reward_human_kappa"] == "no human feedback on the day's traces"
    assert reasons["final_reward_psi"] == "no rewards in the trailing 7 days to compare with"
    assert reasons["consistency_band_change_rate"] == "TRACE_CONSISTENCY_SAMPLE is 0"
    for row in table.to_pylist():
        reasons = json.loads(row["null_reasons"])
        for column in FIGURE_COLUMNS:
            assert (row[column] is None) == (column in reasons), column
            assert row[column] is None or math.isfinite(row[column])


def test_the_picture_is_a_png():
    png = quality_picture("2026-04-18", {"m1": [0.1, 0.5, 0.9], "m2": []}, ([0.5], [0.4]))
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert quality_picture("2026-04-18", {}, ([], [])).startswith(b"\x89PNG")


def test_the_bootstrap_ranks_each_resample_as_scipy_does_ties_and_all():
    import numpy as np
    from scipy import stats

    from trace_assets.quality.correlation import resampled_spearman

    rng = np.random.default_rng(3)
    for x in (rng.integers(0, 5, 120).astype(float), rng.random(120)):
        y = np.round(x + rng.normal(0, 2, 120), 1)
        picks = rng.integers(0, 120, (40, 120))
        expected = [stats.spearmanr(x[p], y[p]).statistic for p in picks]
        assert resampled_spearman(x, y, picks) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(resampled_spearman(np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([[0, 0]])))[0]


def test_the_benchmark_runs_on_a_small_day():
    from trace_assets_tests.test_bench_smoke import run

    output = run("reward_quality.py", "--traces", "400")
    assert "400 traces, 40 with feedback" in output and "(same rhos)" in output
