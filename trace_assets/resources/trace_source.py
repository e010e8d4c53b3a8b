"""TraceSource: where traces come from, as Arrow record batches for a half-open UTC window.

What every source does (the seed's table in SQL, Langfuse's public API, its blob export): read a
window in bounded batches, fingerprint days cheaply for the late-data sensor, and say how many
traces without consent it withheld. What SQL sources share is in `sql_trace_source.py`.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import date, datetime

import dagster as dg
import pyarrow as pa

# The fingerprint of a day without traces.
EMPTY_DAY = "0:0000000000000000"


class TraceSource(dg.ConfigurableResource, ABC):
    """A source of traces in the landed shape (tables.traces.SOURCE_COLUMNS, plus optionally
    OPTIONAL_SOURCE_COLUMNS)."""

    @abstractmethod
    def read_window(self, start: datetime, end: datetime, consented_only: bool) -> Iterator[pa.RecordBatch]:
        """Traces with start <= timestamp < end and a non-null output, in batches of bounded
        size with the columns SOURCE_COLUMNS (and any of OPTIONAL_SOURCE_COLUMNS). With
        `consented_only`, a source that can tell consent before reading a trace's content does
        not read the others; one that cannot yields them with `user_consent` false, and the
        landing gate drops them."""

    @abstractmethod
    def day_fingerprints(self, start: datetime, end: datetime) -> dict[date, str]:
        """A cheap fingerprint (`"<traces>:<16 hex digits>"`) of each UTC day in [start, end)
        at the source: a late trace or a consent change alters its day's fingerprint. Days
        without traces are absent."""

    def count_without_consent(self, start: datetime, end: datetime) -> dict[str | None, int]:
        """Traces of the window without consent that `read_window(consented_only=True)` withheld,
        by model. Sources that yield every trace to the landing gate withhold none."""
        return {}

    def read_notes(self, start: datetime, end: datetime):
        """What the last `read_window(start, end, ...)` left out that is not a landing rejection
        (traces of Langfuse's own evaluators, unreadable export files, ...), as a RejectionLog;
        None when the source has nothing to say."""
        return None

    def rows_without_timestamp(self, consented_only: bool, samples: int = 5) -> tuple[int, list[str | None]]:
        """Traces with no timestamp (no day's window holds them): their count and a few ids.
        Sources whose traces always have a timestamp have none."""
        return 0, []
