"""The span spool groups a window's spans by trace in bounded memory: split by a hash of the
trace id into buckets as spans arrive, each bucket sorted on its own, a bucket larger than its
share split again (a day larger than the reader expected)."""

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from trace_assets.langfuse.span_spool import BUCKET_SHARE, SpanSpool, _bytes_of, bucket_of
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


def grouped(memory_limit: str, traces: int = 600, expect: float = 0) -> tuple[dict[str, list[tuple]], SpanSpool]:
    with SpanSpool(memory_limit=memory_limit) as spool:
        spool.expect(expect)
        # Spans arrive out of trace order and a trace's spans straddle batches.
        rows = [span for trace in range(traces) for span in spans_of(trace)]
        rows = rows[1::2] + rows[::2]
        for offset in range(0, len(rows), 97):
            spool.add(pa.RecordBatch.from_pylist(rows[offset : offset + 97], schema=SPAN_SCHEMA))
        result = {}
        for trace_id, spans in spool.traces():
            assert trace_id not in result, f"{trace_id} yielded twice"
            result[trace_id] = [(span["type"], span["id"], span["output"]) for span in spans]
        return result, spool


def test_every_trace_is_grouped_once_with_the_latest_version_of_each_span():
    whole, _ = grouped("1GB")
    assert len(whole) == 600
    generation = next(span for span in whole["t7"] if span[0] == "GENERATION")
    assert generation[2].startswith("trace 7 "), "the latest version of a span served twice is kept"
    assert [span[:2] for span in whole["t7"]] == [(TRACE_KIND, "r7"), ("GENERATION", "g7"), ("RETRIEVER", "q7"), ("SPAN", "r7")]
    assert [span[:2] for span in whole["t8"]] == [("GENERATION", "g8"), ("RETRIEVER", "q8"), ("SPAN", "r8")]


def test_a_day_larger_than_expected_is_split_again_and_no_bucket_sorted_exceeds_its_share():
    whole, _ = grouped("1GB")
    split, spool = grouped("2MB")
    assert spool.bytes > 8 * _bytes_of("2MB") / BUCKET_SHARE, "the spool must exceed the default buckets' shares"
    assert 0 < spool.largest_bucket_bytes <= _bytes_of("2MB") / BUCKET_SHARE
    assert split == whole


def test_a_reader_that_says_how_large_the_day_is_gets_buckets_that_fit_at_once():
    whole, _ = grouped("1GB")
    split, spool = grouped("2MB", expect=8e6)
    assert spool.largest_bucket_bytes <= _bytes_of("2MB") / BUCKET_SHARE
    assert split == whole


def test_spans_without_a_trace_id_come_last_as_one_group():
    base = {name: None for name in SPAN_SCHEMA.names}
    with SpanSpool() as spool:
        spool.add(pa.RecordBatch.from_pylist(
            [{**base, "id": "a", "type": "SPAN"}, {**base, "trace_id": "t1", "id": "b", "type": "SPAN"},
             {**base, "id": "c", "type": "SPAN"}], schema=SPAN_SCHEMA))
        groups = [(trace_id, sorted(span["id"] for span in spans)) for trace_id, spans in spool.traces()]
    assert groups == [("t1", ["b"]), (None, ["a", "c"])]


def test_trace_buckets_are_the_same_in_every_process_and_spread_evenly():
    ids = pa.array([f"{number:032x}" for number in range(20_000)])
    buckets = bucket_of(ids, 16)
    assert bucket_of(ids.slice(5, 10), 16).tolist() == buckets[5:15].tolist()
    assert bucket_of(pa.chunked_array([ids.slice(0, 7), ids.slice(7)]), 16).tolist() == buckets.tolist()
    counts = [int((buckets == bucket).sum()) for bucket in range(16)]
    assert min(counts) > 0.8 * 20_000 / 16 and max(counts) < 1.2 * 20_000 / 16
    assert bucket_of(pa.array(["5f2c", None, ""]), 16)[1] == 0


@pytest.mark.parametrize(("text", "expected"), [("256MB", 256e6), ("1GiB", 2**30), ("512 mb", 512e6)])
def test_memory_limits_read_as_sizes(text, expected):
    assert _bytes_of(text) == expected


def test_a_memory_limit_that_is_not_a_size_is_named():
    with pytest.raises(ValueError, match="'lots'"):
        _bytes_of("lots")
