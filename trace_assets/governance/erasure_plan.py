"""Who an erasure removes: the user ids asked for, and every trace id found to be theirs."""

from dataclasses import dataclass, field

import pyarrow as pa

from trace_assets.governance.denylist import subject_hash, subject_mask
from trace_assets.governance.erasure_log import TRACE, USER


@dataclass
class ErasureTargets:
    """The user ids of an erasure request and the trace ids to remove (those given, then those
    found under the users' ids in the traces table and the lake)."""

    user_ids: frozenset[str]
    trace_ids: set[str] = field(default_factory=set)
    # Trace ids given in the request: they are denylisted on their own (a trace may have no user).
    requested_trace_ids: frozenset[str] = frozenset()
    # Keyed hashes of trace ids an interrupted erasure of the same people recorded: rows whose
    # trace id hashes to one of them are theirs, even where nothing else says so any more.
    trace_hashes: set[str] = field(default_factory=set)
    salt: str | None = None

    @classmethod
    def of(cls, user_ids, trace_ids=()) -> "ErasureTargets":
        users = frozenset(_cleaned(user_ids, "user_ids"))
        traces = frozenset(_cleaned(trace_ids, "trace_ids"))
        if not users and not traces:
            raise ValueError("an erasure names no one: give user_ids (and/or trace_ids) in the run config")
        return cls(users, set(traces), traces)

    def learn_traces(self, rows: pa.Table) -> None:
        """Add the trace ids of `rows` (an `id` or `trace_id` column) whose user is erased."""
        mask = self.mask(rows)
        if mask is None:
            return
        id_column = "id" if "id" in rows.column_names else "trace_id"
        self.trace_ids.update(value for value in rows.filter(mask).column(id_column).to_pylist() if value is not None)

    def mask(self, rows) -> pa.Array | None:
        """Which of `rows` are the erased users' (by user id or trace id); None when the rows have
        no column that says whose they are."""
        return subject_mask(rows, lambda users: [user for user in users if user in self.user_ids], self.erased_traces)

    def erased_traces(self, traces: list[str]) -> list[str]:
        """The erased ones among `traces`; those known only by hash join `trace_ids`."""
        if self.trace_hashes:
            self.trace_ids.update(t for t in traces if t not in self.trace_ids and subject_hash(self.salt or "", t) in self.trace_hashes)
        return [trace for trace in traces if trace in self.trace_ids]

    def subjects(self, salt: str) -> list[tuple[str, str]]:
        """(kind, keyed hash) of every subject the audit log records: the users and every trace id
        of theirs found (and asked for). The trace hashes let a rerun find rows that nothing but
        their trace id ties to the person any more (a score row, once the trace is gone)."""
        return [(USER, subject_hash(salt, user)) for user in sorted(self.user_ids)] + [
            (TRACE, subject_hash(salt, trace)) for trace in sorted(self.trace_ids)
        ]


def _cleaned(values, name: str) -> list[str]:
    cleaned = []
    for value in values or ():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} holds {value!r}: every entry must be a non-empty string")
        cleaned.append(value)
    return cleaned

