"""Which traces of a window need scoring, and which stored scores still hold."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timezone

import pyarrow as pa

from trace_assets.scoring.content_hash import content_hash
from trace_assets.scoring.reuse import reusable_scores

TRACE_COLUMNS = ["id", "timestamp", "input", "output", "contexts"]
HASHED_ROWS_AT_ONCE = 10_000  # traces turned into Python objects at a time to hash them


@dataclass
class ScoringPlan:
    """The window's consented traces (Arrow), the positions of those that need a new score, and
    the stored score rows that still hold for the others."""

    traces: pa.Table
    hashes: pa.Array
    fresh: list[int]
    reused: pa.Table | None

    def fresh_traces(self, chunk_size: int) -> Iterator[list[dict]]:
        """The traces to score, `chunk_size` at a time, as dicts of TRACE_COLUMNS plus
        `content_hash`: only one chunk of them is ever held as Python objects."""
        for start in range(0, len(self.fresh), chunk_size):
            positions = pa.array(self.fresh[start : start + chunk_size], pa.int64())
            chunk = self.traces.take(positions).to_pylist()
            for trace, digest in zip(chunk, self.hashes.take(positions).to_pylist()):
                trace["content_hash"] = digest
            yield chunk


def provenance(trace: dict) -> dict:
    """The columns every score row starts with, from a trace of `ScoringPlan.fresh_traces`."""
    return {
        "trace_id": trace["id"],
        "timestamp": trace["timestamp"],
        "date": trace["timestamp"].astimezone(timezone.utc).date(),
        "content_hash": trace["content_hash"],
    }


def plan_scoring(consented_traces: pa.Table, stored_scores: pa.Table | None, identity: dict[str, str]) -> ScoringPlan:
    traces = consented_traces.select(TRACE_COLUMNS)
    # Which redaction rules the text went through (null for traces landed before redaction).
    redaction = (
        consented_traces.column("redaction")
        if "redaction" in consented_traces.column_names
        else pa.nulls(consented_traces.num_rows, pa.string())
    )
    hashed = traces.select(["input", "output", "contexts"]).append_column("redaction", redaction)
    hashes: list[str] = []
    for batch in hashed.to_batches(max_chunksize=HASHED_ROWS_AT_ONCE):
        hashes.extend(content_hash(t["input"], t["output"], t["contexts"], t["redaction"]) for t in batch.to_pylist())
    stored = reusable_scores(stored_scores, identity)
    fresh, kept = [], []
    for position, key in enumerate(zip(traces.column("id").to_pylist(), hashes)):
        if key in stored:
            kept.append(stored[key])
        else:
            fresh.append(position)
    reused = stored_scores.take(pa.array(kept, pa.int64())) if stored_scores is not None else None
    return ScoringPlan(traces, pa.array(hashes, pa.string()), fresh, reused)
