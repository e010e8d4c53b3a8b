"""Scoring without an LLM endpoint: the packaged all-MiniLM-L6-v2 model stands in for the judge
and for ragas (trace_assets/scoring/offline_scores.py says how), in the local environment only."""

import time
from contextlib import contextmanager

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


def _score_all(requests, texts_of, score, on_progress) -> list:
    """Embed every text of `requests` once, score each, and give each result its share of the
    time as latency_ms."""
    started = time.perf_counter()
    cache = EmbeddingCache(packaged_encoder())
    cache.add([text for request in requests for text in texts_to_embed(*texts_of(request))])
    results = []
    for done, request in enumerate(requests, start=1):
        results.append(score(request, cache))
        if on_progress is not None:
            on_progress(done, len(requests))
    per_trace_ms = (time.perf_counter() - started) * 1000 / max(len(requests), 1)
    for result in results:
        result.latency_ms = per_trace_ms
    return results


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
        def verdict(request, cache: EmbeddingCache) -> JudgeVerdict:
            score, reasoning = judge_score(request.question, request.answer, cache)
            return JudgeVerdict(score, reasoning, None, None, 0, 0, 0.0)

        return _score_all(requests, lambda r: (r.question, r.answer, None), verdict, on_progress)


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

    @contextmanager
    def scoring(self):
        """Every call is `evaluate`: no worker processes to keep."""
        yield self.evaluate

    def evaluate(self, requests, on_progress=None) -> list[RagasOutcome]:
        def outcome(request, cache: EmbeddingCache) -> RagasOutcome:
            metrics, not_applicable, reward = ragas_metrics(request.question, request.answer, request.contexts, cache)
            return RagasOutcome(metrics, not_applicable, {}, reward)

        return _score_all(requests, lambda r: (r.question, r.answer, r.contexts), outcome, on_progress)
