"""Redacting personal data and secrets from landed traces: typed placeholders, counts per type.

`redact_text` works on one text; `redact_landed_batch` on a batch of landed traces (`input`,
`output`, `messages`, `contexts` and the string values of `metadata_json`). A batch is scanned
column by column in C for candidates (candidate_scan.py: one Hyperscan pass over each column's
Arrow buffer; RE2 through pyarrow where Hyperscan is not installed); only the rows with a
candidate are redacted in Python, each by the detectors that had one there, so text without
anything that looks like personal data costs one pass in C.

Each detector searches only around its candidates: every match lies in a run of the characters
the detector's matches are made of (`Detector.span`), so the exact pattern runs over the runs
holding candidates instead of the whole text, with the same matches, as long as no earlier
detector replaced something within reach; from there on the detectors run over the whole text as
`redact_text` does. Plain text is searched in the column's UTF-8 bytes (`redact_utf8_near`: the
detectors' bytes patterns, no Python strings made or encoded again) unless a detector needs the
text (`Detector.bytes_pattern` is None) or the row holds digits other than 0-9; then the row is
decoded and searched as a text (`redact_text_near`, which searches short texts whole).

JSON columns (`metadata_json`, `messages`) are parsed and only their string values are redacted,
then written back as JSON: a Luhn-valid number stored as a JSON number stays a number (it is not
text), and the document stays valid JSON.
"""

import json
import re
from collections import Counter
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.governance import candidate_scan
from trace_assets.governance.candidate_scan import ColumnCandidates
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


# What a detector's pattern reads around a match: one character before (the look-behinds), two
# after (CARD's and IP's `(?!...|[.\-]\d)`), and for IPv4 the 12 characters before (its validator
# looks for "version"). A replacement made by an earlier detector farther than that from every
# run of a later one cannot change what the later one finds.
_READS_BEFORE = 1
_READS_BEFORE_IP = 12
_READS_AFTER = 2
# The same in bytes, for the detectors' bytes patterns (redact_utf8_near): one byte before, two
# after; IPv4's validator reads 12 characters, up to 4 bytes each.
_READS_BEFORE_IP_BYTES = 4 * _READS_BEFORE_IP + 4
# Below this many characters a detector, searching the whole text costs less than finding runs
# (measured: 335 characters and two detectors, 20 us whole and 34 us by runs; 1,468 and one, 72
# and 36). The same result either way.
_WHOLE_TEXT_BELOW = 500


def redact_text_near(text: str, ends: dict[int, list[int]], counts: Counter | None = None, other_digits: bool = False) -> str:
    """`redact_text(text, counts, detectors)` for the detectors (indexes into DETECTORS) that have
    candidates in `text`, ending at the given offsets of its UTF-8 bytes: each detector searches
    only the runs of its `span` characters around its candidates, in DETECTORS' order, as long as
    no earlier detector replaced something within reach of those runs; from there on, the whole
    text as `redact_text` does. A detector searches the whole text when the text is short, when it
    has no span or no offsets; every detector does for `other_digits` (digits other than 0-9,
    which the candidates do not see)."""
    if other_digits:
        return redact_text(text, counts, [DETECTORS[index] for index in ends])
    raw = None if text.isascii() else text.encode()
    replaced: list[tuple[int, int, str]] = []  # (begin, end, placeholder) in `text`
    for position, index in enumerate(ends):
        detector = DETECTORS[index]
        offsets = ends[index]
        if detector.span is None or not offsets or len(text) < _WHOLE_TEXT_BELOW:
            if replaced:
                return redact_text(_splice(text, replaced), counts, [DETECTORS[later] for later in list(ends)[position:]])
            windows = [(0, len(text))]
        else:
            if raw is not None:
                offsets = [len(raw[:end].decode()) for end in offsets]
            runs = _runs(text, offsets, detector.span)
            if replaced:
                before = _READS_BEFORE_IP if detector.placeholder == "IP" else _READS_BEFORE
                if any(begin < stop + _READS_AFTER and end > start - before for start, stop in runs for begin, end, _ in replaced):
                    return redact_text(_splice(text, replaced), counts, [DETECTORS[later] for later in list(ends)[position:]])
            windows = [(start, stop + _READS_AFTER) for start, stop in runs]
        placeholder = f"<{detector.placeholder}>"
        for start, stop in windows:
            for match in detector.pattern.finditer(text, start, stop):
                if detector.valid is not None and not detector.valid(match):
                    continue
                begin, end = match.span(detector.group)
                replaced.append((begin, end, placeholder))
                if counts is not None:
                    counts[detector.placeholder] += 1
    return _splice(text, replaced)


def redact_utf8_near(row: bytes, ends: dict[int, list[int]], counts: Counter, other_digits: bool = False) -> bytes:
    """`redact_text_near` on a text's UTF-8 bytes, returning its redacted UTF-8 bytes (`row`
    itself when nothing was replaced). Detectors with a bytes pattern search the runs around their
    candidates in the bytes, as redact_text_near does in the text (the same values: their
    patterns match ASCII only, and a row with digits other than 0-9 is not searched so), without
    decoding the row; a row with any other detector, or with `other_digits`, is decoded and
    searched as a text."""
    searches = [] if other_digits else [_BYTES_SEARCHES[index] for index in ends]
    if other_digits or None in searches or not all(ends.values()):
        text = row.decode()
        redacted = redact_text_near(text, ends, counts, other_digits)
        return row if redacted is text else redacted.encode()
    replaced: list[tuple[int, int, bytes]] = []  # (begin, end, placeholder) in `row`
    for position, (candidate_ends, (pattern, span, placeholder, name, valid, group, before)) in enumerate(zip(ends.values(), searches)):
        in_span = row.translate(span)
        runs = _byte_runs(in_span, candidate_ends)
        if replaced and any(begin < stop + _READS_AFTER and end > start - before for start, stop in runs for begin, end, _ in replaced):
            text = _splice(row, replaced).decode()
            return redact_text(text, counts, [DETECTORS[later] for later in list(ends)[position:]]).encode()
        for start, stop in runs:
            for match in pattern.finditer(row, start, stop + _READS_AFTER):
                if valid is not None and not valid(match):
                    continue
                begin, end = match.span(group)
                replaced.append((begin, end, placeholder))
                counts[name] += 1
    return _splice(row, replaced)


def _splice(text, replaced: list[tuple[int, int, str | bytes]]):
    """`text` (str or bytes) with the ranges in `replaced` replaced (`text` itself: none)."""
    if not replaced:
        return text
    pieces = []
    last = 0
    for begin, end, placeholder in sorted(replaced):
        pieces.append(text[last:begin])
        pieces.append(placeholder)
        last = end
    pieces.append(text[last:])
    return text[:0].join(pieces)


@cache
def _span_run(span: str) -> re.Pattern:
    return re.compile(f"{span}*")


def _span_bytes(span: str) -> bytes:
    """A translation table marking the bytes of `span` (ASCII characters only) with 1."""
    character = re.compile(span.encode())
    return bytes(1 if character.fullmatch(bytes([value])) else 0 for value in range(256))


def _byte_runs(in_span: bytes, ends: list[int]) -> list[tuple[int, int]]:
    """`_runs` in UTF-8 bytes (`in_span`: the row's bytes translated by `_span_bytes`): the runs
    of the span's bytes holding the last byte of each candidate (ascending ends), in order."""
    runs: list[tuple[int, int]] = []
    for end in ends:
        inside = end - 1
        if (runs and inside < runs[-1][1]) or not in_span[inside]:
            continue
        stop = in_span.find(0, inside)
        runs.append((in_span.rfind(0, 0, inside) + 1, len(in_span) if stop < 0 else stop))
    return runs


# What redact_utf8_near needs of each detector, by index (None: the detector searches text):
# bytes pattern, span table, placeholder in bytes, placeholder's name, validator, group replaced,
# and how far before a run its pattern and validator read.
_BYTES_SEARCHES = tuple(
    None
    if detector.bytes_pattern is None
    else (
        detector.bytes_pattern,
        _span_bytes(detector.span),
        f"<{detector.placeholder}>".encode(),
        detector.placeholder,
        detector.valid,
        detector.group,
        _READS_BEFORE_IP_BYTES if detector.placeholder == "IP" else _READS_BEFORE,
    )
    for detector in DETECTORS
)


def _runs(text: str, char_ends: list[int], span: str) -> list[tuple[int, int]]:
    """The runs of `span` characters holding the last character of each candidate, in order."""
    run = _span_run(span)
    runs: list[tuple[int, int]] = []
    for end in sorted(char_ends):
        inside = end - 1
        if runs and inside < runs[-1][1]:
            continue
        stop = run.match(text, inside).end()
        if stop == inside:  # not a character of a match: no match ends here
            continue
        start = inside
        while start > 0:
            chunk = text[max(0, start - 64) : start][::-1]
            back = run.match(chunk).end()
            start -= back
            if back < len(chunk):
                break
        runs.append((start, stop))
    return runs


def redact_landed_batch(batch: pa.RecordBatch, counts: Counter, contexts_in_metadata: bool = False) -> pa.RecordBatch:
    """`batch` (landed traces) with its free text redacted; `counts` gains what was replaced.

    `contexts_in_metadata`: the contexts were lifted out of `metadata_json`, so only rows whose
    metadata has candidates can hold anything in their contexts (the scan is not done twice)."""
    columns = {name: batch.column(name) for name in batch.schema.names}
    metadata_rows = None
    for name in (*TEXT_COLUMNS, *JSON_COLUMNS):
        if name not in columns:
            continue
        as_json = name in JSON_COLUMNS
        candidates = _candidates(columns[name], as_json)
        if name == "metadata_json":
            metadata_rows = candidates.rows
        columns[name] = _redact_rows(columns[name], candidates, counts, as_json)
    for name in TEXT_LIST_COLUMNS:
        if name in columns:
            columns[name] = _redact_lists(columns[name], metadata_rows if contexts_in_metadata else None, counts)
    return pa.RecordBatch.from_arrays([columns[name] for name in batch.schema.names], schema=batch.schema)


def _candidates(column: pa.Array, as_json: bool) -> ColumnCandidates:
    if not candidate_scan.available():
        return _candidates_by_re2(column, as_json)
    found = candidate_scan.scan_column(column, as_json)
    flagged = [row for row, other_digits in zip(found.rows, found.other_digits) if other_digits]
    if not flagged:
        return found
    # Rows with digits other than 0-9 (which the candidate patterns do not see, and Python's
    # patterns do): RE2's triggers choose their detectors, as before Hyperscan.
    by_re2 = _candidates_by_re2(column.take(pa.array(flagged, pa.int64())), as_json)
    merged = {row: (ends, False) for row, ends, other_digits in zip(found.rows, found.ends, found.other_digits) if not other_digits}
    merged.update({flagged[row]: (ends, True) for row, ends in zip(by_re2.rows, by_re2.ends)})
    rows = sorted(merged)
    return ColumnCandidates(rows, [merged[row][0] for row in rows], [merged[row][1] for row in rows])


def _candidates_by_re2(column: pa.Array, as_json: bool) -> ColumnCandidates:
    """The same rows and detectors by RE2 (pyarrow), without the offsets: one pass over the
    column with every trigger, then one per detector over the rows it hit."""
    rows = _hits(column, JSON_TRIGGER if as_json else TEXT_TRIGGER)
    if not rows:
        return ColumnCandidates()
    subset = column.take(pa.array(rows, pa.int64()))
    per_detector = [
        pc.fill_null(pc.match_substring_regex(subset, detector.trigger if as_json else detector.text_trigger), False).to_pylist()
        for detector in DETECTORS
    ]
    candidates = ColumnCandidates()
    for index, row in enumerate(rows):
        detectors = {number: [] for number, hits in enumerate(per_detector) if hits[index]}
        if detectors:
            candidates.rows.append(row)
            candidates.ends.append(detectors)
            candidates.other_digits.append(True)
    return candidates


def _hits(column: pa.Array, trigger: str) -> list[int]:
    """Positions of the rows any detector's trigger matches (one C++ pass over the column)."""
    if len(column) == 0 or column.null_count == len(column):
        return []
    return pc.indices_nonzero(pc.fill_null(pc.match_substring_regex(column, trigger), False)).to_pylist()


def _redact_lists(column: pa.Array, rows: list[int] | None, counts: Counter) -> pa.Array:
    """A list<string> column with its texts redacted: all of them, or those of `rows` only."""
    # The texts of these lists only, with offsets from zero (the column may be a slice).
    first, last = column.offsets[0].as_py(), column.offsets[-1].as_py()
    values = column.values.slice(first, last - first)
    list_offsets = pc.subtract(column.offsets, pa.scalar(first, column.offsets.type))
    if rows is None:
        candidates = _candidates(values, as_json=False)
    else:
        offsets = list_offsets.to_pylist()
        positions = [position for row in rows for position in range(offsets[row], offsets[row + 1])]
        if not positions:
            return column
        found = _candidates(values.take(pa.array(positions, pa.int64())), as_json=False)
        candidates = ColumnCandidates([positions[row] for row in found.rows], found.ends, found.other_digits)
    redacted = _redact_rows(values, candidates, counts, as_json=False)
    if redacted is values:
        return column
    lists = pa.LargeListArray if pa.types.is_large_list(column.type) else pa.ListArray
    return lists.from_arrays(list_offsets, redacted, type=column.type, mask=column.is_null())


def _redact_rows(column: pa.Array, candidates: ColumnCandidates, counts: Counter, as_json: bool) -> pa.Array:
    """`column` with its candidate rows redacted (the same array when nothing changed). Plain
    text is redacted in its UTF-8 bytes, JSON documents as Python values."""
    if not candidates.rows:
        return column
    changed: list[tuple[int, bytes]] = []
    if as_json:
        texts = column.take(pa.array(candidates.rows, pa.int64())).to_pylist()
        for position, old, ends in zip(candidates.rows, texts, candidates.ends):
            if old is None or not ends:
                continue
            new = redact_json_text(old, counts, [DETECTORS[index] for index in ends])
            if new != old:
                changed.append((position, new.encode()))
    else:
        offsets, data = _offsets_and_data(column)
        starts, stops = offsets[candidates.rows].tolist(), offsets[np.asarray(candidates.rows) + 1].tolist()
        valid = column.is_valid().to_numpy(zero_copy_only=False)[candidates.rows].tolist() if column.null_count else None
        for number, (position, ends, other_digits) in enumerate(zip(candidates.rows, candidates.ends, candidates.other_digits)):
            if not ends or (valid is not None and not valid[number]):
                continue
            old = bytes(data[starts[number] : stops[number]])
            new = redact_utf8_near(old, ends, counts, other_digits)
            if new is not old:
                changed.append((position, new))
    if not changed:
        return column
    return _replace_rows(column, changed)


def _offsets_and_data(column: pa.Array) -> tuple[np.ndarray, memoryview]:
    """A string or large_string column's offsets (int64, one per row and one more) and data."""
    width = np.dtype(np.int64 if pa.types.is_large_string(column.type) else np.int32)
    offsets = np.frombuffer(column.buffers()[1], dtype=width, count=len(column) + 1, offset=column.offset * width.itemsize)
    return offsets.astype(np.int64), memoryview(column.buffers()[2] if column.buffers()[2] is not None else b"")


def _replace_rows(column: pa.Array, changed: list[tuple[int, bytes]]) -> pa.Array:
    """`column` (string or large_string) with the UTF-8 texts of some rows (ascending positions)
    replaced: its data copied once around the new texts (pyarrow's replace_with_mask takes
    twice as long, rebuilding the column row by row)."""
    width = np.dtype(np.int64 if pa.types.is_large_string(column.type) else np.int32)
    offsets, data = _offsets_and_data(column)
    lengths = np.diff(offsets)
    pieces = []
    last = int(offsets[0])
    for position, encoded in changed:
        pieces.append(data[last : int(offsets[position])])
        pieces.append(encoded)
        last = int(offsets[position + 1])
        lengths[position] = len(encoded)
    pieces.append(data[last : int(offsets[-1])])
    new_offsets = np.zeros(len(column) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    if new_offsets[-1] > np.iinfo(width).max:
        raise ValueError(
            f"redacted texts of {len(column):,} rows no longer fit a {column.type} column ({new_offsets[-1]:,} bytes): "
            "land smaller batches (fetch_rows)"
        )
    validity = pc.is_valid(column).buffers()[1] if column.null_count else None
    buffers = [validity, pa.py_buffer(new_offsets.astype(width)), pa.py_buffer(b"".join(pieces))]
    return pa.Array.from_buffers(column.type, len(column), buffers, null_count=column.null_count)
