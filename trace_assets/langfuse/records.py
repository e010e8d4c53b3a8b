"""A Langfuse record (an API item in camelCase, an export row in snake_case, a v3 trace or an
observation) as a span (spans.SPAN_SCHEMA)."""

from trace_assets.langfuse.spans import (
    TRACE_KIND,
    as_metadata,
    as_tags,
    as_text,
    as_utc,
    usage_counts,
)

# Each span field and the names Langfuse gives it, API first, then exports and the v2 item's
# own spellings (`model` in v2 answers, `provided_model_name` in exports).
FIELD_NAMES = {
    "id": ("id", "span_id"),
    "trace_id": ("traceId", "trace_id"),
    "type": ("type",),
    "name": ("name",),
    "parent_observation_id": ("parentObservationId", "parent_observation_id", "parent_span_id"),
    "start_time": ("startTime", "start_time"),
    "end_time": ("endTime", "end_time"),
    "input": ("input",),
    "output": ("output",),
    "metadata": ("metadata",),
    "model": ("model", "providedModelName", "provided_model_name"),
    "tool_definitions": ("toolDefinitions", "tool_definitions"),
    "environment": ("environment",),
    "user_id": ("userId", "user_id"),
    "session_id": ("sessionId", "session_id"),
    "tags": ("tags", "traceTags", "trace_tags"),
    "release": ("release",),
    "version": ("version",),
    "updated_at": ("updatedAt", "updated_at"),
}
USAGE_NAMES = ("usageDetails", "usage_details", "usage")


def _get(record: dict, field: str):
    for name in FIELD_NAMES[field]:
        value = record.get(name)
        if value not in (None, ""):
            return value
    return None


def span_from_observation(record: dict) -> dict:
    """An observation (v1 or v2 API item, v3 `observations` or v4 `observations_v2` row)."""
    usage = next((record[name] for name in USAGE_NAMES if record.get(name) not in (None, "")), None)
    prompt, completion, total = usage_counts(usage)
    tools = _get(record, "tool_definitions")
    return {
        "trace_id": _get(record, "trace_id"),
        "id": _get(record, "id"),
        "type": (_get(record, "type") or "SPAN").upper(),
        "name": _get(record, "name"),
        "parent_observation_id": _get(record, "parent_observation_id"),
        "start_time": as_utc(_get(record, "start_time")),
        "end_time": as_utc(_get(record, "end_time")),
        "input": as_text(_get(record, "input")),
        "output": as_text(_get(record, "output")),
        "metadata": as_metadata(_get(record, "metadata")),
        "model": _get(record, "model"),
        "tool_definitions": as_text(dict(tools) if isinstance(tools, list) and tools and isinstance(tools[0], tuple) else tools),
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": total,
        "environment": _get(record, "environment"),
        "user_id": _get(record, "user_id"),
        "session_id": _get(record, "session_id"),
        "tags": as_tags(_get(record, "tags")),
        "release": _get(record, "release"),
        "version": _get(record, "version"),
        "updated_at": as_utc(_get(record, "updated_at")),
    }


def span_from_trace(record: dict) -> dict:
    """A v3 trace record (v1 API `GET /traces` item, v3 `traces` export row) as a TRACE span."""
    trace_id = _get(record, "id")
    return {
        "trace_id": trace_id,
        "id": trace_id,
        "type": TRACE_KIND,
        "name": _get(record, "name"),
        "parent_observation_id": None,
        "start_time": as_utc(record.get("timestamp")),
        "end_time": None,
        "input": as_text(_get(record, "input")),
        "output": as_text(_get(record, "output")),
        "metadata": as_metadata(_get(record, "metadata")),
        "model": None,
        "tool_definitions": None,
        "input_tokens": None,
        "output_tokens": None,
        "total_tokens": None,
        "environment": _get(record, "environment"),
        "user_id": _get(record, "user_id"),
        "session_id": _get(record, "session_id"),
        "tags": as_tags(record.get("tags")),
        "release": _get(record, "release"),
        "version": _get(record, "version"),
        "updated_at": as_utc(_get(record, "updated_at")),
    }
