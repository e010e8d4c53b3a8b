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

from trace_assets.governance.pii_detectors import DETECTORS, JSON_TRIGGER, REDACTION_VERSION, TEXT_TRIGGER

__all__ = ["REDACTION_VERSION", "redact_text", "redact_json_text", "redact_landed_batch"]

# Landed columns redacted as plain text, as JSON documents, and as lists of texts.
TEXT_COLUMNS = ("input", "output")
JSON_COLUMNS = ("metadata_json", "messages")
TEXT_LIST_COLUMNS = ("contexts",)

def redact_text(text: str, counts: Counter | None = None, detectors=DETECTORS) -> str:
    """`text` with every detected value replaced by its placeholder (`<EMAIL>`, `<PHONE>`,
    `<CARD>`, `<KR_RRN>`, `<IP>`, `<SECRET>`); `counts` (when given) counts them by type."""
    for detector in detectors:
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


def redact_json_text(document: str, counts: Counter | None = None, detectors=DETECTORS) -> str:
    """A JSON document with its string values (at any depth) redacted. Text that is not JSON is
    redacted as plain text."""
    try:
        value = json.loads(document)
    except ValueError:
        return redact_text(document, counts, detectors)
    return json.dumps(_redact_value(value, counts, detectors), ensure_ascii=False)


def _redact_value(value, counts, detectors):
    if isinstance(value, str):
        return redact_text(value, counts, detectors)
    if isinstance(value, list):
        return [_redact_value(item, counts, detectors) for item in value]
    if isinstance(value, dict):
        return {key: _redact_value(item, counts, detectors) for key, item in value.items()}
    return value


def redact_landed_batch(batch: pa.RecordBatch, counts: Counter, contexts_in_metadata: bool = False) -> pa.RecordBatch:
    """`batch` (landed traces) with its free text redacted; `counts` gains what was replaced.

    `contexts_in_metadata`: the contexts were lifted out of `metadata_json`, so only rows whose
    metadata the triggers hit can hold anything in their contexts (the scan is not done twice)."""
    columns = {name: batch.column(name) for name in batch.schema.names}
    metadata_hits = None
    for name in (*TEXT_COLUMNS, *JSON_COLUMNS):
        if name not in columns:
            continue
        as_json = name in JSON_COLUMNS
        hits = _hits(columns[name], JSON_TRIGGER if as_json else TEXT_TRIGGER)
        if name == "metadata_json":
            metadata_hits = hits
        columns[name] = _redact_rows(columns[name], hits, counts, as_json)
    for name in TEXT_LIST_COLUMNS:
        if name in columns:
            columns[name] = _redact_lists(columns[name], metadata_hits if contexts_in_metadata else None, counts)
    return pa.RecordBatch.from_arrays([columns[name] for name in batch.schema.names], schema=batch.schema)


def _hits(column: pa.Array, trigger: str) -> list[int]:
    """Positions of the rows any detector's trigger matches (one C++ pass over the column)."""
    if len(column) == 0 or column.null_count == len(column):
        return []
    return pc.indices_nonzero(pc.fill_null(pc.match_substring_regex(column, trigger), False)).to_pylist()


def _redact_lists(column: pa.Array, rows: list[int] | None, counts: Counter) -> pa.Array:
    """A list<string> column with its texts redacted: all of them, or those of `rows` only."""
    values = column.values
    if rows is None:
        positions = _hits(values, TEXT_TRIGGER)
    else:
        offsets = column.offsets.to_pylist()
        candidates = [position for row in rows for position in range(offsets[row], offsets[row + 1])]
        positions = [p for p in _hits(values.take(pa.array(candidates, pa.int64())), TEXT_TRIGGER)] if candidates else []
        positions = [candidates[p] for p in positions]
    redacted = _redact_rows(values, positions, counts, as_json=False)
    if redacted is values:
        return column
    lists = pa.LargeListArray if pa.types.is_large_list(column.type) else pa.ListArray
    return lists.from_arrays(column.offsets, redacted, type=column.type, mask=column.is_null())


def _redact_rows(column: pa.Array, positions: list[int], counts: Counter, as_json: bool) -> pa.Array:
    """`column` with the rows at `positions` redacted (the same array when nothing changed).
    Each row runs only the detectors whose own trigger it matches: one more C++ pass per
    detector over these rows alone, instead of every Python pattern over every hit row."""
    if not positions:
        return column
    subset = column.take(pa.array(positions, pa.int64()))
    texts = subset.to_pylist()
    per_detector = [
        pc.fill_null(pc.match_substring_regex(subset, detector.trigger if as_json else detector.text_trigger), False).to_pylist()
        for detector in DETECTORS
    ]
    redact = redact_json_text if as_json else redact_text
    changed = []
    for index, (position, old) in enumerate(zip(positions, texts)):
        detectors = [detector for detector, hits in zip(DETECTORS, per_detector) if hits[index]]
        if old is None or not detectors:
            continue
        new = redact(old, counts, detectors)
        if new != old:
            changed.append((position, new))
    if not changed:
        return column
    mask = [False] * len(column)
    for position, _ in changed:
        mask[position] = True
    return pc.replace_with_mask(column, pa.array(mask), pa.array([new for _, new in changed], type=column.type))
