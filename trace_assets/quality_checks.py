"""Reward-quality warnings: non-blocking checks (severity WARN) on the day's reward_quality rows,
with their thresholds from the `reward_quality_settings` resource (TRACE_QUALITY_*). A warning
never stops a day; one with nothing to judge passes and says why it was skipped."""

import dagster as dg
import pyarrow as pa

from trace_assets.assets.reward_quality import reward_quality
from trace_assets.partitions import daily_partitions
from trace_assets.quality.thresholds import (
    QualityWarning,
    agreement_warning,
    consistency_warning,
    drift_warning,
    length_warning,
)
from trace_assets.resources.reward_quality_settings import RewardQualitySettings


def _result(warning: QualityWarning) -> dg.AssetCheckResult:
    metadata = {key: value for key, value in warning.metadata.items() if value is not None}
    if isinstance(metadata.get("offenders"), list):
        metadata["offenders"] = dg.MetadataValue.json(metadata["offenders"])
    if warning.skipped:
        metadata["skipped"] = warning.skipped
    return dg.AssetCheckResult(
        passed=not warning.warn, severity=dg.AssetCheckSeverity.WARN, description=warning.description, metadata=metadata
    )


def build_quality_checks() -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=reward_quality, partitions_def=daily_partitions)
    def rewards_agree_with_people(reward_quality: pa.Table, reward_quality_settings: RewardQualitySettings) -> dg.AssetCheckResult:
        """final_reward against human feedback: warns when Cohen's kappa or Spearman is below its
        threshold with enough human-labelled traces."""
        return _result(agreement_warning(reward_quality.to_pylist(), reward_quality_settings.thresholds))

    @dg.asset_check(asset=reward_quality, partitions_def=daily_partitions)
    def judge_is_self_consistent(reward_quality: pa.Table, reward_quality_settings: RewardQualitySettings) -> dg.AssetCheckResult:
        """Warns when too many sampled traces change preference band when judged again."""
        return _result(consistency_warning(reward_quality.to_pylist(), reward_quality_settings.thresholds))

    @dg.asset_check(asset=reward_quality, partitions_def=daily_partitions)
    def rewards_do_not_follow_length(reward_quality: pa.Table, reward_quality_settings: RewardQualitySettings) -> dg.AssetCheckResult:
        """Warns when a reward's |Spearman| with answer length is above its threshold, for any model."""
        return _result(length_warning(reward_quality.to_pylist(), reward_quality_settings.thresholds))

    @dg.asset_check(asset=reward_quality, partitions_def=daily_partitions)
    def rewards_did_not_drift(reward_quality: pa.Table, reward_quality_settings: RewardQualitySettings) -> dg.AssetCheckResult:
        """Warns when final_reward's distribution moved from the trailing window's (PSI)."""
        return _result(drift_warning(reward_quality.to_pylist(), reward_quality_settings.thresholds))

    return [rewards_agree_with_people, judge_is_self_consistent, rewards_do_not_follow_length, rewards_did_not_drift]
