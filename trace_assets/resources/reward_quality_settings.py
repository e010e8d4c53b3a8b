"""The reward-quality report's settings: where human feedback is, where "good" starts, how much of
the day the judge sees twice, the drift window, and the thresholds of its warnings (README.md,
"Reward quality"; environments.py reads them from TRACE_* variables)."""

import dagster as dg
from pydantic import Field, model_validator

from trace_assets.quality.feedback import FeedbackScale
from trace_assets.quality.report import Cuts
from trace_assets.quality.thresholds import Thresholds
from trace_assets.resources.langfuse_api_source import LangfuseApiSource


class RewardQualitySettings(dg.ConfigurableResource):
    feedback_key: str = Field(default="feedback_score", description="Metadata key of human feedback (TRACE_FEEDBACK_KEY).")
    human_score_names: list[str] = Field(
        default_factory=list,
        description="Names of human scores a source reads (read_human_scores) that count as feedback; "
        "empty: the feedback key (TRACE_HUMAN_SCORE_NAMES).",
    )
    human_scores: LangfuseApiSource | None = Field(
        default=None,
        description="Where people's annotation scores are read: the Langfuse API whenever it is configured "
        "(LANGFUSE_HOST and keys); unset, the trace source when it can read them.",
    )
    feedback_low: float = Field(default=1.0, description="Worst value of the feedback scale (TRACE_FEEDBACK_SCALE).")
    feedback_high: float = Field(default=5.0, description="Best value of the feedback scale (TRACE_FEEDBACK_SCALE).")
    feedback_good_at: float = Field(default=4.0, description="Feedback at or above this is good (TRACE_FEEDBACK_GOOD_AT).")
    reward_good_at: float = Field(default=0.5, ge=0, le=1, description="A reward at or above this is good (TRACE_REWARD_GOOD_AT).")
    consistency_sample: float = Field(
        default=0.02, ge=0, le=1, description="Share of the day judged twice; 0 turns it off (TRACE_CONSISTENCY_SAMPLE)."
    )
    consistency_at_least: int = Field(default=20, ge=0, description="The sample's floor, in traces.")
    drift_window_days: int = Field(default=7, gt=0, description="Trailing days drift compares with (TRACE_DRIFT_WINDOW_DAYS).")
    min_human_labelled: int = Field(
        default=50, ge=1, description="Human-labelled traces the agreement warning needs (TRACE_QUALITY_MIN_HUMAN_LABELLED)."
    )
    min_traces: int = Field(
        default=50, ge=1, description="Rewarded traces a row needs for the length and drift warnings (TRACE_QUALITY_MIN_TRACES)."
    )
    min_kappa: float = Field(default=0.4, description="Warn below this Cohen's kappa (TRACE_QUALITY_MIN_KAPPA).")
    min_spearman: float = Field(default=0.3, description="Warn below this Spearman with people (TRACE_QUALITY_MIN_SPEARMAN).")
    max_band_change_rate: float = Field(
        default=0.1, description="Warn above this share of band changes when judged twice (TRACE_QUALITY_MAX_BAND_CHANGE)."
    )
    max_length_spearman: float = Field(
        default=0.3, description="Warn above this |Spearman| of a reward with length (TRACE_QUALITY_MAX_LENGTH_SPEARMAN)."
    )
    max_psi: float = Field(default=0.2, description="Warn above this population stability index (TRACE_QUALITY_MAX_PSI).")

    @model_validator(mode="after")
    def _scale_holds_the_cut(self):
        scale = self.scale  # raises when low >= high
        if not scale.low <= self.feedback_good_at <= scale.high:
            raise ValueError(
                f"feedback_good_at {self.feedback_good_at:g} is outside the feedback scale {scale.low:g}..{scale.high:g}"
            )
        return self

    @property
    def scale(self) -> FeedbackScale:
        return FeedbackScale(self.feedback_low, self.feedback_high)

    @property
    def score_names(self) -> set[str]:
        return set(self.human_score_names or [self.feedback_key])

    @property
    def cuts(self) -> Cuts:
        human_good_at = (self.feedback_good_at - self.feedback_low) / (self.feedback_high - self.feedback_low)
        return Cuts(self.reward_good_at, human_good_at, self.drift_window_days)

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            self.min_human_labelled, self.min_traces, self.min_kappa, self.min_spearman,
            self.max_band_change_rate, self.max_length_spearman, self.max_psi,
        )
