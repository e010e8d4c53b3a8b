"""Human feedback as one table: (trace_id, origin, value, human), where `human` is the value on
[0, 1] by the configured scale, from the traces' metadata (`metadata.<key>`, e.g. the seed's
`feedback_score` of 4.5 on a five-point scale) and, where a source provides them, human annotation
scores (`read_human_scores`, e.g. Langfuse's)."""

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

# A key that JSON writers (Python's, PostgreSQL's, Langfuse's) write as itself, without escapes:
# such a key is looked for in the metadata's text before a row's metadata is parsed.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.\- ]+")
FEEDBACK_SCHEMA = pa.schema(
    [
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),  # metadata.<key> or score:<name>
        pa.field("value", pa.float64(), nullable=False),  # as given
        pa.field("human", pa.float64(), nullable=False),  # on [0, 1]
    ]
)


@dataclass(frozen=True)
class FeedbackScale:
    """Human values run from `low` (worst) to `high` (best); value v becomes
    (v - low) / (high - low). A boolean (thumbs up / down) is 1 or 0 whatever the scale."""

    low: float
    high: float

    def __post_init__(self):
        if not self.high > self.low:
            raise ValueError(f"a feedback scale needs low < high, not {self.low:g}..{self.high:g}")

    def normalised(self, value) -> tuple[float | None, float | None, str | None]:
        """(value, value on [0, 1], None), or (None, None, why it is unusable)."""
        if isinstance(value, bool):
            return float(value), float(value), None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return None, None, "not a number"
        if not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
            return None, None, "not a number"
        if not self.low <= value <= self.high:
            return None, None, f"outside the scale {self.low:g}..{self.high:g}"
        return float(value), (value - self.low) / (self.high - self.low), None


def feedback_from_metadata(traces: pa.Table, key: str, scale: FeedbackScale) -> tuple[pa.Table, Counter]:
    """Feedback from `metadata.<key>` of traces (columns `id`, `metadata_json`), and how many
    traces had the key with an unusable value, by reason."""
    return feedback_from_metadata_batches(traces.select(["id", "metadata_json"]).to_batches(max_chunksize=10_000), key, scale)


def feedback_from_metadata_batches(batches: Iterable[pa.RecordBatch], key: str, scale: FeedbackScale) -> tuple[pa.Table, Counter]:
    """`feedback_from_metadata` over record batches (columns `id`, `metadata_json`): only the rows
    whose metadata text can hold the key are parsed."""
    ids, values, humans, unusable = [], [], [], Counter()  # columns, not a dict per row: a day has 100,000s
    origin = f"metadata.{key}"
    for batch in batches:
        if _PLAIN_KEY.fullmatch(key):  # written as itself in any JSON text: rows without it have no such key
            batch = batch.filter(pc.fill_null(pc.match_substring(batch.column("metadata_json"), f'"{key}"'), False))
        for trace in batch.select(["id", "metadata_json"]).to_pylist():
            metadata = _object(trace["metadata_json"])
            if key not in metadata or metadata[key] is None:
                continue
            value, human, problem = scale.normalised(metadata[key])
            if problem:
                unusable[f"{origin}: {problem}"] += 1
            else:
                ids.append(trace["id"])
                values.append(value)
                humans.append(human)
    origins = pa.array([origin] * len(ids), pa.string())
    return pa.Table.from_arrays([pa.array(ids, pa.string()), origins, pa.array(values, pa.float64()), pa.array(humans, pa.float64())], schema=FEEDBACK_SCHEMA), unusable


def feedback_from_human_scores(scores: pa.Table, names: set[str], scale: FeedbackScale) -> tuple[pa.Table, Counter]:
    """Feedback from human scores (columns `trace_id`, `name`, `value`, and optionally Langfuse's
    `data_type`) whose name is one of `names`, on the same scale; a BOOLEAN score (1 or 0) is a
    thumbs up or down whatever the scale. A score without a number (text, a word category) is
    not feedback."""
    columns = ["trace_id", "name", "value", *(["data_type"] if "data_type" in scores.column_names else [])]
    rows, unusable = [], Counter()
    for score in scores.select(columns).to_pylist():
        if score["name"] not in names or score["value"] is None:
            continue
        origin = f"score:{score['name']}"
        given = bool(score["value"]) if score.get("data_type") == "BOOLEAN" else score["value"]
        value, human, problem = scale.normalised(given)
        if problem:
            unusable[f"{origin}: {problem}"] += 1
        else:
            rows.append({"trace_id": score["trace_id"], "origin": origin, "value": value, "human": human})
    return pa.Table.from_pylist(rows, schema=FEEDBACK_SCHEMA), unusable


def human_by_trace(feedback: pa.Table) -> dict[str, float]:
    """One human value per trace: the mean of its values on [0, 1] (several annotators, or
    metadata feedback and an annotation, count alike)."""
    sums: dict[str, float] = {}
    counts: Counter = Counter()
    for trace_id, human in zip(feedback.column("trace_id").to_pylist(), feedback.column("human").to_pylist()):
        sums[trace_id] = sums.get(trace_id, 0) + human
        counts[trace_id] += 1
    return {trace_id: total / counts[trace_id] for trace_id, total in sums.items()}


def _object(metadata_json: str | None) -> dict:
    if not metadata_json:
        return {}
    try:
        metadata = json.loads(metadata_json)
    except ValueError:
        return {}  # landing rejects such rows; nothing to read here
    return metadata if isinstance(metadata, dict) else {}
