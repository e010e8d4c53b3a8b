"""The landing gate as a plain function: what lands, what is rejected and why."""

import json
from datetime import datetime, timezone

import pyarrow as pa

from trace_assets.ingest.landing import LandingRules, clean_batch
from trace_assets.ingest.rejections import RejectionLog
from trace_assets.tables.traces import LANDED_TRACE_SCHEMA

RULES = LandingRules(
    window_start=datetime(2026, 4, 18, tzinfo=timezone.utc),
    window_end=datetime(2026, 4, 19, tzinfo=timezone.utc),
    max_field_bytes=1000,
)


def source_batch(*rows: dict) -> pa.RecordBatch:
    """Rows as a source yields them (seed column names, metadata as JSON text)."""
    defaults = {
        "id": "t", "timestamp": datetime(2026, 4, 18, 3), "user_id": "u", "session_id": "s", "input": "q",
        "output": "a", "model": "glm-5-32b", "latency_ms": 1, "token_count": 2, "metadata": "{}", "user_consent": True,
    }
    full = [{**defaults, **row} for row in rows]
    schema = pa.schema([
        ("id", pa.string()), ("timestamp", pa.timestamp("us")), ("user_id", pa.string()), ("session_id", pa.string()),
        ("input", pa.string()), ("output", pa.string()), ("model", pa.string()), ("latency_ms", pa.int64()),
        ("token_count", pa.int64()), ("metadata", pa.string()), ("user_consent", pa.bool_()),
    ])
    return pa.RecordBatch.from_pylist(full, schema=schema)


def test_good_rows_land_with_the_landed_schema_and_utc_timestamps():
    rejections = RejectionLog()
    landed = clean_batch(source_batch({"id": "a"}), RULES, rejections)
    assert landed.schema.names == LANDED_TRACE_SCHEMA.names
    assert landed.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert landed.to_pylist()[0]["timestamp"] == datetime(2026, 4, 18, 3, tzinfo=timezone.utc)
    assert rejections.total == 0


def test_null_consent_lands_as_no_consent():
    landed = clean_batch(source_batch({"id": "a", "user_consent": None}), RULES, RejectionLog())
    assert landed.column("consent").to_pylist() == [False]


def test_contexts_come_from_metadata_in_the_shapes_sources_use():
    batch = source_batch(
        {"id": "strings", "metadata": json.dumps({"contexts": ["one", "two"]})},
        {"id": "documents", "metadata": json.dumps({"retrieved_contexts": [{"page_content": "doc"}, {"text": "t"}]})},
        {"id": "single", "metadata": json.dumps({"contexts": "only one"})},
        {"id": "none", "metadata": json.dumps({"domain": "eks"})},
        {"id": "null-metadata", "metadata": None},
    )
    landed = clean_batch(batch, RULES, RejectionLog())
    assert landed.column("contexts").to_pylist() == [["one", "two"], ["doc", "t"], ["only one"], None, None]


def test_lists_of_strings_under_either_key_take_the_fast_path_and_contexts_wins():
    """Batches where every context is a list of strings (parsed by Arrow's JSON reader): only
    `contexts`, only `retrieved_contexts`, both keys in one batch, and both in one row."""
    only_contexts = source_batch(
        {"id": "a", "metadata": json.dumps({"contexts": ["one", "two"]})}, {"id": "b", "metadata": json.dumps({"domain": "eks"})}
    )
    only_retrieved = source_batch(
        {"id": "a", "metadata": json.dumps({"retrieved_contexts": ["r"]})}, {"id": "b", "metadata": None}
    )
    mixed = source_batch(
        {"id": "a", "metadata": json.dumps({"contexts": ["c"]})},
        {"id": "b", "metadata": json.dumps({"retrieved_contexts": ["r1", "r2"]})},
        {"id": "both", "metadata": json.dumps({"retrieved_contexts": ["r"], "contexts": ["c1"]})},
        {"id": "neither", "metadata": "{}"},
    )
    contexts = [clean_batch(batch, RULES, RejectionLog()).column("contexts").to_pylist() for batch in (only_contexts, only_retrieved, mixed)]
    assert contexts == [[["one", "two"], None], [["r"], None], [["c"], ["r1", "r2"], ["c1"], None]]


def test_bad_rows_are_rejected_with_their_reason_and_the_rest_lands():
    big = "x" * 1001
    batch = source_batch(
        {"id": "good"},
        {"id": None},
        {"id": "no-time", "timestamp": None},
        {"id": "late", "timestamp": datetime(2026, 4, 19)},
        {"id": "array", "metadata": "[1, 2]"},
        {"id": "not-json", "metadata": "{oops"},
        {"id": "huge", "output": big},
        {"id": "odd-contexts", "metadata": json.dumps({"contexts": [1, 2]})},
        {"id": "also-good"},
    )
    rejections = RejectionLog()
    landed = clean_batch(batch, RULES, rejections, first_row_number=100)
    assert landed.column("id").to_pylist() == ["good", "also-good"]
    assert rejections.as_dict() == {
        "contexts_malformed": {"rows": 1, "sample_ids": ["odd-contexts"]},
        "metadata_invalid_json": {"rows": 1, "sample_ids": ["not-json"]},
        "metadata_not_object": {"rows": 1, "sample_ids": ["array"]},
        "missing_id": {"rows": 1, "sample_ids": ["<no id: row 102 of the day>"]},
        "missing_timestamp": {"rows": 1, "sample_ids": ["no-time"]},
        "outside_window": {"rows": 1, "sample_ids": ["late"]},
        "oversized_field:output": {"rows": 1, "sample_ids": ["huge"]},
    }


def test_invalid_utf8_is_rejected_per_row():
    # The bytes a SQL_ASCII database hands over: a string column that is not valid UTF-8.
    texts = pa.array([b"fine", b"bad \xff bytes", b"fine too"], pa.binary()).view(pa.string())
    batch = source_batch({"id": "a"}, {"id": "b"}, {"id": "c"})
    batch = batch.set_column(batch.schema.get_field_index("output"), "output", texts)
    rejections = RejectionLog()
    landed = clean_batch(batch, RULES, rejections)
    assert landed.column("id").to_pylist() == ["a", "c"]
    assert rejections.as_dict() == {"invalid_utf8:output": {"rows": 1, "sample_ids": ["b"]}}
