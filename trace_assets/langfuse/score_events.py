"""Our rewards as Langfuse scores: the `score-create` events of `POST /api/public/ingestion` for
labeled rows (README.md, "Rewards in Langfuse").

Each labeled trace gets up to three NUMERIC trace scores: `trace_assets.final_reward`,
`trace_assets.judge_score` and `trace_assets.ragas_reward`. A null value posts nothing (Langfuse
has no null score; the reason stays in the labeled table). The score id is a UUID derived from
the trace id and the score name, so posting a day again updates its scores in Langfuse instead of
adding copies. Comments say how the value came about: the judge's reasoning for judge_score, the
weighted metrics for ragas_reward, the weighted sum and the preference band for final_reward.
Metadata carries the provenance (scorer, model and prompt versions, weights, the day, the run).
"""

import json
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from trace_assets.scoring.rewards import RAGAS_WEIGHTS

SCORE_PREFIX = "trace_assets."
FINAL_REWARD, JUDGE_SCORE, RAGAS_REWARD = (f"{SCORE_PREFIX}{name}" for name in ("final_reward", "judge_score", "ragas_reward"))
SCORE_NAMES = (FINAL_REWARD, JUDGE_SCORE, RAGAS_REWARD)
# Score ids are uuid5(this namespace, "<trace id>\n<score name>"): Langfuse takes any string as a
# score id; a UUID keeps ids one fixed, familiar shape whatever the trace ids look like.
SCORE_ID_NAMESPACE = uuid.UUID("5d0f3a52-6a57-4be4-9f2e-7c1b3f1d8e21")
# Langfuse refuses ingestion bodies over 3.5 MB (413); stay well below it, since proxies in front of
# self-hosted servers often have their own, smaller limits.
MAX_BATCH_BYTES = 3_000_000
MAX_BATCH_EVENTS = 500
# A comment this long is cut (the full reasoning stays in training_data.labeled_traces), so one event
# can never outgrow a batch.
MAX_COMMENT_CHARS = 10_000
CUT_MARK = " [cut: the full text is in training_data.labeled_traces]"

LABELED_COLUMNS = [
    "trace_id", "timestamp", "final_reward", "final_reward_note", "preference", "judge_score", "judge_reasoning",
    "judge_model", "judge_prompt_version", "ragas_reward", "ragas_note", "faithfulness", "answer_relevancy",
    "context_precision", "ragas_scorer_version", "ragas_weight", "judge_weight", "labeled_at",
]


def score_id(trace_id: str, name: str) -> str:
    """The same id for the same trace and score name, in every run."""
    return str(uuid.uuid5(SCORE_ID_NAMESPACE, f"{trace_id}\n{name}"))


@dataclass
class ScoreTally:
    """What a stream of score events covered so far: the labeled rows read, and the scores left
    out by reason (`<name>: null`, `<name>: not finite`)."""

    labeled_rows: int = 0
    left_out: Counter = field(default_factory=Counter)


@dataclass
class ScoreEvents:
    """The events for a table of labeled rows, and the scores left out by reason."""

    events: list[dict] = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)


def score_events(labeled: pa.Table, now: datetime, run_id: str | None = None, environment: str | None = None) -> ScoreEvents:
    """The score-create events of every labeled row of a table in memory (see `stream_score_events`)."""
    tally = ScoreTally()
    rows = labeled.select(LABELED_COLUMNS).to_batches(max_chunksize=10_000)
    events = list(stream_score_events(rows, now, tally, run_id, environment))
    return ScoreEvents(events, tally.left_out)


def stream_score_events(
    labeled_batches: Iterable[pa.RecordBatch],
    now: datetime,
    tally: ScoreTally,
    run_id: str | None = None,
    environment: str | None = None,
) -> Iterator[dict]:
    """The score-create events of the labeled rows (`LABELED_COLUMNS` at least), a batch of rows
    at a time, counting the rows and the scores left out in `tally` as it goes. `now` is the
    events' timestamp: Langfuse keeps the version with the latest event time, so a rerun's events
    must be newer than the last run's; `run_id` (the Dagster run) goes into each score's metadata."""
    if now.tzinfo is None:  # checked at the call, before any row is read
        raise ValueError(f"now={now!r} has no time zone: Langfuse needs event timestamps with an offset")
    return _stream(labeled_batches, now, tally, run_id, environment)


def _stream(labeled_batches, now: datetime, tally: ScoreTally, run_id: str | None, environment: str | None) -> Iterator[dict]:
    for batch in labeled_batches:
        for row in batch.to_pylist():
            tally.labeled_rows += 1
            for name, value, comment, extra in _scores_of(row):
                if value is None:
                    tally.left_out[f"{name}: null"] += 1
                    continue
                if not math.isfinite(value):
                    tally.left_out[f"{name}: not finite"] += 1
                    continue
                yield _event(row, name, value, comment, {**_provenance(row, run_id), **extra}, now, environment)


def subject_of(event: dict) -> tuple[str, str]:
    """The trace id and score name a score-create event is about."""
    return event["body"]["traceId"], event["body"]["name"]


def ingestion_batches(
    events: Iterable[dict], max_bytes: int = MAX_BATCH_BYTES, max_events: int = MAX_BATCH_EVENTS
) -> Iterator[list[dict]]:
    """The events in order, read as they come, in batches whose request body (`{"batch": [...]}`
    as the HTTP client encodes it: compact UTF-8 JSON) is at most `max_bytes` and holds at most
    `max_events`. A batch closes only when the next event would not fit, so reading the events a
    few at a time makes the same requests as a list of them all."""
    batch, size = [], len(b'{"batch":[]}')
    for event in events:
        event_bytes = body_bytes(event)
        if len(b'{"batch":[]}') + event_bytes > max_bytes:
            trace_id = event["body"]["traceId"]
            raise ValueError(
                f"the {event['body']['name']} score of trace {trace_id} is {event_bytes} bytes as JSON, more than a "
                f"batch may hold ({max_bytes}): its metadata is too large for Langfuse's ingestion endpoint"
            )
        separator = 1 if batch else 0
        if batch and (size + separator + event_bytes > max_bytes or len(batch) >= max_events):
            yield batch
            batch, size, separator = [], len(b'{"batch":[]}'), 0
        batch.append(event)
        size += separator + event_bytes
    if batch:
        yield batch


def body_bytes(value) -> int:
    """Bytes of `value` as JSON the way httpx sends it (compact separators, UTF-8, no escaping)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8"))


def _scores_of(row: dict) -> list[tuple[str, float | None, str | None, dict]]:
    return [
        (FINAL_REWARD, row["final_reward"], _final_reward_comment(row), {"preference": row["preference"]}),
        (JUDGE_SCORE, row["judge_score"], _cut(row["judge_reasoning"]), {}),
        (
            RAGAS_REWARD,
            row["ragas_reward"],
            _ragas_comment(row),
            {name: row[name] for name in RAGAS_WEIGHTS} | ({"ragas_note": row["ragas_note"]} if row["ragas_note"] else {}),
        ),
    ]


def _event(row: dict, name: str, value: float, comment: str | None, metadata: dict, now: datetime, environment) -> dict:
    body = {
        "id": score_id(row["trace_id"], name),
        "traceId": row["trace_id"],
        "name": name,
        "value": float(value),
        "dataType": "NUMERIC",
        "metadata": metadata,
    }
    if comment:
        body["comment"] = comment
    if environment:
        body["environment"] = environment
    # The event id is new every time: it names this posting, while the body's id names the score.
    return {"id": str(uuid.uuid4()), "timestamp": _iso(now), "type": "score-create", "body": body}


def _provenance(row: dict, run_id: str | None) -> dict:
    provenance = {
        "producer": "trace_assets",
        "day": row["timestamp"].date().isoformat(),
        "judge_model": row["judge_model"],
        "judge_prompt_version": row["judge_prompt_version"],
        "ragas_scorer_version": row["ragas_scorer_version"],
        "ragas_weight": row["ragas_weight"],
        "judge_weight": row["judge_weight"],
        "labeled_at": _iso(row["labeled_at"]) if row["labeled_at"] else None,
    }
    if run_id:
        provenance["dagster_run_id"] = run_id
    return provenance


def _final_reward_comment(row: dict) -> str | None:
    if row["final_reward"] is None or row["ragas_reward"] is None or row["judge_score"] is None:
        return None
    ragas_weight, judge_weight = row["ragas_weight"], row["judge_weight"]
    weighted = f"{ragas_weight:g}*ragas_reward {row['ragas_reward']:.3f} + {judge_weight:g}*judge_score {row['judge_score']:.3f}"
    total = ragas_weight + judge_weight
    formula = weighted if math.isclose(total, 1.0) else f"({weighted}) / {total:g}"
    return f"{formula}; preference band: {row['preference'] or 'none'}"


def _ragas_comment(row: dict) -> str | None:
    if row["ragas_reward"] is None:
        return None
    parts = [f"{weight:g}*{name} {row[name]:.3f}" for name, weight in RAGAS_WEIGHTS.items() if row[name] is not None]
    comment = " + ".join(parts)
    return f"{comment} ({row['ragas_note']})" if row["ragas_note"] else comment


def _cut(text: str | None) -> str | None:
    if not text or len(text) <= MAX_COMMENT_CHARS:
        return text or None
    return text[: MAX_COMMENT_CHARS - len(CUT_MARK)] + CUT_MARK


def _iso(moment: datetime) -> str:
    """ISO 8601 with an offset, as Langfuse's ingestion schema requires (`datetime({offset: true})`)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
