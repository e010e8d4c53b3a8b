"""Posting score events through `POST /api/public/ingestion` and reading its 207 answers: which
events Langfuse took, which it refused and why, and which were never sent."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from trace_assets.langfuse.api_client import LangfuseApi, LangfuseApiError, LangfuseAuthError
from trace_assets.langfuse.score_events import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, ingestion_batches, subject_of

INGESTION_PATH = "/api/public/ingestion"
# The refusals a report keeps whole (the rest are counted by message): enough for samples and summaries.
MAX_REFUSALS_KEPT = 100


@dataclass(frozen=True)
class RefusedScore:
    trace_id: str
    name: str
    status: int | None
    message: str


@dataclass
class IngestionReport:
    """What one posting of a day's scores did. `accepted` counts by score name; `refused_count` the
    events Langfuse answered with an error (or left out of its answer), `refused` the first
    `MAX_REFUSALS_KEPT` of them; `unsent` the events never posted because a request failed for good
    (`stopped_by` says how)."""

    accepted: Counter = field(default_factory=Counter)
    refused: list[RefusedScore] = field(default_factory=list)
    refused_count: int = 0
    unsent: int = 0
    stopped_by: str | None = None
    _refused_by_message: Counter = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return self.refused_count + self.unsent

    @property
    def events(self) -> int:
        """Every event of the posting: accepted, refused or unsent."""
        return sum(self.accepted.values()) + self.failed

    def refuse(self, refusal: RefusedScore) -> None:
        # Counted, and kept only while few: a day Langfuse refuses whole must not hold millions of them.
        self.refused_count += 1
        self._refused_by_message[refusal.message] += 1
        if len(self.refused) < MAX_REFUSALS_KEPT:
            self.refused.append(refusal)

    def refused_by_message(self) -> dict[str, int]:
        return dict(self._refused_by_message)

    def samples(self, limit: int = 5) -> list[dict]:
        """The first refusals, each with its trace id, score name, status and Langfuse's message."""
        return [
            {"trace_id": r.trace_id, "name": r.name, "status": r.status, "message": r.message} for r in self.refused[:limit]
        ]

    def summary(self, limit: int = 3) -> str:
        parts = []
        if self.refused_count:
            firsts = "; ".join(f"trace {r.trace_id} {r.name}: {r.message}" for r in self.refused[:limit])
            parts.append(f"Langfuse refused {self.refused_count} score(s) (first: {firsts})")
        if self.unsent:
            parts.append(f"{self.unsent} score(s) were not sent: {self.stopped_by}")
        return ". ".join(parts)


def post_score_events(
    api: LangfuseApi,
    events: Iterable[dict],
    max_bytes: int = MAX_BATCH_BYTES,
    max_events: int = MAX_BATCH_EVENTS,
    on_batch=None,
) -> IngestionReport:
    """Posts the events batch by batch through the client (paced; 429, 5xx, timeouts retried),
    reading them as they come: one request's worth is held at a time. `on_batch(batches posted,
    scores posted)` follows the progress. A batch whose request fails for good stops the posting:
    nothing more is posted and the rest is counted as unsent (a rerun posts everything again,
    updating by score id). 401/403 raise LangfuseAuthError."""
    report = IngestionReport()
    batches = ingestion_batches(events, max_bytes, max_events)
    posted = 0
    for number, batch in enumerate(batches, start=1):
        try:
            answer = api.post(INGESTION_PATH, {"batch": batch})
        except LangfuseAuthError:
            raise
        except LangfuseApiError as error:
            # The rest is still read (not posted) so the report can say how much of the day is missing.
            rest = [len(batch), *(len(later) for later in batches)]
            report.unsent = sum(rest)
            report.stopped_by = f"batch {number} of {number + len(rest) - 1} failed: {error}"
            break
        _read_answer(batch, answer, report)
        posted += len(batch)
        if on_batch is not None:
            on_batch(number, posted)
    return report


def _read_answer(batch: list[dict], answer, report: IngestionReport) -> None:
    """Langfuse answers 207 with `successes: [{id, status}]` and `errors: [{id, status, message,
    error}]` per event id. An event in neither list counts as refused: nothing is assumed."""
    answer = answer if isinstance(answer, dict) else {}
    taken = {item.get("id") for item in answer.get("successes") or [] if isinstance(item, dict)}
    errors = {item.get("id"): item for item in answer.get("errors") or [] if isinstance(item, dict)}
    for event in batch:
        trace_id, name = subject_of(event)
        if event["id"] in errors:
            error = errors[event["id"]]
            report.refuse(RefusedScore(trace_id, name, error.get("status"), _message(error)))
        elif event["id"] in taken:
            report.accepted[name] += 1
        else:
            report.refuse(RefusedScore(trace_id, name, None, "not in Langfuse's answer (neither a success nor an error)"))


def _message(error: dict) -> str:
    """Langfuse's message, with the first validation issue when it gives them (zod issues)."""
    message = str(error.get("message") or "no message")
    issues = error.get("error")
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        issue = issues[0]
        path = ".".join(str(part) for part in issue.get("path") or [])
        detail = ": ".join(part for part in (path, str(issue.get("message") or "")) if part)
        if detail:
            message += f" ({detail})"
    elif isinstance(issues, str) and issues:
        message += f" ({issues})"
    return message
