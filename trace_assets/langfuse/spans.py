"""One shape for what every Langfuse reader yields: spans.

Langfuse v3 keeps traces and observations apart (v1 API, `traces` and `observations` export
tables); v4 keeps only observations, the root one standing for its trace (v2 API,
`observations_v2` export). Readers turn each into rows of SPAN_SCHEMA: an observation is a span;
a v3 trace record is a span of kind TRACE. Assembly then groups a trace's spans, whatever the
server generation, and never sees a reader's field names.
"""

import json
from datetime import datetime, timezone

import pyarrow as pa

# The kind of a span that is a v3 trace record (not an observation type Langfuse uses).
TRACE_KIND = "TRACE"

SPAN_SCHEMA = pa.schema(
    [
        pa.field("trace_id", pa.string()),
        pa.field("id", pa.string()),
        # GENERATION, SPAN, RETRIEVER, EVENT, TOOL, ... or TRACE (a v3 trace record)
        pa.field("type", pa.string()),
        pa.field("name", pa.string()),
        pa.field("parent_observation_id", pa.string()),
        pa.field("start_time", pa.timestamp("us", tz="UTC")),
        pa.field("end_time", pa.timestamp("us", tz="UTC")),
        # Langfuse's raw text: what the application sent as a string, JSON text otherwise.
        pa.field("input", pa.large_string()),
        pa.field("output", pa.large_string()),
        # A JSON object (v4's flattened dotted keys stay as they are).
        pa.field("metadata", pa.large_string()),
        pa.field("model", pa.string()),
        # The tools a generation was offered, as a JSON object (name -> definition) or list.
        pa.field("tool_definitions", pa.large_string()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("total_tokens", pa.int64()),
        pa.field("environment", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("session_id", pa.string()),
        # A JSON list of strings.
        pa.field("tags", pa.string()),
        pa.field("release", pa.string()),
        pa.field("version", pa.string()),
        pa.field("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def as_text(value) -> str | None:
    """A field as Langfuse stores it: strings as they are, anything else as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def as_tags(value) -> str | None:
    """Tags as a JSON list of strings (exports may give a list, a JSON text or a Postgres-style
    `{a,b}` text)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [tag for tag in value.strip("{}[]").split(",") if tag]
    if not isinstance(value, list):
        value = [value]
    return json.dumps([str(tag) for tag in value], ensure_ascii=False)


def as_metadata(value) -> str | None:
    """Metadata as a JSON object text: exports give maps (lists of key/value pairs), the API
    objects, JSON text or, in v4, dotted keys with string values. Langfuse stores each value as
    a string and its read path parses the ones that are JSON (`"true"` -> true, a list's text ->
    the list): so do we, whichever way the metadata arrived."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return json.dumps({"metadata": value}, ensure_ascii=False)
        value = parsed
    if isinstance(value, list) and all(isinstance(item, (tuple, list)) and len(item) == 2 for item in value):
        value = dict(value)
    if not isinstance(value, dict):
        value = {"metadata": value}
    return json.dumps({key: json_or_text(item) for key, item in value.items()}, ensure_ascii=False)


def json_or_text(value):
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def as_utc(value) -> datetime | None:
    """An ISO-8601 text (`Z` or offset; JSONL exports write `2026-04-18 10:00:00.000000`, UTC)
    or a datetime, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def as_count(value) -> int | None:
    """A token count: JSONL exports write 64-bit integers as strings."""
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def usage_counts(usage) -> tuple[int | None, int | None, int | None]:
    """(input, output, total) tokens from Langfuse's usage details (`input`/`output`/`total`, or
    OpenAI's `prompt_tokens`/`completion_tokens`/`total_tokens`, or v1's `promptTokens`...)."""
    if isinstance(usage, str):
        try:
            usage = json.loads(usage)
        except ValueError:
            return None, None, None
    if isinstance(usage, list):
        usage = dict(usage)
    if not isinstance(usage, dict):
        return None, None, None

    def first(*keys):
        for key in keys:
            if usage.get(key) is not None:
                return as_count(usage[key])
        return None

    prompt = first("input", "prompt_tokens", "promptTokens", "input_tokens")
    completion = first("output", "completion_tokens", "completionTokens", "output_tokens")
    total = first("total", "total_tokens", "totalTokens")
    if total is None and (prompt is not None or completion is not None):
        total = (prompt or 0) + (completion or 0)
    return prompt, completion, total


def spans_batch(rows: list[dict]) -> pa.RecordBatch:
    """Rows with SPAN_SCHEMA's keys (missing keys are null) as one record batch."""
    return pa.RecordBatch.from_pylist(rows, schema=SPAN_SCHEMA)
