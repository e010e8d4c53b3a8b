"""RagasResource: ragas 0.4 metrics (faithfulness, answer relevancy, context precision without
reference) through an OpenAI-compatible LLM and embeddings endpoint."""

import asyncio
import contextvars
import itertools
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version

import dagster as dg
import httpx
from pydantic import Field

from trace_assets.resources.fleet_endpoint import EndpointError, FleetEndpoint
from trace_assets.resources.packaged_embeddings import ragas_embeddings
from trace_assets.scoring.context_budget import (
    EXCEEDS_JUDGE_CONTEXT,
    certainly_fits,
    exceeds_context_message,
    server_root,
)
from trace_assets.scoring.metric_ranges import bounded_metric
from trace_assets.scoring.rewards import Reward, ragas_reward


@dataclass(frozen=True)
class RagasRequest:
    question: str
    answer: str
    contexts: list[str] | None


@dataclass
class RagasOutcome:
    metrics: dict[str, float | None]
    not_applicable: dict[str, str]
    errors: dict[str, str]
    reward: Reward
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    answer_relevancy_raw: float | None = None  # ragas' own value, before bounded_metric
    error_kind: str | None = None  # set when the trace as a whole was not scored


@dataclass
class _Usage:
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0


_USAGE: contextvars.ContextVar[_Usage] = contextvars.ContextVar("ragas_usage")


async def _count_usage(response: httpx.Response) -> None:
    """httpx response hook: adds each LLM reply's token usage to the current trace's counter."""
    usage = _USAGE.get(None)
    if usage is None or not response.url.path.endswith("/chat/completions") or response.status_code != 200:
        return
    await response.aread()
    reported = json.loads(response.content).get("usage") or {}
    usage.calls += 1
    usage.tokens_in += reported.get("prompt_tokens", 0)
    usage.tokens_out += reported.get("completion_tokens", 0)


class RagasResource(dg.ConfigurableResource):
    """Ragas' LLM (RAGAS_LLM_BASE_URL, RAGAS_LLM_MODEL: by default the judge's) and embeddings
    (RAGAS_EMBEDDINGS_BASE_URL, RAGAS_EMBEDDINGS_MODEL). ragas is imported when scoring starts,
    not when the definitions load, and its telemetry is switched off."""

    llm_base_url: str = Field(description="OpenAI-compatible base URL of the LLM ragas asks.")
    llm_model: str = Field(default="qwen3-judge")
    llm_api_key: str | None = Field(default=None)
    embeddings_base_url: str = Field(
        description="OpenAI-compatible base URL serving /embeddings, or `local` for the packaged all-MiniLM-L6-v2."
    )
    embeddings_model: str = Field(default="text-embedding-3-small")
    embeddings_api_key: str | None = Field(default=None)
    strictness: int = Field(default=3, gt=0, description="Questions answer_relevancy generates per trace.")
    max_concurrency: int = Field(default=16, gt=0, description="Traces scored at once, per process.")
    processes: int = Field(
        default=1,
        gt=0,
        description="Processes scoring at once. Ragas' client side is CPU-bound (about 50 ms of CPU a "
        "trace: prompt building and validation), so one process scores ~20 traces/s however fast the "
        "fleet answers; give the run as many processes as it has cores.",
    )
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0, description="HTTP retries per request (429, 5xx, timeouts).")
    max_model_len: int = Field(
        default=8192,
        gt=0,
        description="The LLM's context in tokens (vLLM's --max-model-len). A trace whose text, with room for "
        "ragas' instructions and replies, does not fit is not sent: error `exceeds_judge_context`.",
    )

    @property
    def scorer(self) -> str:
        return "ragas"

    @property
    def scorer_version(self) -> str:
        # "-bounded": scores stored before answer_relevancy was bounded (metric_ranges.py) are
        # not reused: a stored negative relevancy would fail the day's checks on every rerun.
        return f"ragas-{version('ragas')}-bounded-strictness{self.strictness}"

    def evaluate(
        self, requests: Sequence[RagasRequest], on_progress: Callable[[int, int], None] | None = None
    ) -> list[RagasOutcome]:
        """Outcomes in the order of `requests`; `on_progress(done, total)` as they finish. With
        `processes` > 1 the requests are scored in shards across that many spawned processes, a
        few requests too: the calling process (a step's) never imports ragas (~80 MB)."""
        with self.scoring() as evaluate:
            return evaluate(requests, on_progress)

    @contextmanager
    def scoring(self) -> Iterator[Callable[..., list[RagasOutcome]]]:
        """`evaluate` for many calls (a step's chunks): the worker processes are spawned at the
        first call that needs them and kept until the block ends. Spawning them and importing
        ragas in each costs seconds; a day scored in chunks of 2,000 traces paid it per chunk."""
        os.environ["RAGAS_DO_NOT_TRACK"] = "true"  # ragas posts telemetry to an outside host otherwise
        workers = _Workers(self)
        try:
            yield workers.evaluate
        finally:
            workers.close()

    async def _evaluate_all(self, requests: list[RagasRequest], on_progress) -> list[RagasOutcome]:
        import openai
        from ragas.embeddings import OpenAIEmbeddings
        from ragas.llms import llm_factory
        from ragas.metrics.collections import AnswerRelevancy, ContextPrecisionWithoutReference, Faithfulness

        async with openai.DefaultAioHttpClient(event_hooks={"response": [_count_usage]}, timeout=self.request_timeout_s) as http:
            llm_client = openai.AsyncOpenAI(
                base_url=self.llm_base_url, api_key=self.llm_api_key or "not-needed",
                max_retries=self.max_retries, http_client=http,
            )
            embeddings_client = openai.AsyncOpenAI(
                base_url=self.embeddings_base_url, api_key=self.embeddings_api_key or "not-needed",
                max_retries=self.max_retries, http_client=http,
            )
            llm = llm_factory(self.llm_model, client=llm_client)
            if self.embeddings_base_url == "local":
                embeddings = ragas_embeddings()
            else:
                embeddings = OpenAIEmbeddings(client=embeddings_client, model=self.embeddings_model)
            metrics = {
                "faithfulness": Faithfulness(llm=llm),
                "answer_relevancy": AnswerRelevancy(llm=llm, embeddings=embeddings, strictness=self.strictness),
                "context_precision": ContextPrecisionWithoutReference(llm=llm),
            }
            outcomes: list[RagasOutcome | None] = [None] * len(requests)
            positions = iter(range(len(requests)))
            done = 0
            tokenizer = FleetEndpoint(
                server_root(self.llm_base_url), self.llm_api_key, self.request_timeout_s, self.max_retries, self.max_concurrency
            )

            async def worker() -> None:
                nonlocal done
                for position in positions:
                    over = await self._tokens_over_context(tokenizer, requests[position])
                    if over is not None:
                        outcomes[position] = _not_sent(over, self.max_model_len)
                    else:
                        outcomes[position] = await asyncio.create_task(_score_trace(metrics, requests[position]))
                    done += 1
                    if on_progress is not None:
                        on_progress(done, len(requests))

            async with tokenizer:
                await asyncio.gather(*(worker() for _ in range(min(self.max_concurrency, len(requests)))))
        return outcomes

    async def _tokens_over_context(self, tokenizer: FleetEndpoint, request: RagasRequest) -> int | None:
        """The trace's token count when it cannot fit ragas' prompts; None when it fits, or when
        the server cannot count it (no /tokenize: it is sent, and the server decides)."""
        # ragas' largest prompt (faithfulness' verdicts) holds the contexts, the answer's
        # statements (about the answer again) and the question's neighbourhood, plus instructions.
        texts = [request.question, request.answer, request.answer, *(request.contexts or [])]
        if certainly_fits(texts, RAGAS_RESERVED_TOKENS, self.max_model_len):
            return None
        try:
            count = (await tokenizer.post("/tokenize", {"model": self.llm_model, "prompt": "\n".join(texts)})).get("count")
        except EndpointError:
            return None
        return count if isinstance(count, int) and count + RAGAS_RESERVED_TOKENS > self.max_model_len else None


# ragas' own instructions and few-shot examples (about 1,500 tokens in its largest prompt,
# bench/scoring_cost.py) and its structured replies.
RAGAS_RESERVED_TOKENS = 3072


def _not_sent(prompt_tokens: int, max_model_len: int) -> RagasOutcome:
    message = exceeds_context_message(prompt_tokens, RAGAS_RESERVED_TOKENS, max_model_len, "the trace's text for ragas")
    metrics = dict.fromkeys(("faithfulness", "answer_relevancy", "context_precision"))
    return RagasOutcome(metrics, {}, {"ragas": message}, Reward(None, f"{EXCEEDS_JUDGE_CONTEXT}: not scored"),
                        error_kind=EXCEEDS_JUDGE_CONTEXT)


class _Workers:
    """A resource's worker processes, started when first needed (spawn, not fork: the step
    process runs threads, Dagster's, which fork would copy mid-state)."""

    def __init__(self, resource: RagasResource):
        self._resource = resource
        self._pool: ProcessPoolExecutor | None = None
        # The settings, not the resource: a Dagster resource does not survive pickling.
        self._settings = {name: getattr(resource, name) for name in type(resource).model_fields}

    def evaluate(self, requests: Sequence[RagasRequest], on_progress: Callable[[int, int], None] | None = None) -> list[RagasOutcome]:
        resource, requests = self._resource, list(requests)
        if resource.processes == 1 or not requests:
            return asyncio.run(resource._evaluate_all(requests, on_progress))
        shard = 16 * resource.max_concurrency  # long enough that a shard's last, thinner wave costs little
        shards = [requests[start : start + shard] for start in range(0, len(requests), shard)]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(resource.processes, mp_context=multiprocessing.get_context("spawn"))
        outcomes: list[RagasOutcome] = []
        for shard_outcomes in self._pool.map(_evaluate_shard, itertools.repeat(self._settings), shards):
            outcomes.extend(shard_outcomes)
            if on_progress is not None:
                on_progress(len(outcomes), len(requests))
        return outcomes

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _evaluate_shard(settings: dict, requests: list[RagasRequest]) -> list[RagasOutcome]:
    """One shard of a day, in a worker process."""
    return asyncio.run(RagasResource(**settings)._evaluate_all(requests, None))


async def _score_trace(metrics: dict, request: RagasRequest) -> RagasOutcome:
    """All three metrics of one trace (run in its own task, so its token counter is its own)."""
    usage = _Usage()
    _USAGE.set(usage)
    started = time.perf_counter()
    values: dict[str, float | None] = {}
    raw_relevancy: float | None = None
    not_applicable: dict[str, str] = {}
    errors: dict[str, str] = {}
    if not request.answer.strip():
        not_applicable = {name: "the answer is empty" for name in metrics}
    elif not request.contexts:
        not_applicable = {name: "no retrieved contexts" for name in ("faithfulness", "context_precision")}
    for name, metric in metrics.items():
        if name in not_applicable:
            values[name] = None
            continue
        arguments = {"user_input": request.question, "response": request.answer}
        if name != "answer_relevancy":
            arguments["retrieved_contexts"] = request.contexts
        try:
            value = (await metric.ascore(**arguments)).value
        except Exception as error:  # a metric's failure is that trace's error, never the run's
            values[name] = None
            errors[name] = f"{type(error).__name__}: {str(error)[:300]}"
            continue
        if value is None or not math.isfinite(value):
            values[name] = None
            if name == "faithfulness":
                not_applicable[name] = "the answer makes no statements to check"
            else:
                errors[name] = f"ragas returned {value!r}"
        else:
            bounded = bounded_metric(name, float(value))
            values[name] = bounded.value
            if bounded.error:
                errors[name] = bounded.error
            if name == "answer_relevancy":
                raw_relevancy = bounded.raw
    reward = ragas_reward(values, not_applicable)
    elapsed = (time.perf_counter() - started) * 1000
    return RagasOutcome(
        values, not_applicable, errors, reward, usage.calls, usage.tokens_in, usage.tokens_out, elapsed, raw_relevancy
    )

