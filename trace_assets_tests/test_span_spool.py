"""The span spool groups a window's spans by trace whether the spool fits DuckDB's memory limit
or is split into buckets first (a day larger than the limit, where DuckDB's own sort fails)."""

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from trace_assets.langfuse.span_spool import SpanSpool, _bytes_of
from trace_assets.langfuse.spans import SPAN_SCHEMA, TRACE_KIND

START = datetime(2026, 4, 18, tzinfo=timezone.utc)


def spans_of(trace: int) -> list[dict]:
    """A root, a RETRIEVER and a GENERATION with 2 KB of text each; the generation also served
    twice (an older version first), and on odd traces a v3 TRACE record sharing the root's id."""
    started = START + timedelta(seconds=trace)
    text = f"trace {trace} " + "x" * 2000
    base = {name: None for name in SPAN_SCHEMA.names}
    spans = [
        {**base, "trace_id": f"t{trace}", "id": f"r{trace}", "type": "SPAN", "start_time": started, "output": text,
         "updated_at": started},
        {**base, "trace_id": f"t{trace}", "id": f"q{trace}", "type": "RETRIEVER", "parent_observation_id": f"r{trace}",
         "start_time": started, "output": text, "updated_at": started},
        {**base, "trace_id": f"t{trace}", "id": f"g{trace}", "type": "GENERATION", "parent_observation_id": f"r{trace}",
         "start_time": started, "output": "old", "updated_at": started},
        {**base, "trace_id": f"t{trace}", "id": f"g{trace}", "type": "GENERATION", "parent_observation_id": f"r{trace}",
         "start_time": started, "output": text, "updated_at": started + timedelta(seconds=5)},
    ]
    if trace % 2:
        spans.append({**base, "trace_id": f"t{trace}", "id": f"r{trace}", "type": TRACE_KIND, "start_time": started,
                      "updated_at": started})
    return spans


def grouped(memory_limit: str, traces: int = 600) -> tuple[dict[str, list[tuple]], int]:
    with SpanSpool(memory_limit=memory_limit, rows_per_file=500) as spool:
        # Spans arrive out of trace order and a trace's spans straddle batches and spool files.
        rows = [span for trace in range(traces) for span in spans_of(trace)]
        rows = rows[1::2] + rows[::2]
        for offset in range(0, len(rows), 97):
            spool.add(pa.RecordBatch.from_pylist(rows[offset : offset + 97], schema=SPAN_SCHEMA))
        result = {}
        for trace_id, spans in spool.traces():
            assert trace_id not in result, f"{trace_id} yielded twice"
            result[trace_id] = sorted((span["type"], span["id"], span["output"]) for span in spans)
        return result, spool.bytes


def test_a_spool_larger_than_the_memory_limit_is_split_and_groups_every_trace_as_one_bucket_does():
    whole, _ = grouped("1GB")
    split, spooled_bytes = grouped("8MB")
    assert spooled_bytes > 3 * _bytes_of("8MB") / 8, "the spool must be split (buckets of an eighth of the limit)"
    assert split == whole
    assert len(whole) == 600
    generation = next(span for span in whole["t7"] if span[0] == "GENERATION")
    assert generation[2].startswith("trace 7 "), "the latest version of a span served twice is kept"
    assert [span[0] for span in whole["t7"]] == ["GENERATION", "RETRIEVER", "SPAN", TRACE_KIND]


@pytest.mark.parametrize(("text", "expected"), [("256MB", 256e6), ("1GiB", 2**30), ("512 mb", 512e6)])
def test_memory_limits_read_as_duckdb_writes_them(text, expected):
    assert _bytes_of(text) == expected


def test_a_memory_limit_that_is_not_a_size_is_named():
    with pytest.raises(ValueError, match="'lots'"):
        _bytes_of("lots")
