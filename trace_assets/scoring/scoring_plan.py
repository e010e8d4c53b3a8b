"""Which traces of a window need scoring, and the window's score rows once they are scored."""

from dataclasses import dataclass
from datetime import timezone

import pyarrow as pa

from trace_assets.scoring.content_hash import content_hash
from trace_assets.scoring.reuse import reusable_scores

TRACE_COLUMNS = ["id", "timestamp", "input", "output", "contexts"]


@dataclass
class ScoringPlan:
    """The window's consented traces, their content hashes, and the stored scores still valid."""

    traces: list[dict]
    hashes: list[str]
    stored: dict[tuple[str, str], dict]

    @property
    def fresh(self) -> list[int]:
        """Positions of the traces that need a new score."""
        return [i for i, trace in enumerate(self.traces) if (trace["id"], self.hashes[i]) not in self.stored]

    def rows(self, new_rows: dict[int, dict]) -> list[dict]:
        """One row per trace: the new score where there is one, else the stored one."""
        return [
            new_rows[i] if i in new_rows else self.stored[(trace["id"], self.hashes[i])]
            for i, trace in enumerate(self.traces)
        ]

    def provenance(self, position: int) -> dict:
        """The columns every score row starts with."""
        trace = self.traces[position]
        return {
            "trace_id": trace["id"],
            "timestamp": trace["timestamp"],
            "date": trace["timestamp"].astimezone(timezone.utc).date(),
            "content_hash": self.hashes[position],
        }


def plan_scoring(consented_traces: pa.Table, stored_scores: pa.Table | None, identity: dict[str, str]) -> ScoringPlan:
    traces = consented_traces.select(TRACE_COLUMNS).to_pylist()
    hashes = [content_hash(t["input"], t["output"], t["contexts"]) for t in traces]
    return ScoringPlan(traces, hashes, reusable_scores(stored_scores, identity))
