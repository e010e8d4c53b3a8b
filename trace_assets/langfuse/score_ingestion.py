"""Posting score events through `POST /api/public/ingestion` and reading its 207 answers: which
events Langfuse took, which it refused and why, and which were never sent."""

from collections import Counter
from dataclasses import dataclass, field

from trace_assets.langfuse.api_client import LangfuseApi, LangfuseApiError, LangfuseAuthError
from trace_assets.langfuse.score_events import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, ScoreEvents, ingestion_batches

INGESTION_PATH = "/api/public/ingestion"


@dataclass(frozen=True)
class RefusedScore:
    trace_id: str
    name: str
    status: int | None
    message: str


@dataclass
class IngestionReport:
    """What one posting of a day's scores did. `accepted` counts by score name; `refused` are the
    events Langfuse answered with an error (or left out of its answer); `unsent` the events never
    posted because a request failed for good (`stopped_by` says how)."""

    accepted: Counter = field(default_factory=Counter)
    refused: list[RefusedScore] = field(default_factory=list)
    unsent: int = 0
    stopped_by: str | None = None

    @property
    def failed(self) -> int:
        return len(self.refused) + self.unsent

    def refused_by_message(self) -> dict[str, int]:
        return dict(Counter(refusal.message for refusal in self.refused))

    def samples(self, limit: int = 5) -> list[dict]:
        """The first refusals, each with its trace id, score name, status and Langfuse's message."""
        return [
            {"trace_id": r.trace_id, "name": r.name, "status": r.status, "message": r.message} for r in self.refused[:limit]
        ]

    def summary(self, limit: int = 3) -> str:
        parts = []
        if self.refused:
            firsts = "; ".join(f"trace {r.trace_id} {r.name}: {r.message}" for r in self.refused[:limit])
            parts.append(f"Langfuse refused {len(self.refused)} score(s) (first: {firsts})")
        if self.unsent:
            parts.append(f"{self.unsent} score(s) were not sent: {self.stopped_by}")
        return ". ".join(parts)


def post_score_events(
    api: LangfuseApi,
    planned: ScoreEvents,
    max_bytes: int = MAX_BATCH_BYTES,
    max_events: int = MAX_BATCH_EVENTS,
    on_batch=None,
) -> IngestionReport:
    """Posts the events batch by batch through the client (paced; 429, 5xx, timeouts retried).
    A batch whose request fails for good stops the posting: the rest is counted as unsent (a
    rerun posts everything again, updating by score id). 401/403 raise LangfuseAuthError."""
    report = IngestionReport()
    batches = list(ingestion_batches(planned.events, max_bytes, max_events))
    for number, batch in enumerate(batches):
        try:
            answer = api.post(INGESTION_PATH, {"batch": batch})
        except LangfuseAuthError:
            raise
        except LangfuseApiError as error:
            report.unsent = sum(len(rest) for rest in batches[number:])
            report.stopped_by = f"batch {number + 1} of {len(batches)} failed: {error}"
            break
        _read_answer(batch, answer, planned, report)
        if on_batch is not None:
            on_batch(number + 1, len(batches))
    return report


def _read_answer(batch: list[dict], answer, planned: ScoreEvents, report: IngestionReport) -> None:
    """Langfuse answers 207 with `successes: [{id, status}]` and `errors: [{id, status, message,
    error}]` per event id. An event in neither list counts as refused: nothing is assumed."""
    answer = answer if isinstance(answer, dict) else {}
    taken = {item.get("id") for item in answer.get("successes") or [] if isinstance(item, dict)}
    errors = {item.get("id"): item for item in answer.get("errors") or [] if isinstance(item, dict)}
    for event in batch:
        trace_id, name = planned.subjects[event["id"]]
        if event["id"] in errors:
            error = errors[event["id"]]
            report.refused.append(RefusedScore(trace_id, name, error.get("status"), _message(error)))
        elif event["id"] in taken:
            report.accepted[name] += 1
        else:
            report.refused.append(RefusedScore(trace_id, name, None, "not in Langfuse's answer (neither a success nor an error)"))


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
