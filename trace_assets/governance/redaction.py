"""Redacting personal data and secrets from landed traces: typed placeholders, counts per type.

`redact_text` works on one text; `redact_landed_batch` on a batch of landed traces (`input`,
`output`, `messages`, `contexts` and the string values of `metadata_json`). A batch is scanned
column by column in C++ (RE2, pyarrow's `match_substring_regex`) with the detectors' triggers;
only the rows a trigger hits are redacted in Python, so text without anything that looks like
personal data costs one C++ pass.

JSON columns (`metadata_json`, `messages`) are parsed and only their string values are redacted,
then written back as JSON: a Luhn-valid number stored as a JSON number stays a number (it is not
text), and the document stays valid JSON.
"""

import json
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.governance.pii_detectors import DETECTORS, REDACTION_VERSION, TRIGGER

__all__ = ["REDACTION_VERSION", "RedactionCounts", "redact_text", "redact_json_text", "redact_landed_batch"]

# Landed columns redacted as plain text, as JSON documents, and as lists of texts.
TEXT_COLUMNS = ("input", "output")
JSON_COLUMNS = ("metadata_json", "messages")
TEXT_LIST_COLUMNS = ("contexts",)

RedactionCounts = Counter  # placeholder name ("EMAIL", ...) -> number of values replaced


def redact_text(text: str, counts: Counter | None = None) -> str:
    """`text` with every detected value replaced by its placeholder (`<EMAIL>`, `<PHONE>`,
    `<CARD>`, `<KR_RRN>`, `<IP>`, `<SECRET>`); `counts` (when given) counts them by type."""
    for detector in DETECTORS:
        if not detector.could_match(text):
            continue
        pieces: list[str] = []
        last = 0
        for match in detector.pattern.finditer(text):
            if detector.valid is not None and not detector.valid(match):
                continue
            start, end = match.span(detector.group)
            pieces.append(text[last:start])
            pieces.append(f"<{detector.placeholder}>")
            last = end
            if counts is not None:
                counts[detector.placeholder] += 1
        if pieces:
            pieces.append(text[last:])
            text = "".join(pieces)
    return text


def redact_json_text(document: str, counts: Counter | None = None) -> str:
    """A JSON document with its string values (at any depth) redacted. Text that is not JSON is
    redacted as plain text."""
    try:
        value = json.loads(document)
    except ValueError:
        return redact_text(document, counts)
    return json.dumps(_redact_value(value, counts), ensure_ascii=False)


def _redact_value(value, counts):
    if isinstance(value, str):
        return redact_text(value, counts)
    if isinstance(value, list):
        return [_redact_value(item, counts) for item in value]
    if isinstance(value, dict):
        return {key: _redact_value(item, counts) for key, item in value.items()}
    return value


def redact_landed_batch(batch: pa.RecordBatch, counts: Counter, contexts_in_metadata: bool = False) -> pa.RecordBatch:
    """`batch` (landed traces) with its free text redacted; `counts` gains what was replaced.

    `contexts_in_metadata`: the contexts were lifted out of `metadata_json`, so only rows whose
    metadata the triggers hit can hold anything in their contexts (the scan is not done twice)."""
    columns = {name: batch.column(name) for name in batch.schema.names}
    hits = {name: _hits(columns[name]) for name in (*TEXT_COLUMNS, *JSON_COLUMNS) if name in columns}
    for name in TEXT_COLUMNS:
        if name in columns:
            columns[name] = _redact_rows(columns[name], hits[name], lambda text: redact_text(text, counts))
    for name in JSON_COLUMNS:
        if name in columns:
            columns[name] = _redact_rows(columns[name], hits[name], lambda text: redact_json_text(text, counts))
    for name in TEXT_LIST_COLUMNS:
        if name in columns:
            columns[name] = _redact_lists(
                columns[name], hits.get("metadata_json") if contexts_in_metadata else None, counts
            )
    return pa.RecordBatch.from_arrays([columns[name] for name in batch.schema.names], schema=batch.schema)


def _hits(column: pa.Array) -> list[int]:
    """Positions of the rows any detector's trigger matches (one C++ pass over the column)."""
    if len(column) == 0 or column.null_count == len(column):
        return []
    return pc.indices_nonzero(pc.fill_null(pc.match_substring_regex(column, TRIGGER), False)).to_pylist()


def _redact_lists(column: pa.Array, rows: list[int] | None, counts: Counter) -> pa.Array:
    """A list<string> column with its texts redacted: all of them, or those of `rows` only."""
    values = column.values
    if rows is None:
        positions = _hits(values)
    else:
        offsets = column.offsets.to_pylist()
        positions = [position for row in rows for position in range(offsets[row], offsets[row + 1])]
        positions = [p for p, hit in zip(positions, _hit_mask(values.take(pa.array(positions, pa.int64())))) if hit]
    redacted = _redact_rows(values, positions, lambda text: redact_text(text, counts))
    if redacted is values:
        return column
    lists = pa.LargeListArray if pa.types.is_large_list(column.type) else pa.ListArray
    return lists.from_arrays(column.offsets, redacted, type=column.type, mask=column.is_null())


def _hit_mask(values: pa.Array) -> list[bool]:
    if len(values) == 0:
        return []
    return pc.fill_null(pc.match_substring_regex(values, TRIGGER), False).to_pylist()


def _redact_rows(column: pa.Array, positions: list[int], redact) -> pa.Array:
    """`column` with `redact` applied to the rows at `positions` (the same array when nothing
    changed)."""
    if not positions:
        return column
    texts = column.take(pa.array(positions, pa.int64())).to_pylist()
    changed = [(position, new) for position, old in zip(positions, texts) if old is not None and (new := redact(old)) != old]
    if not changed:
        return column
    mask = [False] * len(column)
    for position, _ in changed:
        mask[position] = True
    return pc.replace_with_mask(column, pa.array(mask), pa.array([new for _, new in changed], type=column.type))
