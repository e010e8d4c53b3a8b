"""Scoring without an LLM endpoint: the packaged all-MiniLM-L6-v2 model stands in for the judge
and for ragas (trace_assets/scoring/offline_scores.py says how), in the local environment only."""

import time

from trace_assets.resources.judge import JudgeResource, JudgeVerdict
from trace_assets.resources.packaged_embeddings import packaged_encoder
from trace_assets.resources.ragas_scorer import RagasOutcome, RagasResource
from trace_assets.scoring.offline_scores import (
    OFFLINE_MODEL,
    OFFLINE_VERSION,
    EmbeddingCache,
    judge_score,
    ragas_metrics,
    texts_to_embed,
)

OFFLINE_SCORER = "offline_embedding"


def _embedded(requests) -> EmbeddingCache:
    cache = EmbeddingCache(packaged_encoder())
    cache.add([text for request in requests for text in texts_to_embed(*request)])
    return cache


class OfflineJudge(JudgeResource):
    """The judge's stand-in: clip((cos(question, answer) - 0.1) / 0.6, 0, 1)."""

    base_url: str = "offline"
    model: str = OFFLINE_MODEL

    @property
    def scorer(self) -> str:
        return OFFLINE_SCORER

    @property
    def prompt_version(self) -> str:
        return OFFLINE_VERSION

    def judge(self, requests, on_progress=None) -> list[JudgeVerdict]:
        started = time.perf_counter()
        cache = _embedded([(r.question, r.answer, None) for r in requests])
        verdicts = []
        for done, request in enumerate(requests, start=1):
            score, reasoning = judge_score(request.question, request.answer, cache)
            verdicts.append(JudgeVerdict(score, reasoning, None, None, 0, 0, 0.0))
            if on_progress is not None:
                on_progress(done, len(requests))
        per_trace_ms = (time.perf_counter() - started) * 1000 / max(len(requests), 1)
        for verdict in verdicts:
            verdict.latency_ms = per_trace_ms
        return verdicts


class OfflineRagas(RagasResource):
    """Ragas' stand-in: the three metrics approximated from embeddings, same reward formula."""

    llm_base_url: str = "offline"
    llm_model: str = OFFLINE_MODEL
    embeddings_base_url: str = "offline"
    embeddings_model: str = OFFLINE_MODEL

    @property
    def scorer(self) -> str:
        return OFFLINE_SCORER

    @property
    def scorer_version(self) -> str:
        return OFFLINE_VERSION

    def evaluate(self, requests, on_progress=None) -> list[RagasOutcome]:
        started = time.perf_counter()
        cache = _embedded([(r.question, r.answer, r.contexts) for r in requests])
        outcomes = []
        for done, request in enumerate(requests, start=1):
            metrics, not_applicable, reward = ragas_metrics(request.question, request.answer, request.contexts, cache)
            outcomes.append(RagasOutcome(metrics, not_applicable, {}, reward))
            if on_progress is not None:
                on_progress(done, len(requests))
        per_trace_ms = (time.perf_counter() - started) * 1000 / max(len(requests), 1)
        for outcome in outcomes:
            outcome.latency_ms = per_trace_ms
        return outcomes
