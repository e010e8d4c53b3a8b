"""Trace assembly column by column, for the traces of the common shape.

Most traces an application sends look alike: one root span, one GENERATION, any number of
RETRIEVERs, nothing else; the question and the answer as a JSON string or a one-key object, the
chat messages as a list of `{"role", "content"}` objects, the documents as `page_content`
objects. For those, assembly.py's rules reduce to renames, regular expressions on the JSON
texts and Arrow's own JSON reader, applied to a whole sorted bucket of the spool at once; only
the trace's metadata (consent, added keys) is a small dict per trace. Every trace that departs
from that shape in any way the rules care about (a v3 TRACE record, several roots or
generations, TOOL spans, a span named `retrieval`, OpenInference attributes, chat messages with
more keys, escapes a regular expression cannot undo, tools offered...) is handed back, and
assembly.py assembles it as before. test_langfuse_columnar.py lands generated exports both ways
and compares every column.
"""

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from trace_assets.langfuse.assembly import (
    LANGFUSE_INTERNAL_ENVIRONMENT,
    TRACE_URL_KEY,
    AssemblyRules,
    has_consent,
    tags_of,
    trace_metadata,
)
from trace_assets.langfuse.spans import TRACE_KIND

_POSITION = "__position"
_CHRONOLOGICAL = [
    ("trace_id", "ascending", "at_end"),
    ("start_time", "ascending", "at_end"),
    ("end_time", "ascending", "at_end"),
    (_POSITION, "ascending", "at_end"),
]

# A JSON string's content that json.loads reads as a regular expression can undo: no control
# characters, no \\u escapes.
_STRING = r'(?:[^"\\\x00-\x1f]|\\["\\/bfnrt])*'
# Each pattern a JSON text of one string can take: (the whole text, the part before the string's
# content). The content ends 1 or 2 characters before the text does (`"` or `"}`).
_JSON_STRING = (rf'^"{_STRING}"$', r'^"', 1)
_QUESTION_OBJECT = (rf'^\{{"(?:question|query|input|user_input|prompt|text|content)": ?"{_STRING}"\}}$',
                    r'^\{"(?:question|query|input|user_input|prompt|text|content)": ?"', 2)
_ANSWER_OBJECT = (rf'^\{{"(?:content|output|answer|response|text|result)": ?"{_STRING}"\}}$',
                  r'^\{"(?:content|output|answer|response|text|result)": ?"', 2)
_ASSISTANT_MESSAGE = (rf'^\{{"role": ?"assistant", ?"content": ?"{_STRING}"\}}$', r'^\{"role": ?"assistant", ?"content": ?"', 2)
# Chat messages exactly as json.dumps(..., ensure_ascii=False) writes them: then the landed
# `messages` text is the input's text with the answer appended, as assembly.py's json.dumps of
# the parsed list would write it.
_CANONICAL_STRING = r'(?:[^"\\\x00-\x1f]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))*'
_CANONICAL_MESSAGE = rf'\{{"role": "[^"\\\x00-\x1f]*", "content": "{_CANONICAL_STRING}"\}}'
_CANONICAL_CHAT = rf"^\[{_CANONICAL_MESSAGE}(?:, {_CANONICAL_MESSAGE})*\]$"
_CANONICAL_ANSWER = rf'^\{{"role": "assistant", "content": "{_CANONICAL_STRING}"\}}$'
_ENDS_WITH_ASSISTANT = rf'"role": "assistant", "content": "{_CANONICAL_STRING}"\}}\]$'
_SIMPLE_MESSAGE = rf'\{{"role": ?"[^"\\\x00-\x1f]*", ?"content": ?"{_STRING}"\}}'
_SIMPLE_CHAT = rf"^\[{_SIMPLE_MESSAGE}(?:, ?{_SIMPLE_MESSAGE})*\]$"
# Greedy: the last user message (a raw `"role"` cannot be inside a JSON string).
_LAST_USER = rf'^.*"role": ?"user", ?"content": ?"(?P<value>{_STRING})"\}}'
_UNESCAPES = [('\\"', '"'), ("\\/", "/"), ("\\b", "\b"), ("\\f", "\f"), ("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t")]


@dataclass
class ColumnarAssembly:
    """What assemble_columns made of a bucket: `rows` (LANGFUSE_ROW_SCHEMA's columns) of the
    common-shape traces that are rows, the ids of those without output, and `rest`: the spans
    of every other trace, in the bucket's order, for assembly.py."""

    rows: dict[str, pa.Array] | None
    without_output: list[str]
    rest: pa.Table


def assemble_columns(table: pa.Table, rules: AssemblyRules, trace_url_prefix: str | None) -> ColumnarAssembly:
    """`table`: whole traces sorted as the spool sorts them (span_spool.trace_tables)."""
    n = table.num_rows
    if n == 0:
        return ColumnarAssembly(None, [], table)
    keys = table.select(["trace_id", "start_time", "end_time"]).append_column(_POSITION, pa.array(np.arange(n, dtype=np.int64)))
    order = pc.sort_indices(keys, sort_keys=_CHRONOLOGICAL)
    # Spans in chronological order within each trace; a column is put in that order when used,
    # and the large texts are only taken at the rows that need them.
    column = _InOrder(table, order)

    trace_id = column["trace_id"]
    changes = _flags(pc.not_equal(trace_id.slice(0, n - 1), trace_id.slice(1)))
    changes |= _flags(pc.xor(trace_id.slice(0, n - 1).is_null(), trace_id.slice(1).is_null()))
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1])
    bounds = np.append(starts, n)
    groups = len(starts)
    group_of = np.repeat(np.arange(groups), np.diff(bounds))

    def per_trace(flags: np.ndarray) -> np.ndarray:
        return np.add.reduceat(flags.astype(np.int64), starts)

    kind = column["type"]
    is_root = ~_flags(pc.is_valid(_non_empty(column["parent_observation_id"])))
    is_generation = _flags(pc.equal(kind, "GENERATION"))
    is_retriever = _flags(pc.equal(kind, "RETRIEVER"))
    odd_root = is_root & (is_retriever | _flags(pc.is_in(kind, pa.array(["TOOL", TRACE_KIND]))))
    other = ~is_root & ~is_generation & ~is_retriever
    name = column["name"]
    # A span named `retrieval` has rules of its own; a non-ASCII name may lower-case to it.
    odd_name = _flags(pc.equal(pc.utf8_lower(name), "retrieval")) | (
        ~_flags(pc.string_is_ascii(name)) & _flags(pc.less_equal(pc.utf8_length(name), 12))
    )
    # OpenInference document attributes live in metadata keys naming retrieval.
    odd_metadata = _flags(pc.match_substring(column["metadata"], "retrieval"))
    common = (
        _flags(pc.is_valid(pc.take(trace_id, pa.array(starts))))
        & (per_trace(is_root) == 1)
        & (per_trace(is_generation) == 1)
        & (per_trace(other | odd_root | odd_name | odd_metadata) == 0)
    )

    root_at = np.full(groups, -1)
    root_at[group_of[is_root]] = np.flatnonzero(is_root)
    generation_at = np.full(groups, -1)
    generation_at[group_of[is_generation]] = np.flatnonzero(is_generation)
    traces = np.flatnonzero(common)
    root, generation = root_at[traces], generation_at[traces]
    handled = np.ones(len(traces), dtype=bool)

    def at(name: str, rows: np.ndarray) -> pa.Array:
        return column.at(name, rows)

    def first(name: str) -> pa.Array:
        """assembly._first: the root's value, else the chronologically first span's."""
        values = _non_empty(column[name])
        valid = np.flatnonzero(_flags(values.is_valid()))
        rows = np.full(len(traces), -1)
        if len(valid):
            candidate = np.searchsorted(valid, bounds[traces])
            found = candidate < len(valid)
            rows[found] = valid[candidate[found]]
            rows[rows >= bounds[traces + 1]] = -1
        rows = np.where(_flags(values.take(pa.array(root)).is_valid()), root, rows)
        return values.take(pa.array(rows, mask=rows < 0))

    timestamp = at("start_time", root)
    inside = _flags(pc.and_(pc.greater_equal(timestamp, rules.window_start), pc.less(timestamp, rules.window_end)))
    environment = first("environment")
    # Evaluator traces and environments not selected are noted by assembly.py.
    unselected = _flags(pc.starts_with(environment, LANGFUSE_INTERNAL_ENVIRONMENT))
    if rules.environments is not None:
        unselected |= ~_flags(pc.is_in(pc.fill_null(environment, "default"), pa.array(sorted(rules.environments), pa.string())))
    handled &= ~(inside & unselected)

    root_input, root_output = at("input", root), at("output", root)
    generation_input, generation_output = at("input", generation), at("output", generation)
    question, known = _question_of(root_input)
    handled &= known
    # The generation's input and output count only where the root's give no text (no input, or
    # chat messages without a user message).
    from_generation, known = _where(~_flags(question.is_valid()), _question_of, generation_input)
    question = pc.coalesce(question, from_generation)
    handled &= known
    answer, known = _text_of(root_output, (_JSON_STRING, _ANSWER_OBJECT, _ASSISTANT_MESSAGE))
    handled &= known
    from_generation, known = _where(
        ~_flags(answer.is_valid()), _text_of, generation_output, (_JSON_STRING, _ANSWER_OBJECT, _ASSISTANT_MESSAGE)
    )
    answer = pc.coalesce(answer, from_generation)
    handled &= known

    messages, known = _messages(root_input, generation_input, generation_output, at("tool_definitions", generation))
    handled &= known

    metadata_raw = first("metadata")
    contexts, known = _contexts(column, is_retriever, group_of, groups, traces, metadata_raw)
    handled &= known

    keep = handled & inside
    rest_traces = np.concatenate([np.flatnonzero(~common), traces[~handled]])
    rest = table.take(pa.array(_rows_of(np.sort(rest_traces), bounds, order)))
    if not keep.any():
        return ColumnarAssembly(None, [], rest)

    def kept(values: pa.Array) -> pa.Array:
        return values.filter(pa.array(keep))

    ids = kept(pc.take(trace_id, pa.array(starts[traces])))
    answer = kept(answer)
    with_output = _flags(answer.is_valid())
    without_output = ids.filter(pa.array(~with_output)).to_pylist()
    metadata, consent = _metadata_and_consent(
        kept(metadata_raw), kept(first("tags")), kept(environment), kept(first("release")), kept(first("version")),
        ids, rules, trace_url_prefix, with_output,
    )
    choose = pa.array(with_output)
    generation_rows = generation[keep][with_output]
    generation_start, generation_end = at("start_time", generation_rows), at("end_time", generation_rows)
    rows = {
        "id": ids.filter(choose),
        "timestamp": kept(timestamp).filter(choose),
        "user_id": kept(first("user_id")).filter(choose),
        "session_id": kept(first("session_id")).filter(choose),
        "input": kept(question).filter(choose),
        "output": answer.filter(choose),
        "model": at("model", generation_rows),
        "latency_ms": _latency_ms(generation_start, generation_end),
        "token_count": at("total_tokens", generation_rows),
        "metadata": metadata,
        "user_consent": consent,
        "messages": kept(messages).filter(choose),
        "contexts": kept(contexts).filter(choose),
    }
    return ColumnarAssembly(rows, without_output, rest)


class _InOrder:
    """The columns of `table` in the order `order` gives, each taken when first asked for."""

    def __init__(self, table: pa.Table, order: pa.Array):
        self._table, self._order, self._columns = table, order, {}

    def __getitem__(self, name: str) -> pa.Array:
        if name not in self._columns:
            self._columns[name] = self._table.column(name).take(self._order).combine_chunks()
        return self._columns[name]

    def at(self, name: str, rows: np.ndarray) -> pa.Array:
        """The column's values at these positions of the order."""
        if name in self._columns:
            return self._columns[name].take(pa.array(rows))
        return self._table.column(name).take(self._order.take(pa.array(rows))).combine_chunks()


def _flags(values) -> np.ndarray:
    """A boolean array as numpy, null as False."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _non_empty(values: pa.Array) -> pa.Array:
    """Empty texts as null (assembly.py treats "" as absent)."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)
    return values


def _rows_of(traces: np.ndarray, bounds: np.ndarray, positions: pa.Array) -> np.ndarray:
    """The original row numbers of the given traces' spans, in the original order."""
    if len(traces) == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = bounds[traces + 1] - bounds[traces]
    rows = np.repeat(bounds[traces] - np.cumsum(np.concatenate([[0], lengths[:-1]])), lengths) + np.arange(lengths.sum())
    return np.sort(positions.to_numpy()[rows])


def _unescaped(values: pa.Array) -> pa.Array:
    """JSON string contents (no \\u escapes) as the strings json.loads reads."""
    if not pc.any(pc.match_substring(values, "\\")).as_py():
        return values
    # A control character cannot be in the JSON text, so one stands for an escaped backslash.
    values = pc.replace_substring(values, "\\\\", "\x00")
    for escaped, character in _UNESCAPES:
        values = pc.replace_substring(values, escaped, character)
    return pc.replace_substring(values, "\x00", "\\")


def _where(rows: np.ndarray, text_of, values: pa.Array, *args) -> tuple[pa.Array, np.ndarray]:
    """`text_of(values, *args)` computed only at `rows`: null and known elsewhere."""
    found, known = text_of(values.filter(pa.array(rows)), *args)
    index = np.where(rows, np.cumsum(rows) - 1, len(found))
    result = pa.concat_arrays([found, pa.nulls(1, found.type)]).take(pa.array(index))
    all_known = np.ones(len(rows), dtype=bool)
    all_known[rows] = known
    return result, all_known


def _text_of(values: pa.Array, patterns: tuple) -> tuple[pa.Array, np.ndarray]:
    """The text assembly.py's _question or _answer makes of each JSON text of one of `patterns`
    (its string's content, unescaped), null for null; `known` is False elsewhere. Matching
    without capture groups keeps RE2 on its fast path."""
    values = values.cast(pa.large_string())
    result = pa.nulls(len(values), pa.large_string())
    known = ~_flags(values.is_valid())
    for whole, prefix, suffix in patterns:
        matched = _flags(pc.match_substring_regex(values, whole)) & ~known
        if matched.any():
            content = pc.utf8_slice_codeunits(pc.replace_substring_regex(values, prefix, "", max_replacements=1), 0, -suffix)
            result = pc.if_else(pa.array(matched), _unescaped(content), result)
            known |= matched
    return result, known


def _question_of(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """assembly._question of an input: a JSON string, a one-key object, or the last user message
    of simple chat messages (none: null)."""
    values = values.cast(pa.large_string())
    result, known = _text_of(values, (_JSON_STRING, _QUESTION_OBJECT))
    chat = _flags(pc.match_substring_regex(values, _SIMPLE_CHAT)) & ~known
    if chat.any():
        found = pc.extract_regex(values, _LAST_USER)
        # A chat without a user message has no question (None): known either way.
        text = _unescaped(pc.struct_field(found, "value").cast(pa.large_string()))
        result = pc.if_else(pa.array(chat), text, result)
        known |= chat
    return result, known


def _messages(root_input: pa.Array, generation_input: pa.Array, generation_output: pa.Array, tools: pa.Array
              ) -> tuple[pa.Array, np.ndarray]:
    """assembly._messages where its json.dumps changes nothing: the generation's chat messages
    written as json.dumps writes them, the answer appended; null when neither the generation's
    input nor the root's is chat messages (the root's input is a JSON string, a one-key object or
    chat messages here)."""
    generation_input = generation_input.cast(pa.large_string())
    canonical = _flags(pc.match_substring_regex(generation_input, _CANONICAL_CHAT))
    answered = _flags(pc.match_substring_regex(generation_output, _CANONICAL_ANSWER))
    ends_answered = _flags(pc.match_substring_regex(generation_input, _ENDS_WITH_ASSISTANT))
    no_tools = ~_flags(pc.is_valid(tools)) | _flags(pc.is_in(tools, pa.array(["[]", "{}"], pa.large_string())))
    appended = canonical & answered & ~ends_answered & no_tools
    # No chat at all: the generation's input is null or a JSON string, and the root's no chat.
    plain = (~_flags(generation_input.is_valid()) | _flags(pc.match_substring_regex(generation_input, _JSON_STRING[0]))) & ~_flags(
        pc.match_substring_regex(root_input, _SIMPLE_CHAT)
    )
    def text(value: str) -> pa.Scalar:
        return pa.scalar(value, pa.large_string())

    text = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(generation_input, 0, -1), text(", "), generation_output.cast(pa.large_string()), text("]"), text("")
    )
    messages = pc.if_else(pa.array(appended), text, pa.scalar(None, pa.large_string()))
    return messages, appended | plain


def _contexts(column: "_InOrder", is_retriever: np.ndarray, group_of: np.ndarray, groups: int, traces: np.ndarray,
              metadata: pa.Array) -> tuple[pa.ListArray, np.ndarray]:
    """assembly._contexts: the RETRIEVER spans' documents in chronological order, each trace's
    lists joined; null when there are none. `known` is False for traces with retriever outputs
    of another shape, and for traces without documents whose metadata may hold contexts."""
    in_traces = np.zeros(groups, dtype=bool)
    in_traces[traces] = True
    rows = np.flatnonzero(is_retriever & in_traces[group_of])
    trace_of_row = np.searchsorted(traces, group_of[rows])
    known = np.ones(len(traces), dtype=bool)
    documents = _documents(column.at("output", rows).cast(pa.large_string()))
    unknown = ~_flags(documents.is_valid())
    known[trace_of_row[unknown]] = False
    counts = np.where(unknown, 0, np.diff(documents.offsets.to_numpy()))
    per_trace = np.zeros(len(traces), dtype=np.int64)
    np.add.at(per_trace, trace_of_row, counts)
    texts = documents.filter(pa.array(~unknown)).flatten() if len(rows) else pa.array([], pa.string())
    offsets = pa.array(np.concatenate([[0], np.cumsum(per_trace)]).astype(np.int32))
    contexts = pa.ListArray.from_arrays(offsets, texts.cast(pa.string()), mask=pa.array(per_trace == 0))
    known &= ~((per_trace == 0) & _flags(pc.match_substring(metadata, 'contexts"')))
    return contexts, known


_TEXTS = pa.list_(pa.string())


def _documents(outputs: pa.Array) -> pa.ListArray:
    """Each retriever output's documents (assembly._documents of a JSON list of strings or of
    `page_content` objects; none for a null output or an empty list), read by Arrow's JSON
    reader a shape at a time; null where the output is of another shape or cannot be read so."""
    shapes = {
        "objects": _flags(pc.starts_with(outputs, "[{")),
        "texts": _flags(pc.starts_with(outputs, '["')),
    }
    # One JSON document a line: a text with a raw line break (pretty-printed) cannot be one.
    one_line = ~_flags(pc.match_substring_regex(outputs, "[\r\n]"))
    none = ~_flags(outputs.is_valid()) | _flags(pc.is_in(outputs, pa.array(["[]", "null"], outputs.type)))
    pieces = [pa.array([[], None], _TEXTS)]
    index = np.where(none, 0, 1)
    offset = len(pieces[0])
    for rows in shapes.values():
        rows = rows & one_line
        if rows.any():
            found = _parsed_documents(outputs.filter(pa.array(rows)))
            index[rows] = offset + np.arange(len(found))
            pieces.append(found)
            offset += len(found)
    return pa.concat_arrays(pieces).take(pa.array(index))


def _parsed_documents(outputs: pa.Array) -> pa.ListArray:
    lines = pc.binary_join_element_wise(*(pa.scalar(part, pa.large_string()) if isinstance(part, str) else part
                                          for part in ('{"v": ', outputs.cast(pa.large_string()), "}\n", "")))
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    data = lines.buffers()[2][int(offsets[0]) : int(offsets[-1])]
    unknown = pa.nulls(len(outputs), _TEXTS)
    try:
        parsed = pa_json.read_json(pa.BufferReader(data)).column("v").combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
        return unknown
    if len(parsed) != len(outputs):
        return unknown
    kind = parsed.type
    if pa.types.is_list(kind) and pa.types.is_string(kind.value_type):
        items = parsed.flatten()
        return _regrouped(parsed, items, _flags(items.is_valid()))
    if not (pa.types.is_list(kind) and pa.types.is_struct(kind.value_type)
            and kind.value_type.get_field_index("page_content") >= 0
            and pa.types.is_string(kind.value_type.field("page_content").type)):
        return unknown
    items = parsed.flatten()
    texts = pc.struct_field(items, "page_content")
    item_valid = _flags(items.is_valid())
    found = _regrouped(parsed, texts, item_valid)
    # An object without page_content may have another text key: assembly.py decides.
    without_text = np.flatnonzero(item_valid & ~_flags(texts.is_valid()))
    if len(without_text) == 0:
        return found
    item_offsets = parsed.offsets.to_numpy() - parsed.offsets.to_numpy()[0]
    bad = np.zeros(len(parsed), dtype=bool)
    bad[np.searchsorted(item_offsets, without_text, side="right") - 1] = True
    return pc.if_else(pa.array(bad), pa.scalar(None, _TEXTS), found)


def _regrouped(lists: pa.ListArray, items: pa.Array, keep: np.ndarray) -> pa.ListArray:
    """`items` (one per element of `lists`) grouped as `lists` groups them, without those `keep`
    drops; a null list stays null."""
    offsets = lists.offsets.to_numpy()
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    new_offsets = pa.array(kept_before[offsets - offsets[0]].astype(np.int32))
    return pa.ListArray.from_arrays(new_offsets, items.filter(pa.array(keep)).cast(pa.string()), mask=lists.is_null())


def _latency_ms(start: pa.Array, end: pa.Array) -> pa.Array:
    """round((end - start).total_seconds() * 1000), as Python computes it."""
    micros = pc.subtract(end.cast(pa.int64()), start.cast(pa.int64()))
    valid = _flags(micros.is_valid())
    values = np.round(pc.fill_null(micros, 0).to_numpy().astype(np.float64) / 1e6 * 1000)
    return pa.array(values.astype(np.int64), pa.int64(), mask=~valid)


def _metadata_and_consent(metadata, tags, environment, release, version, ids, rules, trace_url_prefix, with_output):
    """assembly.py's metadata and consent (and trace_rows' trace link) of the landed traces.

    The metadata is spans.as_metadata's JSON text. Without nested objects every `"key": ` in it
    is a top-level key (a raw quote cannot be inside a JSON string), so keys are added and
    consent read on the text; metadata with nested objects, values needing JSON escapes and
    consent values that are other numbers go through a dict per trace."""
    landed = pa.array(with_output)
    metadata, tags, ids = metadata.filter(landed), tags.filter(landed), ids.filter(landed)
    extras = {"environment": environment.filter(landed), "release": release.filter(landed), "version": version.filter(landed)}
    text = pc.fill_null(metadata.cast(pa.large_string()), "{}")
    tags = tags.cast(pa.large_string())
    one_by_one = ~_flags(pc.equal(pc.count_substring(text, "{"), 1))

    def literal(value: str) -> pa.Scalar:
        return pa.scalar(value, pa.large_string())

    def absent(key: str) -> np.ndarray:
        return ~_flags(pc.match_substring(text, f"{json.dumps(key)}: "))

    added = []
    with_tags = _flags(tags.is_valid()) & ~_flags(pc.equal(tags, "[]")) & absent("tags")
    added.append(pc.if_else(pa.array(with_tags), pc.binary_join_element_wise(literal(', "tags": '), tags, literal("")), literal("")))
    for key, values in extras.items():
        values = values.cast(pa.large_string())
        one_by_one |= _flags(pc.match_substring_regex(values, _JSON_ESCAPED))
        add = _flags(values.is_valid()) & absent(key)
        added.append(pc.if_else(pa.array(add), pc.binary_join_element_wise(literal(f', "{key}": "'), values, literal('"'), literal("")), literal("")))
    if trace_url_prefix:
        links = pc.binary_join_element_wise(literal(trace_url_prefix), ids.cast(pa.large_string()), literal(""))
        one_by_one |= _flags(pc.match_substring_regex(links, _JSON_ESCAPED))
        add = absent(TRACE_URL_KEY)
        added.append(pc.if_else(pa.array(add), pc.binary_join_element_wise(literal(f', "{TRACE_URL_KEY}": "'), links, literal('"'), literal("")), literal("")))
    added = pc.binary_join_element_wise(*added, literal(""))
    empty = _flags(pc.equal(text, "{}"))
    texts = pc.if_else(
        pa.array(empty),
        pc.binary_join_element_wise(literal("{"), pc.utf8_slice_codeunits(added, 2), literal("}"), literal("")),
        pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, -1), added, literal("}"), literal("")),
    )

    key = _re2_literal(json.dumps(rules.consent_key, ensure_ascii=False))
    consent = _flags(pc.match_substring_regex(text, rf'(?:^\{{|, ){key}: (?:true|1|"true"|"1")(?:, "|\}}$)'))
    one_by_one |= ~consent & _flags(pc.match_substring_regex(text, rf'(?:^\{{|, ){key}: -?[0-9]'))
    if rules.consent_tag is not None:
        tag = _re2_literal(json.dumps(rules.consent_tag, ensure_ascii=False))
        consent |= _flags(pc.match_substring_regex(tags, rf"(?:^\[|, ){tag}(?:, |\]$)"))
    consent = pa.array(consent)

    rows = np.flatnonzero(one_by_one)
    if len(rows):
        texts_by_dict, consents_by_dict = [], []
        picked = pa.array(rows)
        values = zip(
            metadata.take(picked).to_pylist(), tags.take(picked).to_pylist(),
            *(extras[key].take(picked).to_pylist() for key in ("environment", "release", "version")),
            ids.take(picked).to_pylist(), strict=True,
        )
        for raw, raw_tags, environment_value, release_value, version_value, trace_id in values:
            trace_tags = tags_of(raw_tags)
            parsed = trace_metadata(raw, trace_tags, environment_value, release_value, version_value)
            consents_by_dict.append(bool(has_consent(parsed, trace_tags, rules)))
            if trace_url_prefix:
                parsed.setdefault(TRACE_URL_KEY, trace_url_prefix + trace_id)
            texts_by_dict.append(json.dumps(parsed, ensure_ascii=False))
        mask = pa.array(one_by_one)
        texts = pc.replace_with_mask(texts.cast(pa.large_string()), mask, pa.array(texts_by_dict, pa.large_string()))
        consent = pc.replace_with_mask(consent, mask, pa.array(consents_by_dict, pa.bool_()))
    return texts, consent


# What json.dumps escapes with ensure_ascii=False.
_JSON_ESCAPED = r'["\\\x00-\x1f]'


def _re2_literal(text: str) -> str:
    return "".join("\\" + character if character in "\\.^$|?*+()[]{}" else character for character in text)
