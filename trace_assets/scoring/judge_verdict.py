"""Reading a judge's answer: the JSON verdict, wherever the model put it, strictly validated."""

import json
import math
import re

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class VerdictError(ValueError):
    """The answer holds no usable verdict. `kind` is a short code for metadata and checks."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def parse_verdict(content: str | None) -> tuple[float, str]:
    """(score, reasoning) from a judge's message content.

    Copes with `<think>...</think>` blocks, fenced ```json blocks and prose around the object.
    A score that is missing, not a number, or outside [0, 1] is an error, never clamped."""
    text = _THINK.sub("", content or "").strip()
    if not text:
        raise VerdictError("empty_response", "the judge returned no content")
    verdict = _first_object(text)
    if verdict is None:
        raise VerdictError("unparseable_response", f"no JSON object in {text[:200]!r}")
    if "score" not in verdict:
        raise VerdictError("score_missing", f"no score in {json.dumps(verdict)[:200]}")
    score = verdict["score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise VerdictError("score_not_a_number", f"score is {score!r}")
    if not 0.0 <= score <= 1.0:
        raise VerdictError("score_out_of_range", f"score {score!r} is outside [0, 1]")
    reasoning = verdict.get("reasoning")
    return float(score), reasoning if isinstance(reasoning, str) else ""


def _first_object(text: str) -> dict | None:
    candidates = [match.group(1) for match in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in (i for i, char in enumerate(candidate) if char == "{"):
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None
