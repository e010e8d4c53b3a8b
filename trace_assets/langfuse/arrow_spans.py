"""Export rows (Parquet `observations`, `observations_v2`, `traces`) as spans with Arrow compute.

The same spans records.py makes of a row (`span_from_observation`, `span_from_trace`), column by
column instead of a dict per span: renames, empty texts as null, casts, usage through map
lookups, tags joined as JSON text. Only what has no Arrow equivalent runs per value in Python,
and only on the rows that need it: metadata and tool definitions that are not empty maps, tags
with characters JSON escapes, usage that is not a map of integers. test_langfuse_columnar.py
lands the same exports both ways and compares every column.
"""

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The export's column names of each span field, in records.py's order of preference.
from trace_assets.langfuse.records import FIELD_NAMES, USAGE_NAMES
from trace_assets.langfuse.spans import SPAN_SCHEMA, TRACE_KIND, as_metadata, as_tags, as_text, json_or_text, usage_counts

_PROMPT_KEYS = ("input", "prompt_tokens", "promptTokens", "input_tokens")
_COMPLETION_KEYS = ("output", "completion_tokens", "completionTokens", "output_tokens")
_TOTAL_KEYS = ("total", "total_tokens", "totalTokens")
# Counts records.py reads through float(): exact only below 2**53.
_EXACT_FLOAT_INT = 2**53
# What json.dumps escapes with ensure_ascii=False.
_JSON_ESCAPED = r'["\\\x00-\x1f]'
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def spans_from_export(batch: pa.RecordBatch, table: str) -> pa.RecordBatch:
    """A batch of export rows of `table` (`traces`, or observations of either generation) as
    SPAN_SCHEMA, equal to what records.py makes of each row."""
    columns = {name: _plain(batch.column(index)) for index, name in enumerate(batch.schema.names)}
    n = batch.num_rows
    if table == "traces":
        trace_id = _text(columns, "id", n)
        spans = {
            "trace_id": trace_id,
            "id": trace_id,
            "type": pa.repeat(TRACE_KIND, n),
            "name": _text(columns, "name", n),
            "parent_observation_id": pa.nulls(n, pa.string()),
            "start_time": _timestamp(columns.get("timestamp"), n),
            "end_time": pa.nulls(n, _TIMESTAMP),
            "model": pa.nulls(n, pa.string()),
            "tool_definitions": pa.nulls(n, pa.large_string()),
            "input_tokens": pa.nulls(n, pa.int64()),
            "output_tokens": pa.nulls(n, pa.int64()),
            "total_tokens": pa.nulls(n, pa.int64()),
            # span_from_trace reads `tags` as it is (an empty text too).
            "tags": _tags(columns.get("tags"), n),
        }
    else:
        kind = _text(columns, "type", n)
        if pc.all(pc.string_is_ascii(kind)).as_py() is False:
            # utf8_upper and str.upper differ beyond ASCII (ß -> SS).
            kind = pa.array([value.upper() if value else value for value in kind.to_pylist()], pa.string())
        prompt, completion, total = _usage(columns, n)
        spans = {
            "trace_id": _text(columns, "trace_id", n),
            "id": _text(columns, "id", n),
            "type": pc.utf8_upper(pc.fill_null(kind, "SPAN")),
            "name": _text(columns, "name", n),
            "parent_observation_id": _text(columns, "parent_observation_id", n),
            "start_time": _timestamp(_first(columns, "start_time"), n),
            "end_time": _timestamp(_first(columns, "end_time"), n),
            "model": _text(columns, "model", n),
            "tool_definitions": _tool_definitions(_first(columns, "tool_definitions"), n),
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": total,
            "tags": _tags(_without_empty_text(_first(columns, "tags")), n),
        }
    spans.update(
        input=_text(columns, "input", n),
        output=_text(columns, "output", n),
        metadata=_metadata(_first(columns, "metadata"), n),
        environment=_text(columns, "environment", n),
        user_id=_text(columns, "user_id", n),
        session_id=_text(columns, "session_id", n),
        release=_text(columns, "release", n),
        version=_text(columns, "version", n),
        updated_at=_timestamp(_first(columns, "updated_at"), n),
    )
    return pa.RecordBatch.from_arrays([spans[field.name].cast(field.type) for field in SPAN_SCHEMA], schema=SPAN_SCHEMA)


def _plain(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        return column.dictionary_decode()
    return column


def _first(columns: dict, field: str) -> pa.Array | None:
    """The export column that holds `field`. An export spells each field one way: a batch with
    two spellings raises (ArrowInvalid) and is read row by row."""
    found = [columns[name] for name in FIELD_NAMES[field] if name in columns]
    if len(found) > 1:
        raise pa.ArrowInvalid(f"{field} in more than one column")
    return found[0] if found else None


def _text(columns: dict, field: str, n: int) -> pa.Array:
    """records._get for a text field: the first of its columns holding a value that is neither
    null nor empty."""
    found = None
    for name in FIELD_NAMES[field]:
        column = columns.get(name)
        if column is None:
            continue
        if pa.types.is_null(column.type):
            continue
        if not _is_text_type(column.type):
            # Not text in Parquet (numbers as ids?): the caller reads the file row by row.
            raise pa.ArrowInvalid(f"{name} of type {column.type}")
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
        found = column if found is None else pc.coalesce(found, column.cast(found.type))
    return found if found is not None else pa.nulls(n, pa.string())


def _without_empty_text(column: pa.Array | None) -> pa.Array | None:
    if column is None or not _is_text_type(column.type):
        return column
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)


def _timestamp(column: pa.Array | None, n: int) -> pa.Array:
    """records.as_utc: a zone-less time is UTC. Finer than microseconds raises (ArrowInvalid)
    rather than be cut, and the caller reads the file row by row instead."""
    if column is None or pa.types.is_null(column.type):
        return pa.nulls(n, _TIMESTAMP)
    if not pa.types.is_timestamp(column.type):
        raise pa.ArrowInvalid(f"a time column of type {column.type}")
    return column.cast(pa.timestamp(column.type.unit, tz="UTC")).cast(_TIMESTAMP)


def _lengths(column: pa.Array) -> pa.Array:
    """Entries of each list or map (null where the value is null): list_value_length has no
    kernel for maps."""
    offsets = column.offsets
    lengths = pc.subtract(offsets[1:], offsets[:-1])
    return pc.if_else(column.is_valid(), lengths, pa.scalar(None, lengths.type))


def _python_where(column: pa.Array, needs: pa.Array, convert, otherwise: pa.Array, out_type: pa.DataType) -> pa.Array:
    """`convert` of each value where `needs`, `otherwise` elsewhere."""
    needs = pc.fill_null(needs, False)
    positions = np.flatnonzero(needs.to_numpy(zero_copy_only=False))
    if len(positions) == 0:
        return otherwise.cast(out_type)
    values = column.take(pa.array(positions)).to_pylist()
    converted = pa.array([convert(value) for value in values], out_type)
    # replace_with_mask takes the converted values in the mask's order.
    return pc.replace_with_mask(otherwise.cast(out_type), needs, converted)


def _metadata(column: pa.Array | None, n: int) -> pa.Array:
    """records: as_metadata(_get(row, "metadata")). An empty map is `{}` without Python."""
    if column is None or pa.types.is_null(column.type):
        return pa.nulls(n, pa.large_string())
    if pa.types.is_map(column.type) and _is_text_type(column.type.key_type) and _is_text_type(column.type.item_type):
        as_json = _map_as_json(column)
        if as_json is not None:
            return as_json
    if pa.types.is_map(column.type) or pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = _lengths(column)
        empty = pc.if_else(pc.equal(lengths, 0), pa.scalar("{}", pa.large_string()), pa.scalar(None, pa.large_string()))
        return _python_where(column, pc.greater(lengths, 0), as_metadata, empty, pa.large_string())
    return _python_where(column, pc.is_valid(column), lambda value: as_metadata(value) if value != "" else None,
                         pa.nulls(n, pa.large_string()), pa.large_string())


def _map_as_json(column: pa.MapArray) -> pa.Array | None:
    """as_metadata of each map of texts, with Python only once per distinct key and value (a
    value that is JSON text is parsed, as Langfuse's read path does). None when a map repeats a
    key (dict() keeps the first position and the last value; the caller goes row by row)."""
    offsets = column.offsets.to_numpy()
    start, stop = int(offsets[0]), int(offsets[-1])
    keys = column.keys.slice(start, stop - start)
    values = column.items.slice(start, stop - start)
    lengths = np.diff(offsets)
    if len(keys):
        owners = pa.table({"row": np.repeat(np.arange(len(column)), lengths), "key": keys})
        if owners.group_by(["row", "key"]).aggregate([]).num_rows != len(keys):
            return None
    key_texts = _each_distinct(keys, lambda key: json.dumps(key, ensure_ascii=False))
    value_texts = _each_distinct(values, lambda value: json.dumps(json_or_text(value), ensure_ascii=False))
    entries = pc.binary_join_element_wise(key_texts, value_texts, pa.scalar(": ", pa.large_string()))
    lists = pa.ListArray.from_arrays(pa.array(offsets - start, pa.int32()), entries)
    text = pc.binary_join_element_wise(
        pa.scalar("{", pa.large_string()), pc.binary_join(lists, pa.scalar(", ", pa.large_string())), pa.scalar("}", pa.large_string()),
        pa.scalar("", pa.large_string()),
    )
    return pc.if_else(column.is_valid(), text, pa.scalar(None, pa.large_string()))


def _each_distinct(values: pa.Array, convert) -> pa.Array:
    """`convert` of each value (null included), computed once per distinct value."""
    distinct = pc.unique(values)
    converted = pa.array([convert(value) for value in distinct.to_pylist()], pa.large_string())
    return converted.take(pc.index_in(values, distinct))


def _is_text_type(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _tool_definitions(column: pa.Array | None, n: int) -> pa.Array:
    """records: as_text of the tools (a map becomes a JSON object; an empty one `[]`)."""
    if column is None or pa.types.is_null(column.type):
        return pa.nulls(n, pa.large_string())

    def convert(tools):
        if tools == "":
            return None
        return as_text(dict(tools) if isinstance(tools, list) and tools and isinstance(tools[0], tuple) else tools)

    if pa.types.is_map(column.type) or pa.types.is_list(column.type):
        lengths = _lengths(column)
        empty = pc.if_else(pc.equal(lengths, 0), pa.scalar("[]", pa.large_string()), pa.scalar(None, pa.large_string()))
        return _python_where(column, pc.greater(lengths, 0), convert, empty, pa.large_string())
    return _python_where(column, pc.is_valid(column), convert, pa.nulls(n, pa.large_string()), pa.large_string())


def _tags(column: pa.Array | None, n: int) -> pa.Array:
    """records: as_tags, a JSON list of strings. A list of texts without characters JSON escapes
    is joined in Arrow; anything else goes through as_tags."""
    if column is None or pa.types.is_null(column.type):
        return pa.nulls(n, pa.string())
    if pa.types.is_list(column.type) and pa.types.is_string(column.type.value_type):
        flat = pc.list_flatten(column)
        if flat.null_count == 0 and not pc.any(pc.match_substring_regex(flat, _JSON_ESCAPED)).as_py():
            joined = pc.binary_join_element_wise('["', pc.binary_join(column, '", "'), '"]', "")
            return pc.if_else(pc.equal(_lengths(column), 0), pa.scalar("[]"), joined)
    return _python_where(column, pc.is_valid(column), as_tags, pa.nulls(n, pa.string()), pa.string())


def _usage(columns: dict, n: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    """records.usage_counts of the first usage column with a value: map lookups for a map of
    integers, the row-wise rules for anything else."""
    present = [columns[name] for name in USAGE_NAMES if name in columns and not pa.types.is_null(columns[name].type)]
    nothing = pa.nulls(n, pa.int64())
    if not present:
        return nothing, nothing, nothing
    usage = present[0]
    integer_map = (
        len(present) == 1
        and pa.types.is_map(usage.type)
        and pa.types.is_integer(usage.type.item_type)
        and (len(usage.items) == 0 or (pc.max(usage.items).as_py() or 0) < _EXACT_FLOAT_INT)
    )
    if integer_map:

        def lookup(keys):
            found = None
            for key in keys:
                value = pc.map_lookup(usage, pa.scalar(key, usage.type.key_type), "last").cast(pa.int64())
                found = value if found is None else pc.coalesce(found, value)
            return found

        prompt, completion, total = lookup(_PROMPT_KEYS), lookup(_COMPLETION_KEYS), lookup(_TOTAL_KEYS)
        either = pc.or_(pc.is_valid(prompt), pc.is_valid(completion))
        summed = pc.add(pc.fill_null(prompt, 0), pc.fill_null(completion, 0))
        total = pc.coalesce(total, pc.if_else(either, summed, pa.scalar(None, pa.int64())))
        return prompt, completion, total
    rows = [pa.array(column).to_pylist() for column in present]
    counts = []
    for values in zip(*rows, strict=True):
        usage_value = next((value for value in values if value not in (None, "")), None)
        counts.append(usage_counts(usage_value))
    prompt, completion, total = zip(*counts, strict=True) if counts else ((), (), ())
    return pa.array(prompt, pa.int64()), pa.array(completion, pa.int64()), pa.array(total, pa.int64())

