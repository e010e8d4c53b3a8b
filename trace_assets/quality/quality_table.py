"""The one definition of `training_data.reward_quality`: one row per day and model, and one for
all models (`model` null). Figures are doubles, null with their reason in `null_reasons` (a JSON
object: column -> reason), never NaN. README.md, "Reward quality", says what each means."""

from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import DateType, DoubleType, LongType, NestedField, StringType, TimestamptzType

REWARD_QUALITY_TABLE = "training_data.reward_quality"
REWARDS = ("final_reward", "judge_score", "ragas_reward")

_COUNT, _FIGURE, _TEXT = LongType(), DoubleType(), StringType()

# (name, type, required) in the table's order; field ids follow it, so new columns go at the end.
_COLUMNS = [
    ("date", DateType(), True),
    ("day_start", TimestamptzType(), True),  # the UTC day's first instant: the partition key
    ("model", _TEXT, False),  # null: all models
    ("traces", _COUNT, True),  # labeled traces
    ("rewarded", _COUNT, True),  # with a final_reward
    ("final_reward_mean", _FIGURE, False),
    ("final_reward_median", _FIGURE, False),
    ("human_labelled", _COUNT, True),  # traces with human feedback
]
for _reward in REWARDS:
    _COLUMNS += [
        (f"{_reward}_human_n", _COUNT, True),
        (f"{_reward}_human_spearman", _FIGURE, False),
        (f"{_reward}_human_spearman_low", _FIGURE, False),
        (f"{_reward}_human_spearman_high", _FIGURE, False),
        (f"{_reward}_human_kendall", _FIGURE, False),
        (f"{_reward}_human_agreement", _FIGURE, False),
        (f"{_reward}_human_kappa", _FIGURE, False),
        (f"{_reward}_good_share", _FIGURE, False),
        (f"{_reward}_human_good_share", _FIGURE, False),
    ]
_COLUMNS += [
    ("consistency_sample", _COUNT, True),
    ("consistency_judged", _COUNT, True),
    ("consistency_errors", _COUNT, True),
    ("consistency_mean_abs_diff", _FIGURE, False),
    ("consistency_band_change_rate", _FIGURE, False),
    ("consistency_tokens_in", _COUNT, True),
    ("consistency_tokens_out", _COUNT, True),
]
for _reward in REWARDS:
    _COLUMNS += [(f"{_reward}_length_spearman", _FIGURE, False), (f"{_reward}_length_tokens_spearman", _FIGURE, False)]
_COLUMNS += [("drift_baseline_traces", _COUNT, True)]
for _reward in REWARDS:
    _COLUMNS += [(f"{_reward}_psi", _FIGURE, False), (f"{_reward}_median_shift", _FIGURE, False)]
_COLUMNS += [
    ("judge_ragas_n", _COUNT, True),
    ("judge_ragas_spearman", _FIGURE, False),
    ("judge_scorer", _TEXT, False),
    ("judge_model", _TEXT, False),
    ("feedback_origins", _TEXT, True),  # JSON: traces with feedback by origin, and unusable values by reason
    ("null_reasons", _TEXT, True),  # JSON: for every null figure, why
    ("computed_at", TimestamptzType(), True),
]

REWARD_QUALITY_ICEBERG_SCHEMA = Schema(
    *(NestedField(i, name, kind, required=required) for i, (name, kind, required) in enumerate(_COLUMNS, start=1))
)
REWARD_QUALITY_SCHEMA = schema_to_pyarrow(REWARD_QUALITY_ICEBERG_SCHEMA, include_field_ids=False)
FIGURE_COLUMNS = tuple(name for name, kind, _ in _COLUMNS if kind == _FIGURE)

# One partition per UTC day, on `day_start` (field 2).
REWARD_QUALITY_SPEC = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=DayTransform(), name="day"))
