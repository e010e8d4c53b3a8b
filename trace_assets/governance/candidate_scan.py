r"""Which rows of a string column the detectors could match, and where: one Hyperscan pass over the
column's Arrow data buffer.

Hyperscan (Intel's multi-pattern SIMD regex engine, python-hyperscan) scans the bytes of every
row at once, zero-copy: one database holds every detector's candidate pattern (`Detector.scan`
for plain text, `Detector.trigger` for JSON text), and each match's end offset is mapped back to
its row through the column's offsets. A match that runs across two rows only adds a candidate;
one that begins a row needs the row's start, which a scan of the whole buffer cannot see (its `^`
is the buffer's start), so such rows are scanned again on their own.

Both databases also find decimal digits other than 0-9 (Python's `\d` takes them, the candidate
patterns' `\d` does not): such rows are returned flagged, whatever else they hold, and
redaction.py treats them as it did before Hyperscan (RE2's triggers choose the detectors).

The databases are compiled in vectored mode and each column is scanned as a vector of one buffer:
the same matches as block mode, and the only way python-hyperscan 0.6.0 (the wheel with Intel's
fat runtime that pyproject.toml pins, BENCHMARKS.md section 7) takes a buffer without a copy; its
block mode takes `bytes` only. Newer releases take the same call.

Where Hyperscan is not installed (it ships wheels for x86-64 Linux and macOS only) `available()`
is false and redaction falls back to RE2 through pyarrow (redaction.py).
"""

import hashlib
import os
import platform
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from trace_assets.governance.pii_detectors import DETECTORS

try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised on platforms without a wheel
    hyperscan = None

__all__ = ["ColumnCandidates", "available", "scan_column"]


@dataclass
class ColumnCandidates:
    """The rows of a column some detector could match: `rows` (ascending positions) and, for each,
    the detectors that could (indexes into DETECTORS) with the end offsets of their candidate
    matches in the row's UTF-8 bytes (`ends[i][detector]`, ascending; empty when not known), and
    whether the row holds decimal digits other than 0-9 (`other_digits[i]`; such a row is listed
    even without candidates)."""

    rows: list[int] = field(default_factory=list)
    ends: list[dict[int, list[int]]] = field(default_factory=list)
    other_digits: list[bool] = field(default_factory=list)


def available() -> bool:
    return hyperscan is not None


_databases: dict[bool, object] = {}
_local = threading.local()
# The id of the databases' pattern for decimal digits other than 0-9.
OTHER_DIGITS = len(DETECTORS)


def _other_digits_pattern() -> bytes:
    r"""Every character but 0-9 that Python's `\d` matches, as UTF-8 bytes; loosely (so that it
    compiles in milliseconds, not a quarter of a second): a three- or four-byte character is
    matched by its bytes but the last, so its neighbours are flagged too (no Hangul syllable or
    CJK ideograph is among them), except for full-width digits and the block beside the emoji."""
    points = np.arange(0x80, 0x110000, dtype="<u4")
    every_character = points[(points < 0xD800) | (points > 0xDFFF)].tobytes().decode("utf-32-le")
    by_prefix: dict[bytes, set[int]] = {}
    for match in re.finditer(r"\d", every_character):
        encoded = match.group(0).encode()
        if len(encoded) > 2 and encoded[:2] not in (b"\xef\xbc", b"\xf0\x9f"):
            encoded = encoded[:-1]
        by_prefix.setdefault(encoded[:-1], set()).add(encoded[-1])
    return b"|".join(
        b"".join(b"\\x%02x" % byte for byte in prefix) + b"[" + b"".join(b"\\x%02x" % byte for byte in sorted(lasts)) + b"]"
        for prefix, lasts in by_prefix.items()
    )


def _database(as_json: bool):
    if as_json not in _databases:
        _databases[as_json] = _load_or_compile([(detector.trigger if as_json else detector.text_scan).encode() for detector in DETECTORS])
    return _databases[as_json]


def _cache_folder() -> Path | None:
    """This user's folder for compiled databases (None: none usable). Compiling both takes
    0.2-0.4 s and every day lands in a process of its own; loading takes microseconds."""
    folder = Path(tempfile.gettempdir()) / f"trace_assets-hyperscan-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    # Only a folder of ours that nobody else can write to: a database is machine code's input.
    return folder if info.st_uid == os.getuid() and not info.st_mode & 0o022 else None


def _load_or_compile(patterns: list[bytes]):
    """A database of `patterns` and, last, the digits other than 0-9 (which follow Python's
    Unicode tables, hence their version in the key)."""
    versions = [hyperscan.__version__, "vectored", platform.machine(), unicodedata.unidata_version]
    key = hashlib.sha256(b"\0".join([*(version.encode() for version in versions), *patterns])).hexdigest()
    folder = _cache_folder()
    path = folder / f"{key[:32]}.hsdb" if folder is not None else None
    if path is not None and path.exists():
        try:
            return hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_VECTORED)
        except (OSError, hyperscan.error):
            pass  # unreadable, or built for another CPU: compile it again
    patterns = [*patterns, _other_digits_pattern()]
    database = hyperscan.Database(mode=hyperscan.HS_MODE_VECTORED)
    database.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns), flags=[0] * len(patterns))
    if path is not None:
        try:
            partial = path.with_name(f"{path.name}.{os.getpid()}")
            partial.write_bytes(hyperscan.dumpb(database))
            partial.replace(path)
        except OSError:
            pass  # a full or read-only disk: compiled again next time
    return database


def _scratch(as_json: bool):
    # Scratch space is per thread (Hyperscan's rule); the databases are shared.
    scratches = _local.__dict__.setdefault("scratches", {})
    if as_json not in scratches:
        scratches[as_json] = hyperscan.Scratch(_database(as_json))
    return scratches[as_json]


# Matches are kept as one number, end offset * _IDS + pattern id (one int a match is the
# cheapest thing a Python callback can keep).
_IDS = 16
assert OTHER_DIGITS < _IDS, "one more pattern id than _IDS holds: raise _IDS"


def _scan(data: memoryview, as_json: bool) -> list[int]:
    """`end * _IDS + detector` for every candidate match in `data`."""
    # python-hyperscan 0.6.0 passes a vector's lengths to Hyperscan as 32-bit numbers read from an
    # array of 64-bit ones: right for the first buffer (little-endian) as long as it is under 4 GiB.
    if len(data) >= 1 << 32:
        raise ValueError(f"a text column of {len(data):,} bytes is beyond one Hyperscan scan: land smaller batches (fetch_rows)")
    found: list[int] = []
    add = found.append
    _database(as_json).scan([data], match_event_handler=lambda detector, start, end, flags, context: add(end * _IDS + detector), scratch=_scratch(as_json))
    return found


# Bytes after which every "number starts here" look-behind of the plain-text patterns holds.
_NOT_A_LEAD = np.zeros(256, dtype=bool)
for _char in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-":
    _NOT_A_LEAD[_char] = True


def scan_column(column: pa.Array, as_json: bool) -> ColumnCandidates:
    """The candidate rows of a string or large_string column (plain text, or JSON documents)."""
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        raise TypeError(f"scan_column needs a string column, got {column.type}")
    if len(column) == 0 or column.null_count == len(column):
        return ColumnCandidates()
    offsets_buffer, data_buffer = column.buffers()[1], column.buffers()[2]
    width = np.int64 if pa.types.is_large_string(column.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width, count=len(column) + 1, offset=column.offset * np.dtype(width).itemsize).astype(np.int64)
    first, last = int(offsets[0]), int(offsets[-1])
    if last == first:
        return ColumnCandidates()
    found = np.array(_scan(memoryview(data_buffer)[first:last], as_json), dtype=np.int64)
    detectors, ends = found % _IDS, found // _IDS + first
    rows = np.searchsorted(offsets, ends - 1, side="right") - 1
    relative = ends - offsets[rows]
    if not as_json:
        # Rows that begin with a digit after a row ending in a letter, digit, "." or "-": their
        # numbers' leads (start of text) are invisible in the whole-buffer scan.
        starts, lengths = offsets[1:-1], np.diff(offsets)[1:]
        bytes_ = np.frombuffer(data_buffer, dtype=np.uint8)
        begins_with_digit = (lengths > 0) & (bytes_[np.minimum(starts, len(bytes_) - 1)] - 48 < 10)
        hidden = np.flatnonzero(begins_with_digit & _NOT_A_LEAD[bytes_[starts - 1]]) + 1
        if len(hidden):
            more = [(row, number) for row in hidden.tolist() for number in _scan(memoryview(data_buffer)[offsets[row] : offsets[row + 1]], as_json)]
            if more:
                extra_rows, numbers = np.array(more, dtype=np.int64).T
                detectors = np.concatenate([detectors, numbers % _IDS])
                relative = np.concatenate([relative, numbers // _IDS])
                rows = np.concatenate([rows, extra_rows])
    return _by_row(rows, detectors, relative)


def _by_row(rows: np.ndarray, detectors: np.ndarray, ends: np.ndarray) -> ColumnCandidates:
    """Candidates from the matches' rows, detectors and end offsets in their rows (in any order,
    repeats allowed)."""
    candidates = ColumnCandidates()
    if not len(rows):
        return candidates
    # One key a match, ordered by row, then detector, then end; repeats dropped.
    keys = np.unique((rows * _IDS + detectors) << 32 | ends)
    row_detectors, ends = (keys >> 32).tolist(), (keys & 0xFFFFFFFF).tolist()
    current_row, current = -1, None
    for row_detector, end in zip(row_detectors, ends):
        row, detector = divmod(row_detector, _IDS)
        if row != current_row:
            current_row = row
            current = {}
            candidates.rows.append(row)
            candidates.ends.append(current)
            candidates.other_digits.append(False)
        if detector == OTHER_DIGITS:
            candidates.other_digits[-1] = True
        else:
            current.setdefault(detector, []).append(end)
    return candidates
