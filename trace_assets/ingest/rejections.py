"""Counting and describing the source rows that could not be landed."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

SAMPLE_IDS_PER_REASON = 5


@dataclass
class RejectionLog:
    """Rejected rows by reason, with a few sample ids per reason for the run log and metadata.

    Reasons are short codes such as `missing_id`, `metadata_not_object` or
    `invalid_utf8:output`; README.md lists them all.
    """

    counts: Counter = field(default_factory=Counter)
    sample_ids: dict = field(default_factory=lambda: defaultdict(list))

    def add(self, reason: str, trace_id: str | None, row_number: int) -> None:
        self.counts[reason] += 1
        samples = self.sample_ids[reason]
        if len(samples) < SAMPLE_IDS_PER_REASON:
            samples.append(trace_id if trace_id else f"<no id: row {row_number + 1} of the day>")

    def add_many(self, reason: str, count: int, sample_ids: list[str | None]) -> None:
        """Rows counted elsewhere (in the database), with a few of their ids."""
        self.counts[reason] += count
        for trace_id in sample_ids[: SAMPLE_IDS_PER_REASON - len(self.sample_ids[reason])]:
            self.sample_ids[reason].append(trace_id if trace_id else "<no id>")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: "RejectionLog") -> None:
        for reason, count in other.counts.items():
            self.counts[reason] += count
            room = SAMPLE_IDS_PER_REASON - len(self.sample_ids[reason])
            self.sample_ids[reason].extend(other.sample_ids[reason][: max(room, 0)])

    def as_dict(self) -> dict:
        return {
            reason: {"rows": count, "sample_ids": list(self.sample_ids[reason])}
            for reason, count in sorted(self.counts.items())
        }

    def describe(self) -> str:
        return "; ".join(
            f"{reason}: {count} (e.g. {', '.join(self.sample_ids[reason])})"
            for reason, count in sorted(self.counts.items())
        )
