"""The one definition of the traces table: what a source yields, what lands in the lake,
and what the Iceberg table `training_data.langfuse_traces` holds."""

import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import (
    BooleanType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

# The seed's `traces` table, as every TraceSource yields it (canonical column names; a source
# maps the names its database really uses onto these).
SOURCE_COLUMNS = (
    "id",
    "timestamp",
    "user_id",
    "session_id",
    "input",
    "output",
    "model",
    "latency_ms",
    "token_count",
    "metadata",
    "user_consent",
)

# Columns a source may add to SOURCE_COLUMNS: `messages`, the chat messages of the generation
# that answered as JSON text (system prompt, tool definitions and calls intact), and `contexts`,
# the retrieved RAG contexts when the source found them outside `metadata` (Langfuse RETRIEVER
# observations). Without a `contexts` column, landing lifts them out of `metadata`.
OPTIONAL_SOURCE_COLUMNS = ("messages", "contexts")

# Free-text columns whose bytes are checked for valid UTF-8 and size on landing.
TEXT_COLUMNS = ("id", "user_id", "session_id", "input", "output", "model", "metadata", "messages")

# The hive partition columns below `date=YYYY-MM-DD/` in the lake (not stored inside the files).
LAKE_PARTITION_SCHEMA = pa.schema([pa.field("model", pa.string()), pa.field("consent", pa.bool_())])

TRACES_TABLE = "training_data.langfuse_traces"

# Typed copies of the metadata object's top-level scalar keys live in this struct column of the
# Iceberg table; new keys arrive as new struct fields (additive schema evolution).
METADATA_FIELDS_COLUMN = "metadata"

TRACES_ICEBERG_SCHEMA = Schema(
    NestedField(1, "id", StringType(), required=True),
    NestedField(2, "timestamp", TimestamptzType(), required=True),
    NestedField(3, "user_id", StringType(), required=False),
    NestedField(4, "session_id", StringType(), required=False),
    NestedField(5, "input", StringType(), required=False),
    NestedField(6, "output", StringType(), required=False),
    NestedField(7, "model", StringType(), required=False),
    NestedField(8, "latency_ms", LongType(), required=False),
    NestedField(9, "token_count", LongType(), required=False),
    NestedField(10, "consent", BooleanType(), required=True),
    NestedField(11, "metadata_json", StringType(), required=False),
    NestedField(12, "contexts", ListType(13, StringType(), element_required=False), required=False),
    NestedField(14, "messages", StringType(), required=False),
    # Which redaction rules the text went through (governance/pii_detectors.py), null when it was
    # landed without redaction; part of the scores' content hash.
    NestedField(15, "redaction", StringType(), required=False),
)

# A landed trace, in the lake's Parquet files and in the table (which adds the `metadata` struct).
# `consent` is never null (a NULL user_consent is no consent); `metadata_json` is the source's
# metadata object as JSON text, unchanged; `contexts` are the retrieved RAG contexts lifted out of
# it (null when the trace recorded none); `messages` the chat messages as JSON text (null when the
# source has none: the seed's table, plain-text traces).
LANDED_TRACE_SCHEMA = schema_to_pyarrow(TRACES_ICEBERG_SCHEMA, include_field_ids=False)

TRACES_PARTITION_SPEC = PartitionSpec(
    PartitionField(source_id=2, field_id=1000, transform=DayTransform(), name="timestamp_day"),
    PartitionField(source_id=7, field_id=1001, transform=IdentityTransform(), name="model"),
    PartitionField(source_id=10, field_id=1002, transform=IdentityTransform(), name="consent"),
)
