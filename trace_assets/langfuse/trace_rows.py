"""A spool of spans (span_spool.py) as record batches of the landed source columns."""

import json
from collections.abc import Iterator

import pyarrow as pa

from trace_assets.ingest.prefetch import prefetched
from trace_assets.ingest.rejections import RejectionLog
from trace_assets.langfuse.assembly import TRACE_URL_KEY, AssemblyRules, Skipped, assemble_trace
from trace_assets.langfuse.columnar_assembly import assemble_columns
from trace_assets.langfuse.span_spool import SpanSpool, traces_of

# What a Langfuse source yields: the seed's columns plus messages and contexts.
LANGFUSE_ROW_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("user_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("input", pa.large_string()),
        pa.field("output", pa.large_string()),
        pa.field("model", pa.string()),
        pa.field("latency_ms", pa.int64()),
        pa.field("token_count", pa.int64()),
        pa.field("metadata", pa.large_string()),
        pa.field("user_consent", pa.bool_()),
        pa.field("messages", pa.large_string()),
        pa.field("contexts", pa.list_(pa.string())),
    ]
)


# Reasons a trace read for a window is not one of its rows that are worth telling a user
# (a trace of the neighbouring day is not).
_QUIET = {"trace_outside_window"}


def assembled_batches(
    spool: SpanSpool,
    rules: AssemblyRules,
    notes: RejectionLog,
    trace_url_prefix: str | None = None,
    rows_per_batch: int = 5_000,
    columnar: bool = True,
) -> Iterator[pa.RecordBatch]:
    """The window's traces as batches of LANGFUSE_ROW_SCHEMA; traces that are not rows of the
    window (Langfuse's evaluator traces, other environments, spans whose trace starts outside
    the window) are counted in `notes` with sample ids. Traces without output are left out and
    counted, as the SQL sources leave out rows with a NULL output. With `trace_url_prefix`, each
    row's metadata gets `langfuse_trace_url`, the trace's page in Langfuse. Traces of the
    common shape are assembled a bucket at a time column by column (columnar_assembly.py; with
    `columnar`), the others one by one (assembly.py): the rows are the same."""
    # The next bucket is read and sorted on a second thread while this one assembles (Arrow
    # compute releases the GIL).
    for table in prefetched(spool.trace_tables()):
        rest = table
        if columnar:
            assembled = assemble_columns(table, rules, trace_url_prefix)
            for trace_id in assembled.without_output:
                notes.add("trace_without_output", trace_id, 0)
            if assembled.rows is not None:
                columns = pa.table(assembled.rows, schema=LANGFUSE_ROW_SCHEMA)
                yield from columns.to_batches(max_chunksize=rows_per_batch)
            rest = assembled.rest
        yield from _assembled_one_by_one(rest, rules, notes, trace_url_prefix, rows_per_batch)


def _assembled_one_by_one(
    table: pa.Table, rules: AssemblyRules, notes: RejectionLog, trace_url_prefix: str | None, rows_per_batch: int
) -> Iterator[pa.RecordBatch]:
    rows = []
    for trace_id, spans in traces_of(table, rows_per_batch):
        if trace_id is None:
            notes.add("span_without_trace_id", None, len(spans))
            continue
        row = assemble_trace(trace_id, spans, rules)
        if isinstance(row, Skipped):
            if row.reason not in _QUIET:
                notes.add(row.reason, trace_id, 0)
            continue
        if row["output"] is None:
            notes.add("trace_without_output", trace_id, 0)
            continue
        if trace_url_prefix:
            metadata = json.loads(row["metadata"])
            metadata.setdefault(TRACE_URL_KEY, trace_url_prefix + trace_id)
            row["metadata"] = json.dumps(metadata, ensure_ascii=False)
        rows.append(row)
        if len(rows) >= rows_per_batch:
            yield pa.RecordBatch.from_pylist(rows, schema=LANGFUSE_ROW_SCHEMA)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=LANGFUSE_ROW_SCHEMA)
