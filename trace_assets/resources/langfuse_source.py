"""What the Langfuse sources (public API, blob export) share: how a trace becomes a row, where
consent is recorded, which environments land, and the notes of the last read."""

import hashlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pyarrow as pa
from pydantic import Field, PrivateAttr

from trace_assets.ingest.rejections import RejectionLog
from trace_assets.langfuse.assembly import CONSENT_VALUES, LANGFUSE_INTERNAL_ENVIRONMENT, AssemblyRules
from trace_assets.langfuse.span_spool import SpanSpool
from trace_assets.langfuse.trace_rows import assembled_batches
from trace_assets.resources.trace_source import TraceSource


class LangfuseSource(TraceSource):
    """A Langfuse installation as a TraceSource. Consent lives in the trace (a metadata key or a
    tag), so every trace of the window is read and handed to the landing gate, which drops those
    without consent; none is withheld at the source."""

    consent_key: str = Field(default="user_consent", description="Metadata key that records consent (TRACE_CONSENT_KEY).")
    consent_tag: str | None = Field(default=None, description="A tag that also means consent (TRACE_CONSENT_TAG).")
    environments: list[str] | None = Field(
        default=None, description="Only these Langfuse environments land (TRACE_LANGFUSE_ENVIRONMENTS); all but langfuse-* by default."
    )
    trace_grace_minutes: int = Field(
        default=60,
        ge=0,
        description="How long after a trace starts its observations may still start (and before, for clock skew): "
        "the reach around a window that is read so that a trace's spans meet.",
    )
    ui_url: str | None = Field(
        default=None,
        description="Langfuse's web address, for links to each trace (LANGFUSE_HOST); the API source's host by default.",
    )
    spool_memory_limit: str = Field(
        default="256MB",
        description="Memory for grouping spans by trace: the spool on local disk is split into buckets of a sixteenth of it.",
    )

    columnar: bool = Field(
        default=True,
        description="Read Parquet exports and assemble traces of the common shape with Arrow compute; "
        "False: a dict per span and per trace, as assembly.py's rules say (the same rows, slower).",
    )

    _notes: dict = PrivateAttr(default_factory=dict)

    def rules(self, start: datetime, end: datetime) -> AssemblyRules:
        return AssemblyRules(
            window_start=start,
            window_end=end,
            consent_key=self.consent_key,
            consent_tag=self.consent_tag,
            environments=frozenset(self.environments) if self.environments else None,
        )

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.trace_grace_minutes)

    def read_window(self, start: datetime, end: datetime, consented_only: bool) -> Iterator[pa.RecordBatch]:
        notes = RejectionLog()
        self._notes[(start, end)] = notes
        with SpanSpool(memory_limit=self.spool_memory_limit) as spool:
            project_id = self.spool_window(spool, start - self.grace, end + self.grace, start, end, notes)
            yield from assembled_batches(
                spool, self.rules(start, end), notes, self.trace_url_prefix(project_id), columnar=self.columnar
            )

    def spool_window(
        self, spool: SpanSpool, reach_start: datetime, reach_end: datetime, start: datetime, end: datetime, notes: RejectionLog
    ) -> None:
        """Append to `spool` every span that may belong to a trace starting in [start, end):
        spans starting in [reach_start, reach_end). Returns the Langfuse project id when known."""
        raise NotImplementedError

    def trace_url_prefix(self, project_id: str | None) -> str | None:
        """`{ui}/project/{id}/traces/`: where Langfuse's UI shows a trace, when both are known."""
        ui = self.ui_url or getattr(self, "host", None)
        return f"{ui.rstrip('/')}/project/{project_id}/traces/" if ui and project_id else None

    def read_notes(self, start: datetime, end: datetime) -> RejectionLog:
        return self._notes.get((start, end), RejectionLog())

    def has_consent(self, metadata: dict, tags: list[str]) -> bool:
        return metadata.get(self.consent_key) in CONSENT_VALUES or (self.consent_tag is not None and self.consent_tag in tags)

    def lands_environment(self, environment: str | None) -> bool:
        if environment and environment.startswith(LANGFUSE_INTERNAL_ENVIRONMENT):
            return False
        return not self.environments or (environment or "default") in self.environments


def fingerprints_of(identities: dict[date, list[str]]) -> dict[date, str]:
    """`"<count>:<xor of a 64-bit hash>"` of each day's identities (order-independent)."""
    fingerprints = {}
    for day, items in identities.items():
        digest = 0
        for item in items:
            digest ^= int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "big")
        fingerprints[day] = f"{len(items)}:{digest:016x}"
    return fingerprints
