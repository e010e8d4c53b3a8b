"""The landing gate: turns a source batch into landed traces and rejects, row by row.

A row is rejected (counted with its reason, never silently dropped) when it has no id or
timestamp, falls outside the window it was read for, holds invalid UTF-8 or a field larger than
the limit, or its metadata is not a JSON object or its contexts are not a list of texts.
Rejecting a row never fails the batch: the rest of the batch lands.
"""

import json
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from trace_assets.ingest.rejections import RejectionLog
from trace_assets.tables.traces import LANDED_TRACE_SCHEMA, TEXT_COLUMNS

# Where a trace records its retrieved RAG contexts inside `metadata`, first match wins
# (see ../shared/reference/langfuse.md: `contexts` in the seed's table, `retrieved_contexts`
# as ragas names them).
CONTEXT_KEYS = ("contexts", "retrieved_contexts")
# Keys of a context given as an object (LangChain documents, OpenInference documents).
CONTEXT_TEXT_KEYS = ("page_content", "content", "text")


@dataclass(frozen=True)
class LandingRules:
    """What a landed row must satisfy: its timestamp inside [window_start, window_end) and no
    text field above max_field_bytes."""

    window_start: datetime
    window_end: datetime
    max_field_bytes: int


class _Verdicts:
    """The first rejection reason of each row of a batch (None: the row is still good)."""

    def __init__(self, num_rows: int):
        self.reasons: list[str | None] = [None] * num_rows

    def reject_where(self, mask: pa.Array | None, reason: str) -> None:
        if mask is None:
            return
        for row in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
            if self.reasons[row] is None:
                self.reasons[row] = reason

    def keep_mask(self) -> pa.Array | None:
        """Which rows are still good; None when all are (nothing to filter)."""
        if all(reason is None for reason in self.reasons):
            return None
        return pa.array([reason is None for reason in self.reasons], type=pa.bool_())


def clean_batch(
    batch: pa.RecordBatch,
    rules: LandingRules,
    rejections: RejectionLog,
    first_row_number: int = 0,
) -> pa.RecordBatch:
    """Return the landable rows of `batch` (source columns) as LANDED_TRACE_SCHEMA, recording
    every other row in `rejections`. `first_row_number` numbers rows for ids that are missing."""
    verdicts = _Verdicts(batch.num_rows)
    verdicts.reject_where(pc.is_null(batch.column("id")), "missing_id")
    timestamps = _as_utc(batch.column("timestamp"))
    verdicts.reject_where(pc.is_null(timestamps), "missing_timestamp")
    inside = pc.and_(
        pc.greater_equal(timestamps, pa.scalar(rules.window_start, timestamps.type)),
        pc.less(timestamps, pa.scalar(rules.window_end, timestamps.type)),
    )
    verdicts.reject_where(pc.invert(pc.fill_null(inside, True)), "outside_window")
    batch = _with_optional_columns(batch)
    for name in TEXT_COLUMNS:
        column = batch.column(name)
        verdicts.reject_where(_invalid_utf8(column), f"invalid_utf8:{name}")
        verdicts.reject_where(
            pc.greater(pc.binary_length(column), rules.max_field_bytes), f"oversized_field:{name}"
        )
    _record(batch, verdicts, rejections, [first_row_number + row for row in range(batch.num_rows)])

    # Metadata is parsed only on rows whose bytes are known to be valid and bounded.
    keep = verdicts.keep_mask()
    if keep is None:
        survivors, survivor_rows = batch, [first_row_number + row for row in range(batch.num_rows)]
    else:
        survivors = batch.filter(keep)
        survivor_rows = [first_row_number + row for row in pc.indices_nonzero(keep).to_pylist()]
        timestamps = timestamps.filter(keep)
    verdicts = _Verdicts(survivors.num_rows)
    contexts = survivors.column("contexts")
    if pa.types.is_null(contexts.type):
        contexts = _contexts_from_metadata(survivors.column("metadata"), verdicts)
    _record(survivors, verdicts, rejections, survivor_rows)

    derived = {
        "timestamp": timestamps,
        "consent": pc.fill_null(survivors.column("user_consent").cast(pa.bool_()), False),
        "metadata_json": survivors.column("metadata"),
        "contexts": contexts if isinstance(contexts, pa.Array) else pa.array(contexts),
        # Set by landing's redaction step (assets/raw_traces.py), after the gates.
        "redaction": pa.nulls(survivors.num_rows, pa.string()),
    }
    landed = pa.RecordBatch.from_arrays(
        [
            (derived[field.name] if field.name in derived else survivors.column(field.name)).cast(field.type)
            for field in LANDED_TRACE_SCHEMA
        ],
        schema=LANDED_TRACE_SCHEMA,
    )
    keep = verdicts.keep_mask()
    return landed if keep is None else landed.filter(keep)


def _with_optional_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with the OPTIONAL_SOURCE_COLUMNS it lacks: `messages` all null, and `contexts` as
    a column of Arrow's null type, which tells landing to lift the contexts out of `metadata`."""
    if "messages" not in batch.schema.names:
        batch = batch.append_column("messages", pa.nulls(batch.num_rows, pa.string()))
    if "contexts" not in batch.schema.names:
        batch = batch.append_column("contexts", pa.nulls(batch.num_rows))
    return batch


def _record(batch, verdicts: _Verdicts, rejections: RejectionLog, row_numbers: list[int]) -> None:
    rejected = [row for row, reason in enumerate(verdicts.reasons) if reason is not None]
    if not rejected:
        return
    ids = batch.column("id").take(pa.array(rejected))
    for position, row in enumerate(rejected):
        trace_id = _readable(ids[position])
        rejections.add(verdicts.reasons[row], trace_id, row_numbers[row])


def _readable(value: pa.Scalar) -> str | None:
    """An id as text for the log, even when its bytes are not valid UTF-8."""
    if not value.is_valid:
        return None
    return value.cast(pa.binary()).as_py().decode("utf-8", errors="replace")


def _as_utc(timestamps: pa.Array) -> pa.Array:
    # A source column without a time zone holds UTC wall-clock times (the seed's TIMESTAMP).
    return pc.cast(timestamps, pa.timestamp("us", tz="UTC"), safe=False)


def _invalid_utf8(column: pa.Array):
    """Mask of rows whose text is not valid UTF-8, or None when the whole column is valid."""
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return None
    try:
        column.validate(full=True)
        return None
    except pa.ArrowInvalid:
        raw = column.view(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary())
        return pa.array([value is not None and not _is_utf8(value) for value in raw.to_pylist()])


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _contexts_from_metadata(metadata: pa.Array, verdicts: _Verdicts) -> list | pa.Array:
    """The contexts of each row. The common case (every metadata an object whose contexts, if
    any, are a list of strings) is parsed in C++ by pyarrow's JSON reader; anything else falls
    back to Python, row by row, to find and name the rows that are wrong."""
    fast = _contexts_by_arrow(metadata)
    if fast is not None:
        return fast
    contexts = []
    for row, text in enumerate(metadata.to_pylist()):
        contexts.append(None)
        if text is None:
            continue
        try:
            document = json.loads(text)
        except ValueError:
            verdicts.reasons[row] = "metadata_invalid_json"
            continue
        if not isinstance(document, dict):
            verdicts.reasons[row] = "metadata_not_object"
            continue
        try:
            contexts[row] = _context_texts(document)
        except ValueError:
            verdicts.reasons[row] = "contexts_malformed"
    return contexts


_CONTEXTS_ONLY = pa.schema([(key, pa.list_(pa.string())) for key in CONTEXT_KEYS])


def _contexts_by_arrow(metadata: pa.Array) -> pa.Array | None:
    if len(metadata) == 0:
        return None
    lines = pc.fill_null(metadata.cast(pa.string()), "{}")
    # jsonb text holds no raw newline, so the rows joined by newlines are one JSON-lines document.
    document = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n")
    joined = document[0]  # making the scalar costs ~0.2 ms for a batch's document: once
    data = joined.as_buffer() if hasattr(joined, "as_buffer") else pa.py_buffer(joined.as_py().encode())
    try:
        parsed = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(block_size=max(data.size + 1, 1 << 20)),
            parse_options=pa_json.ParseOptions(explicit_schema=_CONTEXTS_ONLY, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if parsed.num_rows != len(metadata):
        return None
    first, second = (_one_array(parsed.column(key)) for key in CONTEXT_KEYS)
    # `contexts` where a row has it, else `retrieved_contexts`; a row rarely has both keys, and
    # choosing between two list columns copies every text (1.4 CPU s a million traces).
    if second.null_count == len(second) or first.null_count == 0:
        return first
    if first.null_count == len(first):
        return second
    return pc.if_else(pc.is_valid(first), first, second)


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array, without copying when it is one chunk (combine_chunks copies)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _context_texts(document: dict) -> list[str] | None:
    for key in CONTEXT_KEYS:
        if key in document and document[key] is not None:
            value = document[key]
            items = [value] if isinstance(value, (str, dict)) else value
            if not isinstance(items, list):
                raise ValueError(f"{key} is a {type(value).__name__}")
            return [_context_text(item) for item in items]
    return None


def _context_text(item) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in CONTEXT_TEXT_KEYS:
            if isinstance(item.get(key), str):
                return item[key]
    raise ValueError(f"context is not a text: {type(item).__name__}")
