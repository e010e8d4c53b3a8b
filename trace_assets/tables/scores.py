"""The one definition of each score table: what every score row carries (its provenance)."""

from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import DateType, DoubleType, LongType, NestedField, StringType, TimestamptzType

JUDGE_SCORES_TABLE = "training_data.judge_scores"

# One row per consented trace of the day. `judge_score` is in [0, 1], or null with `error` (the
# message) and `error_kind` (a short code). `timestamp` is the trace's, so a day's scores live in
# that day's partition (`date`, its UTC day); `content_hash` is what was scored (input, output,
# contexts).
JUDGE_SCORES_ICEBERG_SCHEMA = Schema(
    NestedField(1, "trace_id", StringType(), required=True),
    NestedField(2, "timestamp", TimestamptzType(), required=True),
    NestedField(3, "judge_score", DoubleType(), required=False),
    NestedField(4, "reasoning", StringType(), required=False),
    NestedField(5, "error", StringType(), required=False),
    NestedField(6, "error_kind", StringType(), required=False),
    NestedField(7, "scorer", StringType(), required=True),
    NestedField(8, "judge_model", StringType(), required=True),
    NestedField(9, "prompt_version", StringType(), required=True),
    NestedField(10, "content_hash", StringType(), required=True),
    NestedField(11, "tokens_in", LongType(), required=True),
    NestedField(12, "tokens_out", LongType(), required=True),
    NestedField(13, "latency_ms", DoubleType(), required=True),
    NestedField(14, "scored_at", TimestamptzType(), required=True),
    NestedField(15, "date", DateType(), required=True),
)
JUDGE_SCORES_SCHEMA = schema_to_pyarrow(JUDGE_SCORES_ICEBERG_SCHEMA, include_field_ids=False)

RAGAS_SCORES_TABLE = "training_data.ragas_scores"

# One row per consented trace of the day. Every metric is in [0, 1] (scoring/metric_ranges.py).
# A metric that does not apply is null and named in
# `not_applicable` with the reason; a metric that failed is null and its message is in `error`.
# `ragas_reward` is null when an applicable metric failed or none applies (`reward_note` says
# why), and says when it was renormalised over fewer metrics.
RAGAS_SCORES_ICEBERG_SCHEMA = Schema(
    NestedField(1, "trace_id", StringType(), required=True),
    NestedField(2, "timestamp", TimestamptzType(), required=True),
    NestedField(3, "faithfulness", DoubleType(), required=False),
    NestedField(4, "answer_relevancy", DoubleType(), required=False),
    NestedField(5, "context_precision", DoubleType(), required=False),
    NestedField(6, "ragas_reward", DoubleType(), required=False),
    NestedField(7, "reward_note", StringType(), required=False),
    NestedField(8, "not_applicable", StringType(), required=False),
    NestedField(9, "error", StringType(), required=False),
    NestedField(10, "error_kind", StringType(), required=False),
    NestedField(11, "scorer", StringType(), required=True),
    NestedField(12, "llm_model", StringType(), required=True),
    NestedField(13, "embeddings_model", StringType(), required=True),
    NestedField(14, "scorer_version", StringType(), required=True),
    NestedField(15, "content_hash", StringType(), required=True),
    NestedField(16, "llm_calls", LongType(), required=True),
    NestedField(17, "tokens_in", LongType(), required=True),
    NestedField(18, "tokens_out", LongType(), required=True),
    NestedField(19, "latency_ms", DoubleType(), required=True),
    NestedField(20, "scored_at", TimestamptzType(), required=True),
    NestedField(21, "date", DateType(), required=True),
    # What ragas returned for answer_relevancy, a cosine in [-1, 1]; `answer_relevancy` is it
    # bounded to [0, 1] (scoring/metric_ranges.py). Null where the metric was not computed.
    NestedField(22, "answer_relevancy_raw", DoubleType(), required=False),
)
RAGAS_SCORES_SCHEMA = schema_to_pyarrow(RAGAS_SCORES_ICEBERG_SCHEMA, include_field_ids=False)

# The spec of every table whose field 2 is the trace `timestamp`: one partition per UTC day.
BY_DAY = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=DayTransform(), name="timestamp_day"))
