"""The one definition of the labeled dataset: traces with both scores and the final reward."""

from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema
from pyiceberg.types import BooleanType, DoubleType, ListType, NestedField, StringType, TimestamptzType

from trace_assets.ingest.hive_day import HiveTable

LABELED_TABLE = "training_data.labeled_traces"
LABELED_PREFIX = "labeled-dataset"

LABELED_ICEBERG_SCHEMA = Schema(
    NestedField(1, "trace_id", StringType(), required=True),
    NestedField(2, "timestamp", TimestamptzType(), required=True),
    NestedField(3, "model", StringType(), required=False),
    NestedField(4, "input", StringType(), required=False),
    NestedField(5, "output", StringType(), required=False),
    NestedField(6, "contexts", ListType(7, StringType(), element_required=False), required=False),
    NestedField(8, "consent", BooleanType(), required=True),
    NestedField(9, "judge_score", DoubleType(), required=False),
    NestedField(10, "judge_reasoning", StringType(), required=False),
    NestedField(11, "judge_error", StringType(), required=False),
    NestedField(12, "faithfulness", DoubleType(), required=False),
    NestedField(13, "answer_relevancy", DoubleType(), required=False),
    NestedField(14, "context_precision", DoubleType(), required=False),
    NestedField(15, "ragas_reward", DoubleType(), required=False),
    NestedField(16, "ragas_note", StringType(), required=False),
    NestedField(17, "ragas_error", StringType(), required=False),
    NestedField(18, "ragas_weight", DoubleType(), required=True),
    NestedField(19, "judge_weight", DoubleType(), required=True),
    NestedField(20, "final_reward", DoubleType(), required=False),
    NestedField(21, "final_reward_note", StringType(), required=False),
    NestedField(22, "preference", StringType(), required=False),
    NestedField(23, "judge_model", StringType(), required=False),
    NestedField(24, "judge_prompt_version", StringType(), required=False),
    NestedField(25, "ragas_scorer_version", StringType(), required=False),
    NestedField(26, "labeled_at", TimestamptzType(), required=True),
    # The chat messages as JSON text, for conversational training formats (null: input/output only).
    NestedField(27, "messages", StringType(), required=False),
)
LABELED_SCHEMA = schema_to_pyarrow(LABELED_ICEBERG_SCHEMA, include_field_ids=False)
# In the lake: {lake}/labeled-dataset/date=YYYY-MM-DD/part-N.parquet
LABELED_LAKE_TABLE = HiveTable(LABELED_SCHEMA)
