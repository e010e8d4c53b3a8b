"""Each ragas metric's own range, applied where the metric is computed (README.md, "Ragas"), so a
property of one trace's text can never reach the day's checks as an invalid score.

- `answer_relevancy` is ragas' mean cosine similarity between the question and questions an LLM
  generates from the answer (0 when the answer is noncommittal). A cosine lies in [-1, 1] and
  ragas does not clip it: for an answer unrelated to its question it comes out slightly
  negative (-0.007 measured with all-MiniLM-L6-v2). A negative cosine means no relevance, and
  "no relevance" on this metric's scale is 0; a value a rounding error above 1 is 1. The value
  ragas returned is kept as `answer_relevancy_raw`.
- `faithfulness` (supported statements / statements) and `context_precision` (average precision
  over relevance verdicts) are ratios in [0, 1] by construction: a value outside it is not a
  property of the trace but a scorer that misbehaved, so it is that trace's error, never a score.
"""

import math
from dataclasses import dataclass

ROUNDING = 1e-9  # a ratio this far outside [0, 1] is float rounding, not a wrong value


@dataclass(frozen=True)
class MetricValue:
    value: float | None  # the score in [0, 1], or None with `error`
    raw: float  # what ragas returned
    error: str | None = None


def bounded_metric(name: str, raw: float) -> MetricValue:
    """The score a finite value ragas returned for metric `name` stands for (see the module)."""
    if not math.isfinite(raw):
        return MetricValue(None, raw, f"ragas returned {raw!r}")
    if name == "answer_relevancy":
        return MetricValue(min(max(raw, 0.0), 1.0), raw)
    if -ROUNDING <= raw <= 1.0 + ROUNDING:
        return MetricValue(min(max(raw, 0.0), 1.0), raw)
    return MetricValue(None, raw, f"ragas returned {raw!r} for {name}, a ratio that cannot leave [0, 1]: a scorer fault")
