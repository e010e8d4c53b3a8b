"""The reward-quality settings from the environment, and when each warning fires (plain functions)."""

import pytest

from trace_assets.environments import MissingSettingError, build_resources, reward_quality_settings
from trace_assets.quality.thresholds import agreement_warning, consistency_warning, drift_warning, length_warning


def test_defaults_are_the_issue_s_and_variables_override_them():
    defaults = reward_quality_settings({})
    assert (defaults.feedback_key, defaults.consistency_sample, defaults.drift_window_days) == ("feedback_score", 0.02, 7)
    assert defaults.thresholds.min_kappa == 0.4 and defaults.thresholds.max_psi == 0.2
    assert defaults.cuts.human_good_at == pytest.approx(0.75)  # 4 on 1..5
    custom = reward_quality_settings({
        "TRACE_FEEDBACK_KEY": "user_rating", "TRACE_FEEDBACK_SCALE": "0,10", "TRACE_FEEDBACK_GOOD_AT": "8",
        "TRACE_CONSISTENCY_SAMPLE": "0", "TRACE_DRIFT_WINDOW_DAYS": "28", "TRACE_HUMAN_SCORE_NAMES": "helpfulness, correct",
        "TRACE_QUALITY_MAX_PSI": "0.25", "TRACE_REWARD_GOOD_AT": "0.7",
    })
    assert custom.feedback_key == "user_rating" and custom.cuts.human_good_at == pytest.approx(0.8)
    assert custom.score_names == {"helpfulness", "correct"} and custom.thresholds.max_psi == 0.25
    assert (custom.consistency_sample, custom.drift_window_days, custom.reward_good_at) == (0.0, 28, 0.7)
    assert "reward_quality_settings" in build_resources({"TRACE_LAKE_URI": "/tmp/unused-lake"})


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("TRACE_CONSISTENCY_SAMPLE", "2%", "TRACE_CONSISTENCY_SAMPLE='2%' is not a share between 0 and 1"),
        ("TRACE_CONSISTENCY_SAMPLE", "1.5", "TRACE_CONSISTENCY_SAMPLE='1.5' is not a share"),
        ("TRACE_DRIFT_WINDOW_DAYS", "0", "TRACE_DRIFT_WINDOW_DAYS='0' is not a positive whole number"),
        ("TRACE_FEEDBACK_SCALE", "5,1", "TRACE_FEEDBACK_SCALE='5,1' is not `worst,best`"),
        ("TRACE_FEEDBACK_SCALE", "1-5", "TRACE_FEEDBACK_SCALE='1-5' is not `worst,best`"),
        ("TRACE_FEEDBACK_GOOD_AT", "9", "TRACE_FEEDBACK_GOOD_AT=9 is outside TRACE_FEEDBACK_SCALE 1,5"),
        ("TRACE_FEEDBACK_KEY", " ", "TRACE_FEEDBACK_KEY is empty"),
        ("TRACE_QUALITY_MIN_KAPPA", "high", "TRACE_QUALITY_MIN_KAPPA='high' is not a number"),
        ("TRACE_QUALITY_MIN_HUMAN_LABELLED", "-3", "TRACE_QUALITY_MIN_HUMAN_LABELLED='-3' is not a positive whole number"),
    ],
)
def test_an_invalid_value_is_rejected_naming_the_variable(name, value, message):
    with pytest.raises(MissingSettingError, match=message.replace("(", r"\(").replace("`", "`")):
        reward_quality_settings({name: value})


def _row(**figures) -> dict:
    row = {
        "model": None, "rewarded": 100, "drift_baseline_traces": 700, "final_reward_human_n": 60,
        "final_reward_human_kappa": 0.6, "final_reward_human_spearman": 0.5, "consistency_band_change_rate": 0.05,
        "consistency_judged": 20, "consistency_sample": 20, "consistency_errors": 0, "final_reward_psi": 0.05,
        **{f"{r}_length_tokens_spearman": 0.1 for r in ("final_reward", "judge_score", "ragas_reward")},
    }
    return {**row, **figures}


def test_each_warning_fires_past_its_threshold_and_is_skipped_without_enough_data():
    t = reward_quality_settings({}).thresholds
    assert not agreement_warning([_row()], t).warn
    assert agreement_warning([_row(final_reward_human_kappa=0.39)], t).warn
    assert agreement_warning([_row(final_reward_human_spearman=0.29)], t).warn
    few = agreement_warning([_row(final_reward_human_n=49, final_reward_human_kappa=0.0)], t)
    assert not few.warn and few.skipped == "only 49 traces with human feedback and a final_reward (needs 50)"
    assert consistency_warning([_row(consistency_band_change_rate=0.11)], t).warn
    assert consistency_warning([_row(consistency_band_change_rate=None)], t).skipped
    biased = length_warning([_row(), _row(model="m", judge_score_length_tokens_spearman=-0.45)], t)
    assert biased.warn and biased.metadata["figure"] == -0.45 and biased.metadata["worst"] == "m: judge_score_length_tokens_spearman"
    assert not length_warning([_row(model="m", rewarded=10, judge_score_length_tokens_spearman=0.9)], t).warn
    assert drift_warning([_row(final_reward_psi=0.21)], t).warn
    assert drift_warning([_row(drift_baseline_traces=0, final_reward_psi=None)], t).skipped
    assert agreement_warning([], t).skipped == "no reward_quality row for the day"
