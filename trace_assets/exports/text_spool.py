"""The texts of an export's traces, kept on local disk while the export decides and writes.

An export decides on small values (ids, prompt groups, answer hashes, rewards) but writes texts,
in an order (by prompt group) that no read of the labeled table gives: a DPO pair joins answers of
two days. Holding every conversation in memory cost ~5.6 KB a trace (5 GB for a week of 350,000
traces, bench/exports.py); here each is appended to an unnamed temporary file as JSON as the
window is read, and read back by its number when a file's rows are built. The memory cost is
8 bytes a record (its offset); the disk cost about the texts' size, gone when the spool closes.
Reads use `os.pread`, so the pages read stay in the page cache, not in the process's memory.
"""

import json
import os
import tempfile
from array import array


class TextSpool:
    def __init__(self, directory: str | None = None):
        """`directory`: where the temporary file lives (default: TMPDIR, then /tmp)."""
        self._file = tempfile.TemporaryFile(dir=directory)
        self._ends = array("q")  # record i is bytes [_ends[i-1], _ends[i])
        self._size = 0
        self._unflushed = False

    def __len__(self) -> int:
        return len(self._ends)

    def append(self, value) -> int:
        """Store `value` (anything JSON can write); returns its record number."""
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._file.write(data)
        self._size += len(data)
        self._ends.append(self._size)
        self._unflushed = True
        return len(self._ends) - 1

    def read(self, record: int):
        """The value stored as record number `record`."""
        if self._unflushed:
            self._file.flush()
            self._unflushed = False
        start = self._ends[record - 1] if record else 0
        return json.loads(os.pread(self._file.fileno(), self._ends[record] - start, start))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "TextSpool":
        return self

    def __exit__(self, *_) -> None:
        self.close()


class SpooledValues:
    """A mapping of keys to values kept in a TextSpool: `get` reads a value back from disk."""

    def __init__(self, spool: TextSpool):
        self._spool = spool
        self._records: dict[str, int] = {}

    def put(self, key: str, value) -> None:
        self._records[key] = self._spool.append(value)

    def get(self, key: str, default=None):
        record = self._records.get(key)
        return default if record is None else self._spool.read(record)
